"""Every error leaves every process as `{"error": {"code", "message", "fields"?}}`, with a
message we wrote: the one translation of the error tree (`shared.errors`), of validation
failures, of database refusals and of the unexpected, installed by `shared.service.build_app`
on the services and the gateway alike."""

from __future__ import annotations

import logging

import asyncpg
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from shared.api.field_errors import field_errors, stored_value_message
from shared.errors import BillPortError, is_transient

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_failed",
}


def _body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


async def on_billport_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BillPortError)
    if exc.http_status >= 500:
        log.warning("answered %s: %s", exc.http_status, exc.message)
    wait = getattr(exc, "retry_after_seconds", 1)
    headers = {"Retry-After": str(wait)} if exc.http_status in (429, 503) else None
    return JSONResponse(exc.to_body(), status_code=exc.http_status, headers=headers)


async def on_request_invalid(_: Request, exc: Exception) -> JSONResponse:
    """A body, query, path or header the route's types refused."""
    assert isinstance(exc, RequestValidationError)
    fields = field_errors(exc.errors())
    return JSONResponse(_body("validation_failed", "the request is not valid", fields), 422)


async def on_model_invalid(_: Request, exc: Exception) -> JSONResponse:
    """A model validated inside a route (a document read back, a body checked by hand)."""
    assert isinstance(exc, ValidationError)
    fields = field_errors(exc.errors())
    return JSONResponse(_body("validation_failed", "the request is not valid", fields), 422)


async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "error")
    return JSONResponse(_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)


async def on_bad_data(_: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL refused a value the edge let through (a NUL character in a text, a number out
    of range): the request was wrong, not the server."""
    return JSONResponse(_body("validation_failed", stored_value_message(exc)), 422)


async def on_broken_rule(_: Request, exc: Exception) -> JSONResponse:
    """A database rule refused the change (a check, a uniqueness the edge did not foresee):
    nothing was stored; the request has to change, not the server. The constraint's name is
    ours (written in the migrations), never PostgreSQL's text."""
    constraint = getattr(exc, "constraint_name", None) or "a data rule"
    message = f"the change breaks {constraint}; nothing was stored"
    return JSONResponse(_body("conflict", message), 409)


async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    if is_transient(exc):  # Kafka or PostgreSQL away: the caller may retry, nothing was done
        log.warning("answered 503: %s: %s", type(exc).__name__, exc)
        body = _body("unavailable", "a backing service is unavailable; retry shortly")
        return JSONResponse(body, 503, headers={"Retry-After": "1"})
    log.exception("unexpected error")
    return JSONResponse(_body("internal", "an unexpected error occurred; it was logged"), 500)


TRANSIENT_TYPES: tuple[type[Exception], ...] = (
    OSError,  # ConnectionError, TimeoutError
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
"""The exceptions `is_transient` knows, each given the handler by its own class. Starlette
answers an exception that only the catch-all `Exception` handler takes, then raises it again
to the server, which logged a traceback at ERROR for every 503 while PostgreSQL restarted: a
flood that buried the real errors. A handler of the class itself answers without raising.
(`on_unexpected` still decides: a subclass `is_transient` does not name is a logged 500.)"""


def install(app: FastAPI) -> None:
    app.add_exception_handler(BillPortError, on_billport_error)
    app.add_exception_handler(RequestValidationError, on_request_invalid)
    app.add_exception_handler(ValidationError, on_model_invalid)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(asyncpg.DataError, on_bad_data)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, on_broken_rule)
    for transient in TRANSIENT_TYPES:
        app.add_exception_handler(transient, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)
