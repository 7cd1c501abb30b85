"""What every service process is made of: settings, a pool on its own schema, the idempotent
producer, the outbox relay, a FastStream broker for its consumers, and a small FastAPI app for
its internal API, `/healthz`, `/readyz` and `/metrics`.

`build_app` wires them; nothing connects before the lifespan starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from faststream.kafka import KafkaBroker, KafkaRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import correlation, http_errors
from shared.consumer_watch import ConsumerWatch
from shared.db.migrate import migrate
from shared.db.outbox import OutboxRelay
from shared.db.pool import open_pool
from shared.errors import Forbidden
from shared.internal_auth import HEADER, Caller, check_secret, verify
from shared.kafka import DeadLetterer, KafkaProducer, make_broker
from shared.logs import setup_logging
from shared.offsets import OffsetProbe
from shared.route_order import Wanted, match_first
from shared.routes import mount
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


@dataclass(frozen=True)
class Door:
    """How a process meets its HTTP callers. The services' default: an internal API whose
    every route needs a signed credential. The gateway: the public API (its routes
    authenticate bearer tokens themselves), no outbox, its own resources and health."""

    title: str = ""
    description: str = ""
    internal: bool = True
    """Every API route needs a signed internal credential (`internal_caller`)."""
    outbox: bool = True
    """Relay this schema's outbox to Kafka."""
    resources: Callable[[Runtime], AbstractAsyncContextManager[None]] | None = None
    """More resources opened in the lifespan after the pool and the producer (kept in
    `Runtime.extras`), closed before them."""
    components: Callable[[Runtime], Awaitable[dict[str, Any]]] | None = None
    """What `/healthz` names with its state; PostgreSQL and Kafka when not given."""


YOUNG_COLLECTION_THRESHOLD = 10_000
"""Net allocations of containers between two collections of the youngest generation (Python's
default: 700). A request allocates a few hundred and frees them by reference counting as it
ends; at 700 a collection started inside most requests and walked what they held: in the
gateway, 516 young collections (0.52 s, ~1 ms each) during 2,000 bench postings, none at
10,000. Cycles are still collected; only less often."""


def freeze_startup_objects() -> None:
    """Move what startup made (modules, models, routes: ~100,000 objects) out of the garbage
    collector's sight. It lives as long as the process, yet every full collection walked it
    again: 25-65 ms each time, inside whichever request or batch was running. Then collect the
    young generation less often (YOUNG_COLLECTION_THRESHOLD)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def build_app(
    settings: ServiceSettings,
    service_dir: Path,
    routers: Callable[[Runtime], tuple[list[KafkaRouter], list[APIRouter]]],
    background: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None,
    readiness: Callable[[Runtime], Awaitable[dict[str, Any]]] | None = None,
    door: Door = Door(),
    matched_first: Sequence[Wanted] = (),
) -> FastAPI:
    """`background`, when given, runs as a task while the service is up (a scheduler);
    `readiness` adds a `detail` to `/readyz` (alarms an operator must see, such as usage the
    service could not apply); `matched_first`, the routes answered most (`route_order`)."""
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
        runtime._producer = KafkaProducer(
            settings.kafka_bootstrap, settings.group_id, linger_ms=0 if door.outbox else 5
        )
        await runtime.producer.start()
        runtime._dead_letters = DeadLetterer(runtime.producer, settings.group_id)
        async with contextlib.AsyncExitStack() as stack:
            if door.outbox:
                relay = OutboxRelay(
                    runtime.pool, runtime.producer, settings.db_schema, settings.outbox_batch
                )
                await relay.start()
                stack.push_async_callback(relay.stop)
            if door.resources:
                await stack.enter_async_context(door.resources(runtime))
            if kafka_routers:
                await runtime.broker.start()
                stack.push_async_callback(runtime.broker.stop)
                watch = ConsumerWatch(
                    lambda: list(runtime.broker.subscribers),
                    runtime.offsets,
                    settings.consumer_stall_seconds,
                )
                stack.push_async_callback(_cancel, asyncio.create_task(watch.run()))
            if background:
                stack.push_async_callback(_cancel, asyncio.create_task(background(runtime)))
            freeze_startup_objects()
            log.info(
                "%s ready on %s:%s", settings.service_name, settings.http_host, settings.http_port
            )
            try:
                yield
            finally:
                await stack.aclose()
                await runtime.producer.stop()
                if runtime._offsets is not None:
                    await runtime._offsets.close()
                await runtime.pool.close()

    app = FastAPI(
        title=door.title or f"BillPort {settings.service_name} (internal)",
        description=door.description,
        version="1",
        lifespan=lifespan,
        # No OpenTelemetry here (metrics are Prometheus' at /metrics): FastAPI otherwise asks
        # on every request whether a tracer, meter or logger provider has been set (~1.5 %
        # of the gateway's CPU under the payments bench).
        telemetry=NO_TELEMETRY,
    )
    app.state.runtime = runtime
    app.add_middleware(_Correlate)
    http_errors.install(app)
    guard = [Depends(internal_caller)] if door.internal else []
    for api_router in api_routers:  # an internal route needs a signed credential
        mount(app, api_router, guard)
    mount(app, _ops_router(runtime, readiness, door))
    match_first(app, matched_first)
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class _Correlate:
    """The request's correlation id (the caller's, or a new one): logged on every line, passed
    on to the services and written into the events the request causes; echoed back.

    Pure ASGI: Starlette's BaseHTTPMiddleware (`app.middleware("http")`) runs the rest of the
    app in a task of its own behind memory streams, a cost on every request of every service."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = (Headers(scope=scope).get(correlation.HEADER) or uuid.uuid4().hex)[:100]
        scope.setdefault("state", {})["correlation_id"] = cid  # request.state.correlation_id
        correlation.bind(cid)

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[correlation.HEADER] = cid
            await send(message)

        await self.app(scope, receive, echo)


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
    runtime: Runtime,
    readiness: Callable[[Runtime], Awaitable[dict[str, Any]]] | None,
    door: Door,
) -> APIRouter:
    router = APIRouter(include_in_schema=not door.internal, tags=["operations"])
    components_of = door.components or check_components

    @router.get("/healthz", summary="Health of this process and what it depends on")
    async def healthz() -> JSONResponse:
        components = await components_of(runtime)
        healthy = all(c["state"] == "up" for c in components.values())
        body = {
            "service": runtime.settings.service_name,
            "instance": runtime.settings.instance,
            "state": "up" if healthy else "degraded",
            "components": components,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/readyz", summary="Ready to serve: the same checks, with alarms in `detail`")
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

    @router.get("/metrics", summary="Prometheus metrics of this process")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
