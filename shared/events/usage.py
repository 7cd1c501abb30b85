"""Topics of usage: what feeds push (`usage.raw`) and what the usage service announces
(`usage.recorded`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events.envelope import Event
from shared.money import GB

SERVICE_LINE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$"


class DailySnapshot(BaseModel):
    """What was known at `observed_at` about one UTC day of one service line.

    `opt_in_priority_gb` is part of `priority_gb`, never added on top of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: date
    priority_gb: GB
    opt_in_priority_gb: GB = Decimal("0")
    standard_gb: GB = Decimal("0")
    non_billable_gb: GB = Decimal("0")
    observed_at: datetime
    record_id: str | None = Field(default=None, max_length=200)

    @field_validator("observed_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-03T10:00:00Z")
        return value

    @model_validator(mode="after")
    def _opt_in_is_subset(self) -> DailySnapshot:
        if self.opt_in_priority_gb > self.priority_gb:
            raise ValueError("opt_in_priority_gb is part of priority_gb and cannot exceed it")
        return self


class UsageSnapshotsReceived(Event):
    """Topic `usage.raw`, key = service line number. Snapshots of one service line's days as a
    feed saw them; a feed that speaks Kafka publishes exactly this JSON."""

    type: Literal["usage.snapshots_received"] = "usage.snapshots_received"
    source: str = Field(default="api", max_length=100)
    service_line_number: str = Field(pattern=SERVICE_LINE_PATTERN)
    snapshots: list[DailySnapshot] = Field(min_length=1, max_length=10_000)


class DailyUsage(BaseModel):
    """The current figures of one day of one service line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: date
    priority_gb: GB
    opt_in_priority_gb: GB
    standard_gb: GB
    non_billable_gb: GB
    observed_at: datetime


class UsageRecorded(Event):
    """Topic `usage.recorded`, key = service line number: these days' figures changed."""

    type: Literal["usage.recorded"] = "usage.recorded"
    service_line_number: str = Field(pattern=SERVICE_LINE_PATTERN)
    days: list[DailyUsage] = Field(min_length=1)
