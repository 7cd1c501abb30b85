"""Dead-letter topics (`<topic>.dlq`): a message no consumer could process, with the reason."""

from __future__ import annotations

from typing import Literal

from shared.events.envelope import Event


class DeadLetter(Event):
    type: Literal["dead_letter"] = "dead_letter"
    original_topic: str
    partition: int
    offset: int
    key: str | None
    payload: str
    """The original bytes, decoded as UTF-8 with invalid bytes replaced."""
    reason: str
    error_type: str
    consumer_group: str
    attempts: int
