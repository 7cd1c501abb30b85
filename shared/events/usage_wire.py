"""Reading usage by the million: `usage.raw` and `usage.recorded` decoded by msgspec into plain
structs, with the pydantic models of `shared.events.usage` as the reference.

The fast decoders accept a subset of what the models accept (the shapes our own producers
write: every envelope field present, figures as decimal text, RFC 3339 instants with a zone),
with the same checks. Anything they refuse goes through the model (`Topic.parse`), which either
accepts it (a feed's JSON number, a missing `event_id` taken as a default...) or raises the
PermanentError whose reason the dead-letter record carries. So a message decodes to the same
values either way, and a refusal reads the same as before; a unit test compares the two on
awkward inputs.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

import msgspec
from msgspec import Meta, Struct

from shared.api.types import FIRST_DAY, LAST_DAY
from shared.correlation import current
from shared.events.topics import USAGE_RAW, USAGE_RECORDED
from shared.events.usage import (
    DAY_FIELDS,
    MAX_RECORDS_PER_MESSAGE,
    SERVICE_LINE_PATTERN,
    LineDailyUsage,
    UsageRecorded,
    UsageRecordsReceived,
    UsageSnapshotsReceived,
)
from shared.money import GB_TEXT_PATTERN

Instant = Annotated[datetime, Meta(tz=True)]

# Checked in Python on the decoded text rather than as msgspec patterns (msgspec calls `re` per
# field; five patterns cost more than the whole decode): a service line once per batch, a
# figure or an instant once per distinct text (they repeat), through the caches below.
_GB = re.compile(GB_TEXT_PATTERN)
_LINE = re.compile(SERVICE_LINE_PATTERN)
# RFC 3339 with a zone and at most microseconds (msgspec would round more digits, pydantic
# truncates): the common form; anything else is left to the model.
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_CACHE_LIMIT = 100_000
_good_gb: dict[str, Decimal] = {}
"""Figure texts that passed the pattern, with their values: the opt-in check compares two
values found here instead of building two Decimals a day (a tenth of each consumer's CPU)."""
_instants: dict[str, datetime] = {}


class DayColumns(Protocol):
    """What `text_columns` reads: a `Day`, or the usage service's snapshot (Decimal figures)."""

    @property
    def service_line_number(self) -> str: ...
    @property
    def date(self) -> date: ...
    @property
    def priority_gb(self) -> object: ...
    @property
    def opt_in_priority_gb(self) -> object: ...
    @property
    def standard_gb(self) -> object: ...
    @property
    def non_billable_gb(self) -> object: ...
    @property
    def observed_at(self) -> datetime: ...


class Day(DayColumns, Protocol):
    """One day of one service line as the consumers use it (fast struct or model): figures as
    decimal text."""

    @property
    def priority_gb(self) -> str: ...
    @property
    def opt_in_priority_gb(self) -> str: ...
    @property
    def standard_gb(self) -> str: ...
    @property
    def non_billable_gb(self) -> str: ...


class _Snapshot(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    date: date
    priority_gb: str
    opt_in_priority_gb: str = "0"
    standard_gb: str = "0"
    non_billable_gb: str = "0"
    observed_at: Any
    """Text as decoded; a datetime once `_checked` (or built from a model)."""
    record_id: Annotated[str, Meta(max_length=200)] | None = None


class LineSnapshot(_Snapshot, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    service_line_number: str


class _Envelope(Struct, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    event_id: uuid.UUID
    occurred_at: Instant
    schema_version: int
    correlation_id: str | None


class DayTexts(Struct, forbid_unknown_fields=True):
    """Schema 2 of `usage.raw` and `usage.recorded`: each field of the days as one
    comma-separated text."""

    service_line_number: str
    date: str
    priority_gb: str
    opt_in_priority_gb: str
    standard_gb: str
    non_billable_gb: str
    observed_at: str


class RecordsReceived(_Envelope, kw_only=True, tag="usage.records_received"):
    source: Annotated[str, Meta(max_length=200)]
    records: (
        Annotated[list[LineSnapshot], Meta(min_length=1, max_length=MAX_RECORDS_PER_MESSAGE)] | None
    ) = None
    columns: DayTexts | None = None
    """Schema 2, the gateway's: the records' seven fields as texts (`usage.recorded`'s form)."""


class _PushedRecord(Struct, kw_only=True, forbid_unknown_fields=True):
    """A record of `POST /usage/records` as texts: checked a column at a time (each distinct
    value once) and passed on as it came, never turned into dates and datetimes and back.
    The fields of `LineSnapshot` (schema 1 of `usage.raw`, whose days the consumers do need as
    dates) with every type a text; `DAY_FIELDS` order is what the columns follow."""

    service_line_number: str
    date: str
    priority_gb: str
    opt_in_priority_gb: str = "0"
    standard_gb: str = "0"
    non_billable_gb: str = "0"
    observed_at: str
    record_id: Annotated[str, Meta(max_length=200)] | None = None


class RecordsBody(Struct, forbid_unknown_fields=True):
    """`POST /usage/records`."""

    records: Annotated[list[_PushedRecord], Meta(max_length=MAX_RECORDS_PER_MESSAGE)]


class PushedColumns:
    """The clean records of a push as seven columns of texts (DAY_FIELDS order; instants in
    UTC), the i-th value of each column one record's."""

    __slots__ = ("columns",)

    def __init__(self, columns: list[list[str]]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0])


class LineDay(Struct, kw_only=True, forbid_unknown_fields=True):
    service_line_number: str
    date: date
    priority_gb: str
    opt_in_priority_gb: str
    standard_gb: str
    non_billable_gb: str
    observed_at: Any
    """Text as decoded; a datetime once `_checked` (or built from a model)."""
    # Deprecated fields of events written before 2026-12: accepted, ignored (as the model).
    previous_priority_gb: str | None = None
    previous_opt_in_priority_gb: str | None = None
    previous_standard_gb: str | None = None
    previous_non_billable_gb: str | None = None


class Recorded(_Envelope, kw_only=True, tag="usage.recorded"):
    source: Literal["ingest", "resync"]
    days: Annotated[list[LineDay], Meta(min_length=1)] | None = None
    columns: DayTexts | None = None


class DaysEvent:
    """A `usage.raw` or `usage.recorded` event reduced to what its consumer applies: its days
    as the seven texts the consumer's SQL reads (`text_columns`), and as days where one is
    needed (a line applied on its own, a failure kept), built from the texts only then."""

    __slots__ = ("_columns", "_days", "correlation_id", "event_id", "size")

    def __init__(
        self,
        event_id: uuid.UUID,
        correlation_id: str | None,
        days: Sequence[Day] | None = None,
        columns: list[str] | None = None,
    ) -> None:
        self.event_id = event_id
        self.correlation_id = correlation_id
        self._days = days
        self._columns = columns
        self.size = _count(days, columns)
        """How many days it holds (counted once: the consumer reads it per batch, twice)."""

    @property
    def days(self) -> Sequence[Day]:
        if self._days is None:
            self._days = _days_of_texts(self._columns or [])
        return self._days

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = text_columns(self.days)
        return self._columns


def _count(days: Sequence[Day] | None, columns: list[str] | None) -> int:
    if days is not None:
        return len(days)
    return columns[0].count(",") + 1 if columns and columns[0] else 0


RecordedEvent = DaysEvent
RawEvent = DaysEvent


_raw = msgspec.json.Decoder(RecordsReceived)
_body = msgspec.json.Decoder(RecordsBody)
_encoder = msgspec.json.Encoder()
_recorded = msgspec.json.Decoder(Recorded)


def _gb_ok(text: Any) -> bool:
    if text in _good_gb:
        return True
    if not isinstance(text, str) or _GB.fullmatch(text) is None:
        return False
    if len(_good_gb) > _CACHE_LIMIT:
        _good_gb.clear()
    _good_gb[text] = Decimal(text)
    return True


def _gb_value(text: str) -> Decimal:
    """A checked figure's value (the cache may have been cleared since it was checked)."""
    found = _good_gb.get(text)
    return found if found is not None else Decimal(text)


def _instant(text: Any) -> datetime | None:
    """An RFC 3339 instant with its zone, in UTC; None for anything else."""
    found = _instants.get(text) if isinstance(text, str) else None
    if found is not None or not isinstance(text, str) or _INSTANT.fullmatch(text) is None:
        return found
    try:
        found = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None
    if len(_instants) > _CACHE_LIMIT:
        _instants.clear()
    _instants[text] = found
    return found


def _checked(days: Sequence[LineSnapshot] | Sequence[LineDay], previous: bool = False) -> bool:
    """The checks the model makes that the struct does not (patterns, date bounds, opt-in
    within priority, an aware instant); each day's `observed_at` becomes its datetime."""
    for line in {d.service_line_number for d in days}:
        if _LINE.fullmatch(line) is None:
            return False
    good, instants = _good_gb, _instants
    for d in days:
        at = instants.get(d.observed_at) if isinstance(d.observed_at, str) else None
        if at is None and (at := _instant(d.observed_at)) is None:
            return False
        if not FIRST_DAY <= d.date <= LAST_DAY:
            return False
        d.observed_at = at
        opt_in, priority = d.opt_in_priority_gb, d.priority_gb
        if not (
            (priority in good or _gb_ok(priority))
            and (opt_in in good or _gb_ok(opt_in))
            and (d.standard_gb in good or _gb_ok(d.standard_gb))
            and (d.non_billable_gb in good or _gb_ok(d.non_billable_gb))
        ):
            return False
        if opt_in != "0" and opt_in != priority and _gb_value(opt_in) > _gb_value(priority):
            return False
    if previous:
        for d in days:
            for f in (
                d.previous_priority_gb,  # type: ignore[union-attr]
                d.previous_opt_in_priority_gb,  # type: ignore[union-attr]
                d.previous_standard_gb,  # type: ignore[union-attr]
                d.previous_non_billable_gb,  # type: ignore[union-attr]
            ):
                if f is not None and not _gb_ok(f):
                    return False
    return True


def _fast(decoder: msgspec.json.Decoder[Any], raw: bytes) -> Any:
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError:  # includes ValidationError: the model decides and explains
        return None


def parse_records(raw: bytes) -> PushedColumns | None:
    """The records of a clean `POST /usage/records` body as columns; None when any check fails
    (the gateway then validates with the models, record by record, with reasons). The checks
    are `_checked`'s, made on the columns: a Python loop a distinct value, not a record."""
    body = _fast(_body, raw)
    if body is None:
        return None
    columns = [list(map(operator.attrgetter(f), body.records)) for f in DAY_FIELDS]
    if not _columns_ok(columns):
        return None
    in_utc = {text: _utc_text(text) for text in set(columns[6])}
    if any(text != utc for text, utc in in_utc.items()):
        columns[6] = [in_utc[text] for text in columns[6]]
    return PushedColumns(columns)


def _utc_text(checked: str) -> str:
    """A checked instant's text in UTC (as the model would write it)."""
    found = _instant(checked)
    return found.isoformat() if found is not None else checked


def records_message(texts: Sequence[str], source: str, correlation_id: str | None) -> bytes:
    """`UsageRecordsReceived` JSON, schema 2, from checked records' seven texts (DAY_FIELDS
    order, each a field's values joined by commas), which the usage service hands to its SQL
    as they come instead of decoding, checking and joining a struct a record."""
    return _encoder.encode(
        {
            "event_id": str(uuid.uuid4()),
            "type": "usage.records_received",
            "occurred_at": datetime.now(UTC),
            "schema_version": 2,
            "correlation_id": correlation_id or current(),
            "source": source,
            "columns": dict(zip(DAY_FIELDS, texts, strict=True)),
        }
    )


def parse_raw(raw: bytes) -> RawEvent:
    """A `usage.raw` message (either schema of `usage.records_received`, or
    `usage.snapshots_received`), or the PermanentError of `USAGE_RAW.parse`."""
    event = _fast(_raw, raw)
    if event is not None and (event.records is None) != (event.columns is None):
        if event.records is not None and _checked(event.records):
            return RawEvent(event.event_id, event.correlation_id, days=event.records)
        texts = _checked_columns(event.columns) if event.columns is not None else None
        if texts is not None:
            found = RawEvent(event.event_id, event.correlation_id, columns=texts)
            if found.size <= MAX_RECORDS_PER_MESSAGE:  # more: the model refuses, with reason
                return found
    model = USAGE_RAW.parse(raw)
    return RawEvent(model.event_id, model.correlation_id, days=_model_snapshots(model))


def _model_snapshots(model: UsageRecordsReceived | UsageSnapshotsReceived) -> list[Day]:
    line = getattr(model, "service_line_number", "")
    if isinstance(model, UsageRecordsReceived):
        return [LineSnapshot(**r) for r in model.records]
    return [
        LineSnapshot(service_line_number=line, **s.model_dump(exclude_unset=True))
        for s in model.snapshots
    ]


def parse_recorded(raw: bytes) -> RecordedEvent:
    """A `usage.recorded` message (either schema), or the PermanentError of
    `USAGE_RECORDED.parse`."""
    event = _fast(_recorded, raw)
    if event is not None and (event.days is None) != (event.columns is None):
        if event.days is not None and _checked(event.days, previous=True):
            return RecordedEvent(event.event_id, event.correlation_id, days=event.days)
        texts = _checked_columns(event.columns) if event.columns is not None else None
        if texts is not None:
            return RecordedEvent(event.event_id, event.correlation_id, columns=texts)
    model: UsageRecorded = USAGE_RECORDED.parse(raw)
    return RecordedEvent(model.event_id, model.correlation_id, days=model.days)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_good_dates: set[str] = set()


def _date_ok(text: str) -> bool:
    if text in _good_dates:
        return True
    if _DATE.fullmatch(text) is None:
        return False
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return False
    if not FIRST_DAY <= day <= LAST_DAY:
        return False
    if len(_good_dates) > _CACHE_LIMIT:
        _good_dates.clear()
    _good_dates.add(text)
    return True


def _checked_columns(columns: DayTexts) -> list[str] | None:
    """Schema 2's texts, when every value passes the checks `_checked` makes of a day (line
    pattern, date form and bounds, figure form, an instant with its zone, opt-in within
    priority) and the columns hold as many values each; None otherwise (the model decides)."""
    texts = [getattr(columns, f) for f in DAY_FIELDS]
    split = [t.split(",") for t in texts]
    if len({len(values) for values in split}) != 1:
        return None
    return texts if _columns_ok(split) else None


def _columns_ok(columns: list[list[str]]) -> bool:
    """The checks `_checked` makes of each day, made on seven equally long columns of texts
    (DAY_FIELDS order): each distinct value once."""
    lines, dates, priority, opt_in, standard, non_billable, instants = columns
    if not all(_LINE.fullmatch(line) for line in set(lines)):
        return False
    if not all(_date_ok(d) for d in set(dates)):
        return False
    if not all(_instant(at) is not None for at in set(instants)):
        return False
    # the texts not seen before, found in C (a set less a dict): a Python step for those only
    unseen = set(priority).union(opt_in, standard, non_billable).difference(_good_gb)
    if not all(_gb_ok(text) for text in unseen):
        return False
    return _opt_in_within_priority(opt_in, priority)


def _opt_in_within_priority(opt_in: list[str], priority: list[str]) -> bool:
    """Each day's opt-in GB at most its priority GB, compared as the cached values of texts
    checked just before, in C (`map`): no Python step a day."""
    value = _good_gb.__getitem__
    try:
        return not any(map(operator.gt, map(value, opt_in), map(value, priority)))
    except KeyError:  # the cache was cleared while these columns were checked
        return all(_gb_value(o) <= _gb_value(p) for o, p in zip(opt_in, priority, strict=True))


def _days_of_texts(texts: list[str]) -> list[Day]:
    """Checked schema 2 texts as days (for the rare paths that need days)."""
    split = [t.split(",") for t in texts]
    return [
        LineDay(
            service_line_number=line,
            date=date.fromisoformat(day),
            priority_gb=p,
            opt_in_priority_gb=o,
            standard_gb=s,
            non_billable_gb=n,
            observed_at=_instant(at),
        )
        for line, day, p, o, s, n, at in zip(*split, strict=True)
    ]


def text_columns(days: Sequence[DayColumns]) -> list[str]:
    """The days' seven fields (DAY_FIELDS order), each as one comma-separated text, for
    `string_to_array($n, ',')` in SQL: a few joins, where asyncpg would encode seven arrays
    element by element (checking each element against the iterable ABCs: about a third of a
    consumer's CPU per day). No field's text holds a comma: lines match SERVICE_LINE_PATTERN
    (checked again here, once per line), figures are decimals, dates and instants ISO 8601."""
    lines = [d.service_line_number for d in days]
    if any("," in line for line in set(lines)):
        raise ValueError("a service line number holds a comma")
    instants: dict[datetime, str] = {}
    for d in days:
        if d.observed_at not in instants:
            instants[d.observed_at] = d.observed_at.isoformat()
    return [
        ",".join(lines),
        ",".join([d.date.isoformat() for d in days]),
        ",".join([str(d.priority_gb) for d in days]),
        ",".join([str(d.opt_in_priority_gb) for d in days]),
        ",".join([str(d.standard_gb) for d in days]),
        ",".join([str(d.non_billable_gb) for d in days]),
        ",".join([instants[d.observed_at] for d in days]),
    ]


def as_models(days: Sequence[Day]) -> list[LineDailyUsage]:
    """Days as `LineDailyUsage` models: for the rare paths (a failure kept, dead-lettered)."""
    return [LineDailyUsage(**{f: getattr(d, f) for f in DAY_FIELDS}) for d in days]


def as_json(days: Sequence[Day]) -> bytes:
    """Days as a JSON list of `LineDailyUsage` objects."""
    return msgspec.json.encode([{f: getattr(d, f) for f in DAY_FIELDS} for d in days])
