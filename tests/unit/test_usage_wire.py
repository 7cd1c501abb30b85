"""The fast usage decoders (msgspec) against the models they stand in for: whatever the fast
path accepts, the model accepts with the same values; whatever it refuses, the model decides,
so a refusal carries the model's reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ValidationFailed
from shared.events import usage_wire
from shared.events.topics import USAGE_RAW, USAGE_RECORDED

RECORD = {
    "service_line_number": "AST-1-2-3",
    "date": "2026-11-01",
    "priority_gb": "12.5",
    "opt_in_priority_gb": "2",
    "standard_gb": "0.000000001",
    "non_billable_gb": "0",
    "observed_at": "2026-11-02T00:00:00Z",
}
ENVELOPE = {
    "event_id": "0b4f8a61-4a61-4b57-9a39-1f1f0b0c2d3e",
    "occurred_at": "2026-11-02T00:00:01.5+00:00",
    "schema_version": 1,
    "correlation_id": "c-1",
}


def raw_event(**record: Any) -> bytes:
    body = {**ENVELOPE, "type": "usage.records_received", "source": "api"}
    return json.dumps({**body, "records": [{**RECORD, **record}]}).encode()


def recorded_event(**day: Any) -> bytes:
    body = {**ENVELOPE, "type": "usage.recorded", "source": "ingest"}
    return json.dumps({**body, "days": [{**RECORD, **day}]}).encode()


AWKWARD: list[dict[str, Any]] = [
    {},
    {"priority_gb": "12.5\n"},
    {"priority_gb": 12.5},
    {"priority_gb": "-1"},
    {"priority_gb": "1.1234567891"},
    {"priority_gb": "123456789012"},
    {"opt_in_priority_gb": "13"},
    {"opt_in_priority_gb": "12.50"},
    {"opt_in_priority_gb": "012.5"},
    {"opt_in_priority_gb": "12.500000001"},
    {"opt_in_priority_gb": "12.499999999"},
    {"date": "1899-12-31"},
    {"date": "3000-01-01"},
    {"date": "2026-02-30"},
    {"date": "2026-11-01T00:00:00Z"},
    {"observed_at": "2026-11-02T00:00:00"},
    {"observed_at": "2026-11-02 00:00:00Z"},
    {"observed_at": "2026-11-02t00:00:00z"},
    {"observed_at": "2026-11-02T00:00:00.1234567Z"},
    {"observed_at": "2026-11-02T01:00:00+01:00"},
    {"observed_at": 1700000000},
    {"service_line_number": "AST-1-2-3\n"},
    {"service_line_number": "-AST"},
    {"record_id": "x" * 201},
    {"record_id": None},
    {"surprise": 1},
]


def _fields(d: Any) -> tuple[Any, ...]:
    return tuple(getattr(d, f) for f in usage_wire.DAY_FIELDS)


def _model_or_error(parse: Any, raw: bytes) -> Any:
    try:
        return parse(raw)
    except ValidationFailed as exc:
        return ("refused", exc.message, exc.fields)


@pytest.mark.parametrize("change", AWKWARD)
def test_raw_decodes_as_the_model(change: dict[str, Any]) -> None:
    raw = raw_event(**change)
    model = _model_or_error(USAGE_RAW.parse, raw)
    fast = _model_or_error(usage_wire.parse_raw, raw)
    if isinstance(model, tuple):
        assert fast == model
        return
    assert fast.event_id == model.event_id
    assert [_fields(s) for s in fast.days] == [
        tuple(r.get(f, "0") for f in usage_wire.DAY_FIELDS) for r in model.line_snapshots()
    ]


@pytest.mark.parametrize("change", AWKWARD)
def test_recorded_decodes_as_the_model(change: dict[str, Any]) -> None:
    raw = recorded_event(**change)
    model = _model_or_error(USAGE_RECORDED.parse, raw)
    fast = _model_or_error(usage_wire.parse_recorded, raw)
    if isinstance(model, tuple):
        assert fast == model
        return
    assert fast.event_id == model.event_id
    assert [_fields(d) for d in fast.days] == [_fields(d) for d in model.days]


def recorded_v2(*days: dict[str, Any]) -> bytes:
    """Schema 2: the days' fields as comma-separated texts (values that are not texts kept as
    they are, for the checks to meet)."""
    body = {**ENVELOPE, "schema_version": 2, "type": "usage.recorded", "source": "ingest"}
    columns: dict[str, Any] = {}
    for f in usage_wire.DAY_FIELDS:
        values = [d.get(f) for d in days]
        texts = all(isinstance(v, str) for v in values)
        columns[f] = ",".join(values) if texts else values[-1]
    return json.dumps({**body, "columns": columns}).encode()


@pytest.mark.parametrize("change", AWKWARD)
def test_recorded_in_columns_decodes_as_the_model(change: dict[str, Any]) -> None:
    """Schema 2, a clean day then the awkward one: the fast path's days are the model's, or
    both refuse with the model's reason."""
    second = {**RECORD, "service_line_number": "AST-7", **change}
    raw = recorded_v2(RECORD, second)
    model = _model_or_error(USAGE_RECORDED.parse, raw)
    fast = _model_or_error(usage_wire.parse_recorded, raw)
    if isinstance(model, tuple):
        assert fast == model
        return
    assert [_fields(d) for d in fast.days] == [_fields(d) for d in model.days]
    assert fast.columns[0] == "AST-1-2-3,AST-7"


def test_both_schemas_of_the_same_days_apply_the_same() -> None:
    """The texts the copy's SQL reads: schema 2 passes the message's own texts, schema 1 the
    days' canonical forms; each names the same values (checked field by field)."""
    second = {**RECORD, "service_line_number": "AST-7", "date": "2026-11-03", "priority_gb": "3"}
    v1 = json.dumps(
        {**ENVELOPE, "type": "usage.recorded", "source": "ingest", "days": [RECORD, second]}
    ).encode()
    one, two = usage_wire.parse_recorded(v1), usage_wire.parse_recorded(recorded_v2(RECORD, second))
    assert [_fields(d) for d in one.days] == [_fields(d) for d in two.days]
    for text_one, text_two in zip(one.columns, two.columns, strict=True):
        assert len(text_one.split(",")) == len(text_two.split(",")) == 2
    assert one.columns[:6] == two.columns[:6]  # instants: "+00:00" in one, "Z" as sent in two


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ({"date": "2026-11-01,2026-11-02"}, "one value per day"),
        ({"surprise": "1"}, "columns.surprise': 'is not allowed here (unknown field)"),
        ({"priority_gb": 12}, "columns.priority_gb': 'must be a string"),
        ({"priority_gb": "x"}, "columns: days.0.priority_gb: must be a non-negative decimal"),
    ],
)
def test_malformed_columns_are_refused_with_our_reason(
    columns: dict[str, Any], reason: str
) -> None:
    body = json.loads(recorded_v2(RECORD))
    body["columns"].update(columns)
    raw = json.dumps(body).encode()
    refused = _model_or_error(usage_wire.parse_recorded, raw)
    assert refused == _model_or_error(USAGE_RECORDED.parse, raw)
    assert isinstance(refused, tuple) and reason in str(refused)


def test_days_and_columns_together_are_refused() -> None:
    body = json.loads(recorded_v2(RECORD))
    body["days"] = [RECORD]
    refused = _model_or_error(usage_wire.parse_recorded, json.dumps(body).encode())
    assert isinstance(refused, tuple) and "one of them" in str(refused)


def test_the_common_case_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage_wire, "USAGE_RAW", None)  # the model path would fail
    monkeypatch.setattr(usage_wire, "USAGE_RECORDED", None)
    fast = usage_wire.parse_raw(raw_event()).days[0]
    assert (fast.priority_gb, fast.date) == ("12.5", date(2026, 11, 1))
    assert fast.observed_at == datetime(2026, 11, 2, tzinfo=UTC)
    assert usage_wire.parse_recorded(recorded_v2(RECORD)).columns[2] == "12.5"
    day = usage_wire.parse_recorded(recorded_event(observed_at="2026-11-02T01:00:00+01:00")).days[0]
    assert (day.standard_gb, day.observed_at) == ("0.000000001", datetime(2026, 11, 2, tzinfo=UTC))


def test_a_message_of_one_line_decodes_too() -> None:
    body = {**ENVELOPE, "type": "usage.snapshots_received", "source": "feed"}
    snapshot = {k: v for k, v in RECORD.items() if k != "service_line_number"}
    raw = json.dumps({**body, "service_line_number": "AST-9", "snapshots": [snapshot]}).encode()
    event = usage_wire.parse_raw(raw)
    assert _fields(event.days[0]) == (
        "AST-9",
        date(2026, 11, 1),
        "12.5",
        "2",
        "0.000000001",
        "0",
        datetime(2026, 11, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize("change", AWKWARD)
def test_a_pushed_body_decodes_as_the_model(change: dict[str, Any]) -> None:
    from services.gateway.ingest import _body

    raw = json.dumps({"records": [{**RECORD, **change}]}).encode()
    fast = usage_wire.parse_records(raw)
    try:
        model = _body.validate_json(raw)["records"]
    except ValueError:
        assert fast is None
        return
    if fast is not None:
        assert _pushed_rows(fast) == [
            tuple(r.get(f, "0") for f in usage_wire.DAY_FIELDS) for r in model
        ]


def _pushed_rows(pushed: usage_wire.PushedColumns) -> list[tuple[Any, ...]]:
    """The fast path's columns as the model's values, a record at a time."""
    return [
        (line, date.fromisoformat(day), p, o, s, n, datetime.fromisoformat(at))
        for line, day, p, o, s, n, at in zip(*pushed.columns, strict=True)
    ]


def test_a_clean_push_becomes_a_raw_event_the_model_reads() -> None:
    second = {**RECORD, "service_line_number": "AST-7", "observed_at": "2026-11-02T03:00:00+02:00"}
    records = usage_wire.parse_records(json.dumps({"records": [RECORD, second]}).encode())
    assert records is not None
    message = usage_wire.records_message(
        [",".join(column) for column in records.columns], "records:tok", "c-2"
    )
    wire = json.loads(message)
    assert (wire["schema_version"], "records" in wire) == (2, False)
    assert wire["columns"]["service_line_number"] == "AST-1-2-3,AST-7"
    assert wire["columns"]["observed_at"] == "2026-11-02T00:00:00+00:00,2026-11-02T01:00:00+00:00"
    event = USAGE_RAW.parse(message)
    assert (event.source, event.correlation_id) == ("records:tok", "c-2")
    assert [_fields(usage_wire.LineSnapshot(**r)) for r in event.line_snapshots()] == (
        _pushed_rows(records)
    )
    fast = usage_wire.parse_raw(message)
    assert [_fields(d) for d in fast.days] == _pushed_rows(records)
    assert (fast.size, fast.columns) == (2, [",".join(column) for column in records.columns])


def raw_v2(*records: dict[str, Any]) -> bytes:
    """`usage.raw` schema 2 (what the gateway writes), built as `recorded_v2`."""
    body = json.loads(recorded_v2(*records))
    return json.dumps({**body, "type": "usage.records_received", "source": "api"}).encode()


@pytest.mark.parametrize("change", AWKWARD)
def test_raw_in_columns_decodes_as_the_model(change: dict[str, Any]) -> None:
    """`usage.raw` schema 2, a clean record then the awkward one: the fast path's days are
    the model's, or both refuse with the model's reason."""
    second = {**RECORD, "service_line_number": "AST-7", **change}
    raw = raw_v2(RECORD, second)
    model = _model_or_error(USAGE_RAW.parse, raw)
    fast = _model_or_error(usage_wire.parse_raw, raw)
    if isinstance(model, tuple):
        assert fast == model
        return
    assert [_fields(d) for d in fast.days] == [
        _fields(usage_wire.LineSnapshot(**r)) for r in model.line_snapshots()
    ]
    assert fast.size == 2 and fast.columns[0] == "AST-1-2-3,AST-7"


def test_raw_in_columns_is_bounded_like_records() -> None:
    """As many records as a schema 1 message may hold, and not one more (the fast path leaves
    the refusal, and its reason, to the model)."""
    limit = usage_wire.MAX_RECORDS_PER_MESSAGE
    assert usage_wire.parse_raw(raw_v2(*[RECORD] * limit)).size == limit
    refused = _model_or_error(usage_wire.parse_raw, raw_v2(*[RECORD] * (limit + 1)))
    assert refused == _model_or_error(USAGE_RAW.parse, raw_v2(*[RECORD] * (limit + 1)))
    assert isinstance(refused, tuple) and f"at most {limit} records" in str(refused)


def test_raw_exponent_numbers_are_still_read_exactly_beside_the_columns_field() -> None:
    """Schema 2 is a field of its own, checked after the envelope: schema 1's JSON numbers
    (a Kafka feed's) keep their exact reading."""
    raw = raw_event(priority_gb=1.2345678912e2).replace(b"123.45678912", b"1.2345678912E2")
    assert b"E2" in raw
    assert USAGE_RAW.parse(raw).line_snapshots()[0]["priority_gb"] == "123.45678912"


def test_raw_records_and_columns_together_are_refused() -> None:
    body = json.loads(raw_v2(RECORD))
    body["records"] = [RECORD]
    refused = _model_or_error(usage_wire.parse_raw, json.dumps(body).encode())
    assert isinstance(refused, tuple) and "one of them" in str(refused)


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.sampled_from(["usage.records_received", "usage.snapshots_received", "usage.recorded"]),
    st.dictionaries(st.sampled_from([*RECORD, "x"]), _values, max_size=3),
    st.booleans(),
)
def test_garbage_is_refused_with_the_models_reason(
    kind: str, change: dict[str, Any], whole: bool
) -> None:
    """Fuzzed messages (as the fault tests send): the fast path refuses what the model refuses,
    with the model's reason, and never fails otherwise."""
    raw = recorded_event(**change) if kind == "usage.recorded" else raw_event(**change)
    if not whole:
        raw = raw.replace(b'"type": "usage.records_received"', f'"type": "{kind}"'.encode())
    for model_parse, fast_parse in (
        (USAGE_RAW.parse, usage_wire.parse_raw),
        (USAGE_RECORDED.parse, usage_wire.parse_recorded),
    ):
        model = _model_or_error(model_parse, raw)
        fast = _model_or_error(fast_parse, raw)
        assert isinstance(fast, tuple) == isinstance(model, tuple)
        if isinstance(model, tuple):
            assert fast == model


def test_text_columns_split_back_into_each_days_fields() -> None:
    """What SQL reads with `string_to_array(col, ',')`: one text per field, day i at place i."""
    days = [
        usage_wire.parse_raw(raw_event(service_line_number=line, priority_gb=gb)).days[0]
        for line, gb in (("AST-1", "12.5"), ("AST-2", "2.000000001"), ("AST-1", "7"))
    ]
    columns = usage_wire.text_columns(days)
    assert [c.split(",") for c in columns] == [
        ["AST-1", "AST-2", "AST-1"],
        ["2026-11-01"] * 3,
        ["12.5", "2.000000001", "7"],
        ["2"] * 3,
        ["0.000000001"] * 3,
        ["0"] * 3,
        ["2026-11-02T00:00:00+00:00"] * 3,
    ]
    assert usage_wire.text_columns([]) == [""] * 7


def test_text_columns_refuse_a_line_with_a_comma() -> None:
    """The lines' pattern keeps commas out; a day that slipped past it is refused, never split
    into the wrong columns."""
    day = usage_wire.parse_raw(raw_event()).days[0]
    bad = usage_wire.LineSnapshot(
        **{**{f: getattr(day, f) for f in usage_wire.DAY_FIELDS}, "service_line_number": "AST,1"}
    )
    with pytest.raises(ValueError, match="comma"):
        usage_wire.text_columns([bad])


def test_the_opt_in_check_compares_values_even_when_the_cache_was_just_emptied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The figures' values come from the cache of checked texts; a cache emptied between the
    two figures of a day (it is bounded) falls back to parsing, never to a wrong answer."""
    monkeypatch.setattr(usage_wire, "_CACHE_LIMIT", 0)  # emptied on every new text
    usage_wire._good_gb.clear()
    refused = usage_wire._fast(usage_wire._recorded, recorded_event(opt_in_priority_gb="12.6"))
    assert not usage_wire._checked(refused.days)
    taken = usage_wire._fast(usage_wire._recorded, recorded_event(opt_in_priority_gb="12.50"))
    assert usage_wire._checked(taken.days)


def test_the_day_fields_are_the_models_in_its_order() -> None:
    """Schema 2's columns and schema 1's days name the same fields, in the same order."""
    from shared.events.usage import DAY_FIELDS, DayColumns, LineDailyUsage

    current = [f for f in LineDailyUsage.model_fields if not f.startswith("previous_")]
    assert list(DAY_FIELDS) == current == list(usage_wire.DayTexts.__struct_fields__)
    assert list(DayColumns.model_fields) == current  # the model and the fast struct agree
