"""The correlation id of the work at hand: set from the `X-Correlation-ID` header of a request
or from the event being consumed, carried into the log lines, into the events this work
produces and into the requests it makes, so one id follows a change across services."""

from __future__ import annotations

import re
from contextvars import ContextVar

HEADER = "X-Correlation-ID"
_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_IN_EVENT = re.compile(rb'"correlation_id"\s*:\s*"([^"\\]{1,100})"')


def current() -> str | None:
    return _current.get()


def bind(value: str | None) -> None:
    """Set for the rest of this task (a request handler or one delivery)."""
    _current.set(value[:100] if value else None)


def of_event(raw: bytes) -> str | None:
    """The correlation id in an event's JSON, found without parsing it all."""
    found = _IN_EVENT.search(raw[:4096])
    return found.group(1).decode() if found else None
