"""What every service process is made of: settings, a pool on its own schema, the idempotent
producer, the outbox relay, a FastStream broker for its consumers, and a small FastAPI app for
its internal API, `/healthz`, `/readyz` and `/metrics`.

`build_app` wires them; nothing connects before the lifespan starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker, KafkaRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from shared import correlation
from shared.api.field_errors import stored_value_message
from shared.db.migrate import migrate
from shared.db.outbox import OutboxRelay
from shared.db.pool import open_pool
from shared.errors import BillPortError, Conflict, Forbidden, ValidationFailed
from shared.events.topics import validation_fields
from shared.internal_auth import HEADER, Caller, check_secret, verify
from shared.kafka import DeadLetterer, KafkaProducer, make_broker
from shared.logs import setup_logging
from shared.offsets import OffsetProbe
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The live resources of one service process; fields are set in the lifespan."""

    settings: ServiceSettings
    broker: KafkaBroker
    _pool: asyncpg.Pool | None = None
    _producer: KafkaProducer | None = None
    _dead_letters: DeadLetterer | None = None
    _offsets: OffsetProbe | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def offsets(self) -> OffsetProbe:
        """Kafka offsets of topics and consumer groups; connects at first use."""
        if self._offsets is None:
            self._offsets = OffsetProbe(self.settings.kafka_bootstrap, self.settings.group_id)
        return self._offsets

    def group_of(self, topic: str) -> str:
        """This service's consumer group on `topic` (see `shared.consumer.consume`)."""
        return f"{self.settings.group_id}.{topic}"

    @property
    def secret(self) -> str:
        """The internal secret that signs this service's calls and verifies its callers'."""
        return self.settings.internal_secret.get_secret_value()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database pool opens in the lifespan")
        return self._pool

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            raise RuntimeError("the producer opens in the lifespan")
        return self._producer

    def dead_letters(self) -> DeadLetterer:
        if self._dead_letters is None:
            raise RuntimeError("the producer opens in the lifespan")
        return self._dead_letters


def build_app(
    settings: ServiceSettings,
    service_dir: Path,
    routers: Callable[[Runtime], tuple[list[KafkaRouter], list[APIRouter]]],
    background: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None,
    readiness: Callable[[Runtime], Awaitable[dict[str, Any]]] | None = None,
) -> FastAPI:
    """`background`, when given, runs as a task while the service is up (a scheduler);
    `readiness` adds a `detail` to `/readyz` (alarms an operator must see, such as usage the
    service could not apply)."""
    setup_logging(settings.log_level, settings.service_name)
    runtime = Runtime(
        settings=settings,
        broker=make_broker(settings.kafka_bootstrap, f"{settings.group_id}-{settings.instance}"),
    )
    kafka_routers, api_routers = routers(runtime)
    for router in kafka_routers:
        runtime.broker.include_router(router)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_secret(runtime.secret, "BILLPORT_INTERNAL_SECRET")
        runtime._pool = await open_pool(settings)
        async with runtime.pool.acquire() as conn:
            applied = await migrate(conn, settings.db_schema, service_dir)
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))
        runtime._producer = KafkaProducer(settings.kafka_bootstrap, settings.group_id)
        await runtime.producer.start()
        runtime._dead_letters = DeadLetterer(runtime.producer, settings.group_id)
        relay = OutboxRelay(
            runtime.pool, runtime.producer, settings.db_schema, settings.outbox_batch
        )
        await relay.start()
        await runtime.broker.start()
        task = asyncio.create_task(background(runtime)) if background else None
        log.info("%s ready on %s:%s", settings.service_name, settings.http_host, settings.http_port)
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.broker.stop()
            await relay.stop()
            await runtime.producer.stop()
            if runtime._offsets is not None:
                await runtime._offsets.close()
            await runtime.pool.close()

    app = FastAPI(title=f"BillPort {settings.service_name} (internal)", lifespan=lifespan)
    app.state.runtime = runtime

    @app.middleware("http")
    async def correlate(request: Request, call_next: Any) -> Any:
        correlation.bind(request.headers.get(correlation.HEADER))
        return await call_next(request)

    app.add_exception_handler(BillPortError, _error_response)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _invalid_response)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request_response)  # type: ignore[arg-type]
    app.add_exception_handler(asyncpg.DataError, _bad_data_response)
    app.add_exception_handler(
        asyncpg.IntegrityConstraintViolationError,
        _broken_rule_response,
    )
    for api_router in api_routers:  # every internal route needs a signed credential
        app.include_router(api_router, dependencies=[Depends(internal_caller)])
    app.include_router(_ops_router(runtime, readiness))
    return app


_READ_ONLY_ROLES = ("org_user",)


async def internal_caller(request: Request) -> Caller:
    """The verified caller of an internal route (401 without a valid credential). An org user
    only reads, and a usage feed only reaches the usage service, whatever the gateway allows."""
    runtime: Runtime = request.app.state.runtime
    name = runtime.settings.service_name
    caller = verify(request.headers.get(HEADER), runtime.secret, audience=name)
    if caller.role in _READ_ONLY_ROLES and request.method not in ("GET", "HEAD"):
        raise Forbidden(f"the role {caller.role} only reads")
    if caller.role == "feed" and name != "usage":
        raise Forbidden("a usage feed only pushes usage")
    return caller


InternalCaller = Annotated[Caller, Depends(internal_caller)]
"""The caller of an internal route, from its signed credential (FastAPI verifies it once per
request however many parameters ask for it)."""


async def _error_response(_: Request, exc: BillPortError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.http_status)


async def _bad_data_response(_: Request, exc: asyncpg.DataError) -> JSONResponse:
    """A value PostgreSQL cannot take (a NUL in a text, a number out of range) is the request's
    fault: 422, not 500."""
    error = ValidationFailed(stored_value_message(exc))
    return JSONResponse(error.to_body(), status_code=error.http_status)


async def _broken_rule_response(
    _: Request, exc: asyncpg.IntegrityConstraintViolationError
) -> JSONResponse:
    """A database rule refused the change: nothing was stored; 409, not 500."""
    constraint = getattr(exc, "constraint_name", None) or "a data rule"
    error = Conflict(f"the change breaks {constraint}; nothing was stored")
    return JSONResponse(error.to_body(), status_code=error.http_status)


async def _invalid_request_response(_: Request, exc: RequestValidationError) -> JSONResponse:
    """A typed body, query or header FastAPI refused: the same shape as every other error."""
    fields = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        fields[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
    error = ValidationFailed("the request is not valid", fields=fields)
    return JSONResponse(error.to_body(), status_code=error.http_status)


async def _invalid_response(_: Request, exc: ValidationError) -> JSONResponse:
    error = ValidationFailed("the request is not valid", fields=validation_fields(exc))
    return JSONResponse(error.to_body(), status_code=error.http_status)


async def check_components(runtime: Runtime) -> dict[str, dict[str, str]]:
    async def postgres() -> bool:
        try:
            async with runtime.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
        except Exception:
            return False
        return True

    pg_ok, kafka_ok = await asyncio.gather(postgres(), runtime.producer.healthy())
    return {
        "postgres": {"state": "up" if pg_ok else "down"},
        "kafka": {"state": "up" if kafka_ok else "down"},
    }


def _ops_router(
    runtime: Runtime, readiness: Callable[[Runtime], Awaitable[dict[str, Any]]] | None
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        components = await check_components(runtime)
        healthy = all(c["state"] == "up" for c in components.values())
        body = {
            "service": runtime.settings.service_name,
            "instance": runtime.settings.instance,
            "state": "up" if healthy else "degraded",
            "components": components,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        response = await healthz()
        if readiness is None or response.status_code != 200:
            return response
        body = orjson.loads(response.body)
        try:
            body["detail"] = await readiness(runtime)
        except Exception:  # the detail is advice; its failure must not fail readiness
            log.exception("readiness detail failed")
        return JSONResponse(body)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
