"""Topics of usage: what feeds push (`usage.raw`) and what the usage service announces
(`usage.recorded`).

Both topics are keyed by service line number. A message may carry several service lines when
they all hash to the same partition (`shared.kafka.partition_for`): the gateway groups a pushed
batch that way, so a thousand records cost a handful of messages while every service line's
records stay in order on its one partition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NotRequired, TypeVar, cast

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict

from shared.api.types import RecordDay
from shared.events.envelope import Event, envelope_json, error_message
from shared.money import GBText

SERVICE_LINE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$"
MAX_RECORDS_PER_MESSAGE = 10_000
MAX_DAYS_PER_ANNOUNCEMENT = 5_000
"""Bounds a `usage.recorded` message (about 350 bytes a day) well below the 8 MiB message limit."""


class DailySnapshot(BaseModel):
    """What was known at `observed_at` about one UTC day of one service line.

    `opt_in_priority_gb` is part of `priority_gb`, never added on top of it."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    date: RecordDay
    priority_gb: GBText
    opt_in_priority_gb: GBText = "0"
    standard_gb: GBText = "0"
    non_billable_gb: GBText = "0"
    observed_at: AwareDatetime
    record_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _opt_in_is_subset(self) -> DailySnapshot:
        if self.opt_in_priority_gb != "0" and Decimal(self.opt_in_priority_gb) > Decimal(
            self.priority_gb
        ):
            raise ValueError("opt_in_priority_gb is part of priority_gb and cannot exceed it")
        return self


class LineSnapshot(DailySnapshot):
    """A snapshot naming its service line: one record of `POST /usage/records`."""

    service_line_number: str = Field(pattern=SERVICE_LINE_PATTERN)


@with_config(ConfigDict(extra="forbid", coerce_numbers_to_str=True))
class LineSnapshotDict(TypedDict):
    """`LineSnapshot` as a plain dict, for validating a million records without building a
    model for each (the gateway's fast path). Same fields and checks but the opt-in rule, which
    `opt_in_exceeds_priority` applies; a unit test keeps the two in step."""

    service_line_number: Annotated[str, Field(pattern=SERVICE_LINE_PATTERN)]
    date: RecordDay
    priority_gb: GBText
    opt_in_priority_gb: NotRequired[GBText]
    standard_gb: NotRequired[GBText]
    non_billable_gb: NotRequired[GBText]
    observed_at: AwareDatetime
    record_id: NotRequired[Annotated[str, Field(max_length=200)] | None]


def opt_in_exceeds_priority(record: LineSnapshotDict) -> bool:
    opt_in = record.get("opt_in_priority_gb", "0")
    return opt_in != "0" and Decimal(opt_in) > Decimal(record["priority_gb"])


DAY_FIELDS = (  # a day's fields (`LineDailyUsage` but the deprecated ones), in wire order
    "service_line_number",
    "date",
    "priority_gb",
    "opt_in_priority_gb",
    "standard_gb",
    "non_billable_gb",
    "observed_at",
)


class DayColumns(BaseModel):
    """Schema 2 of `usage.raw` and `usage.recorded`: the seven fields of the days, each one
    text of comma-separated values, day i being the i-th value of every column. Its own field
    beside the list it replaces, checked after the envelope (a model-wide `before` validator
    would have pydantic read the whole JSON into Python values first, numbers as floats: a
    feed's `1E-7` would no longer be read exactly)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service_line_number: str
    date: str
    priority_gb: str
    opt_in_priority_gb: str
    standard_gb: str
    non_billable_gb: str
    observed_at: str

    def rows(self) -> list[dict[str, str]]:
        split = [getattr(self, f).split(",") for f in DAY_FIELDS]
        if len({len(values) for values in split}) != 1:
            raise ValueError("each of `columns` must hold one value per day (counts differ)")
        return [dict(zip(DAY_FIELDS, row, strict=True)) for row in zip(*split, strict=True)]


RowT = TypeVar("RowT")


def rows_of_columns(columns: DayColumns, adapter: TypeAdapter[list[RowT]], name: str) -> list[RowT]:
    """Schema 2's columns as schema 1's list `name`, each row checked by `adapter`; a refusal
    names the first wrong row and field, in our words."""
    try:
        return adapter.validate_python(columns.rows())
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValueError(f"columns: {name}.{where}: {error_message(errors[0])}{more}") from None


def set_once(model: BaseModel, **values: Any) -> None:
    """Fields of a frozen event set by its own validator, while it is being built (schema 2
    read as schema 1): nothing else ever changes an event."""
    for name, value in values.items():
        object.__setattr__(model, name, value)


class UsageSnapshotsReceived(Event):
    """`usage.raw`, key = the service line number: snapshots of one service line's days. The
    simplest form for a feed that speaks Kafka."""

    type: Literal["usage.snapshots_received"] = "usage.snapshots_received"
    source: str = Field(default="api", max_length=200)
    service_line_number: str = Field(pattern=SERVICE_LINE_PATTERN)
    snapshots: list[DailySnapshot] = Field(min_length=1, max_length=MAX_RECORDS_PER_MESSAGE)

    def line_snapshots(self) -> list[LineSnapshotDict]:
        return [
            cast(
                LineSnapshotDict,
                {**s.model_dump(), "service_line_number": self.service_line_number},
            )
            for s in self.snapshots
        ]


class UsageRecordsReceived(Event):
    """`usage.raw`, key = one of its service lines: snapshots of several service lines that all
    belong on the same partition (what the gateway publishes)."""

    type: Literal["usage.records_received"] = "usage.records_received"
    source: str = Field(default="api", max_length=200)
    records: list[LineSnapshotDict] = Field(
        default_factory=list, max_length=MAX_RECORDS_PER_MESSAGE
    )
    """Plain dicts, validated field by field in pydantic-core: no model per record, since
    this topic carries usage by the million. Schema 2 (what the gateway writes) carries
    `columns` instead, as `usage.recorded`'s schema 2: the seven fields of the records, each
    one text of comma-separated values (no `record_id`: no consumer keeps it). Read through
    this model, schema 2 becomes `records`, checked record by record as schema 1."""
    columns: DayColumns | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _opt_in_is_subset(self) -> UsageRecordsReceived:
        if self.columns is not None:
            if self.records:
                raise ValueError("carries both `records` and `columns`; one of them")
            records = rows_of_columns(self.columns, _record_dicts, "records")
            if len(records) > MAX_RECORDS_PER_MESSAGE:
                raise ValueError(f"columns: at most {MAX_RECORDS_PER_MESSAGE} records")
            set_once(self, records=records, columns=None)
        if not self.records:
            raise ValueError("records: at least one record (or `columns`)")
        for i, record in enumerate(self.records):
            if opt_in_exceeds_priority(record):
                raise ValueError(
                    f"records.{i}: opt_in_priority_gb is part of priority_gb and cannot exceed it"
                )
        return self

    def line_snapshots(self) -> list[LineSnapshotDict]:
        return self.records

    @property
    def service_line_number(self) -> str:
        """The message key: the first record's line (all its lines share its partition)."""
        return self.records[0]["service_line_number"]

    @staticmethod
    def serialize(
        records: Sequence[LineSnapshotDict], source: str, correlation_id: str | None
    ) -> bytes:
        """This event's JSON from validated record dicts (see `LineSnapshotDict`)."""
        return envelope_json(
            "usage.records_received", correlation_id, source=source, records=records
        )


class LineDailyUsage(BaseModel):
    """The current figures of one day of one service line and the instant they were observed:
    the state of the day, not a change. A consumer keeps its own copy of days where the
    snapshot of highest precedence wins (`day_precedence`), so any order, repetition or replay
    of these events leaves the same copy."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    service_line_number: str = Field(pattern=SERVICE_LINE_PATTERN)
    date: date
    priority_gb: GBText
    opt_in_priority_gb: GBText
    standard_gb: GBText
    non_billable_gb: GBText
    observed_at: AwareDatetime
    # Deprecated: carried by events written before 2026-12 (consumers then moved sums by
    # differences). Still accepted so that such events replay; ignored, never written.
    previous_priority_gb: GBText | None = Field(default=None, exclude=True)
    previous_opt_in_priority_gb: GBText | None = Field(default=None, exclude=True)
    previous_standard_gb: GBText | None = Field(default=None, exclude=True)
    previous_non_billable_gb: GBText | None = Field(default=None, exclude=True)


def day_precedence(
    observed_at: datetime, priority: str, opt_in: str, standard: str, non_billable: str
) -> tuple[datetime, Decimal, Decimal, Decimal, Decimal]:
    """Which snapshot of a day wins, everywhere a copy of days is kept: the newest
    `observed_at`; equal instants ordered by the figures, so that arrival order never decides.
    The SQL upserts of the usage and invoicing services compare the same tuple."""
    return (
        observed_at,
        Decimal(priority),
        Decimal(opt_in),
        Decimal(standard),
        Decimal(non_billable),
    )


class UsageRecorded(Event):
    """`usage.recorded`, key = one of its service lines: the current state of these days (each
    day written by the usage service is announced; a snapshot that lost to the stored one is
    not). Resyncs announce days again; consumers copy state, so a repeat changes nothing.

    Two shapes on the wire. Schema 1 (resyncs, and every event written before 2026-12-01):
    `days`, a list of `LineDailyUsage` objects. Schema 2 (the ingest's hot path): `columns`,
    the same seven fields each as one text of comma-separated values, day i being the i-th
    value of every column; a third of the bytes, and a consumer can hand the texts to its
    database without building a day in between. Read through this model, schema 2 becomes
    `days` and is checked day by day exactly as schema 1."""

    type: Literal["usage.recorded"] = "usage.recorded"
    source: Literal["ingest", "resync"] = "ingest"
    days: list[LineDailyUsage] = Field(default_factory=list)
    columns: DayColumns | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _days_from_columns(self) -> UsageRecorded:
        if self.columns is not None:
            if self.days:
                raise ValueError("carries both `days` and `columns`; one of them")
            set_once(self, days=rows_of_columns(self.columns, _days, "days"), columns=None)
        if not self.days:
            raise ValueError("days: at least one day (or `columns`)")
        return self

    @property
    def service_line_number(self) -> str:
        return self.days[0].service_line_number

    @staticmethod
    def serialize(
        days: Sequence[Mapping[str, Any]], correlation_id: str | None, source: str = "ingest"
    ) -> bytes:
        """This event's JSON straight from stored rows (figures as decimal text), for the hot
        path: a million days must not each become a model. A unit test checks that the output
        validates as `UsageRecorded`."""
        return envelope_json(
            "usage.recorded",
            correlation_id,
            source=source,
            days=[{k: d[k] for k in DAY_FIELDS} for d in days],
        )


def days_of_columns(columns: Mapping[str, Any]) -> list[dict[str, str]]:
    """Schema 2's `columns` as schema 1's list of days (values as texts, unchecked)."""
    return DayColumns.model_validate(columns).rows()


_record_dicts = TypeAdapter(list[LineSnapshotDict])
_days = TypeAdapter(list[LineDailyUsage])
