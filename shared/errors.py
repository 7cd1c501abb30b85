"""One error tree for every service, translated once at each boundary.

- PermanentError: retrying cannot help (bad input, a broken rule). HTTP answers 4xx;
  a consumer dead-letters the message with the reason.
- TransientError: the world may heal (a database or broker away). HTTP answers 503;
  a consumer leaves the message unacknowledged so that it is delivered again.
"""

from __future__ import annotations

from typing import Any


class BillPortError(Exception):
    code = "error"
    http_status = 500

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


class PermanentError(BillPortError):
    code = "invalid"
    http_status = 422


class ValidationFailed(PermanentError):
    code = "validation_failed"
    http_status = 422


class BadRequest(PermanentError):
    code = "bad_request"
    http_status = 400


class NotFound(PermanentError):
    code = "not_found"
    http_status = 404


class Conflict(PermanentError):
    code = "conflict"
    http_status = 409


class Unauthorized(PermanentError):
    code = "unauthorized"
    http_status = 401


class Forbidden(PermanentError):
    code = "forbidden"
    http_status = 403


class TransientError(BillPortError):
    code = "unavailable"
    http_status = 503


def is_transient(exc: BaseException) -> bool:
    """Connection troubles with PostgreSQL or Kafka heal by themselves; retry those."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return True
    name = type(exc).__module__ + "." + type(exc).__name__
    transient_markers = (
        "asyncpg.exceptions.ConnectionDoesNotExistError",
        "asyncpg.exceptions.CannotConnectNowError",
        "asyncpg.exceptions.TooManyConnectionsError",
        "asyncpg.exceptions.AdminShutdownError",
        "asyncpg.exceptions.SerializationError",
        "asyncpg.exceptions.DeadlockDetectedError",
        "asyncpg.exceptions._base.InterfaceError",
        # a connection that broke mid-operation (PostgreSQL restarting) leaves it in a state
        # asyncpg refuses to go on from; the pool replaces it, the work is retried
        "asyncpg.exceptions._base.InternalClientError",
        "asyncpg.exceptions.ConnectionFailureError",
        "asyncpg.exceptions.PostgresConnectionError",
        "asyncpg.exceptions.InterfaceError",
        "aiokafka.errors.KafkaConnectionError",
        "aiokafka.errors.KafkaTimeoutError",
        "aiokafka.errors.NotLeaderForPartitionError",
        "aiokafka.errors.RequestTimedOutError",
    )
    return name in transient_markers
