"""The envelope every event carries, and JSON (de)serialisation without floats."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import ErrorDetails

from shared.api import field_errors
from shared.correlation import current


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: frozen, strict about unknown fields, always UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    occurred_at: datetime = Field(default_factory=utc_now)
    schema_version: int = 1
    correlation_id: str | None = Field(default_factory=current)

    @field_validator("occurred_at")
    @classmethod
    def _must_be_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone (UTC)")
        return value.astimezone(UTC)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def envelope_json(event_type: str, correlation_id: str | None, **body: Any) -> bytes:
    """An event's JSON built without a model, for hot paths; the caller's model documents the
    schema and a unit test checks that the bytes validate as that model."""
    return orjson.dumps(
        {
            "event_id": str(uuid4()),
            "type": event_type,
            "occurred_at": utc_now(),
            "schema_version": 1,
            "correlation_id": correlation_id or current(),
            **body,
        }
    )


# A JSON number (after `:`, `[` or `,`) with 16 or more digits: more than a float holds exactly.
_LONG_NUMBER = re.compile(rb"[:\[,]\s*-?(?:\d\.?){16,}")


def has_long_number(raw: bytes) -> bool:
    """Whether `raw` holds a number that must not pass through a float (see `loads_exact`)."""
    return _LONG_NUMBER.search(raw) is not None


class PlainDecimal(Decimal):
    """A Decimal read from JSON that reads back as plain decimal text: a feed may write
    `1E-7` or `2.5e-3`, and models that take numbers as text (`coerce_numbers_to_str`) must
    see `0.0000001` and `0.0025`, the same value in the form the GB pattern takes."""

    __slots__ = ()

    def __str__(self) -> str:
        return format(self, "f")


def loads_exact(raw: bytes | str) -> Any:
    """JSON to Python with every number that has a fraction or an exponent as an exact
    `PlainDecimal`, never float."""
    return json.loads(raw, parse_float=PlainDecimal)


def error_message(err: ErrorDetails) -> str:
    """A validation error as a person should read it, in our words (`shared.api.field_errors`)."""
    return field_errors.message(err)
