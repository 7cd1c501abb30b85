import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.ingest import group_by_partition, parse_records_body, validate_records
from shared.events import usage_wire
from shared.events.envelope import loads_exact
from shared.events.topics import USAGE_RAW
from shared.events.usage import DAY_FIELDS
from shared.kafka import partition_for

RAW = b"""[
 {"service_line_number": "AST-1-1-1", "date": "2026-11-01", "priority_gb": 1.25,
  "observed_at": "2026-11-02T00:00:00Z"},
 {"service_line_number": "AST-2-2-2", "date": "2026-11-01", "priority_gb": "3",
  "opt_in_priority_gb": "1", "observed_at": "2026-11-02T00:00:00+02:00", "record_id": "r-9"},
 {"service_line_number": "AST-1-1-1", "date": "2026-11-02", "priority_gb": "0",
  "observed_at": "2026-11-03T00:00:00Z"},
 {"service_line_number": "AST-1-1-1", "date": "2026-11-02"}
]"""


def test_records_are_validated_one_by_one() -> None:
    good, bad = validate_records(loads_exact(RAW))
    assert len(good) == 3
    assert [b.index for b in bad] == [3]
    assert bad[0].service_line_number == "AST-1-1-1"
    assert "priority_gb" in bad[0].reason and "observed_at" in bad[0].reason
    assert good[0]["priority_gb"] == "1.25"


def test_records_are_grouped_into_one_event_per_partition() -> None:
    good, _ = validate_records(loads_exact(RAW))
    messages = group_by_partition(good, "records:tok_1", "corr-1")
    events = [USAGE_RAW.parse(payload) for _, payload in messages]
    assert sum(len(e.records) for e in events) == 3
    for (key, _), event in zip(messages, events, strict=True):
        parts = {partition_for(r["service_line_number"]) for r in event.records}
        assert parts == {partition_for(key)}
        assert event.correlation_id == "corr-1" and event.source == "records:tok_1"
    days = [
        r["date"].day for e in events for r in e.records if r["service_line_number"] == "AST-1-1-1"
    ]
    assert days == [1, 2]  # a line's records keep their order
    assert [r.get("record_id") for e in events for r in e.records if r.get("record_id")] == ["r-9"]


def test_clean_batch_takes_the_fast_path_and_a_dirty_one_gets_reasons() -> None:
    records = json.loads(RAW)
    clean = json.dumps({"records": records[:3]}).encode()
    good, bad = parse_records_body(clean, 10_000)
    assert (len(good), bad) == (3, [])
    good, bad = parse_records_body(b'{"records": ' + RAW + b"}", 10_000)
    assert (len(good), [b.index for b in bad]) == (3, [3])


def test_fast_path_dict_and_model_agree_on_fields() -> None:
    from shared.events.usage import LineSnapshot, LineSnapshotDict

    assert set(LineSnapshotDict.__annotations__) == set(LineSnapshot.model_fields)


def test_opt_in_above_priority_is_rejected_on_the_fast_path_too() -> None:
    body = json.dumps(
        {
            "records": [
                {
                    "service_line_number": "AST-1-1-1",
                    "date": "2026-11-01",
                    "priority_gb": "1",
                    "opt_in_priority_gb": "1.5",
                    "observed_at": "2026-11-02T00:00:00Z",
                },
                {
                    "service_line_number": "AST-1-1-1",
                    "date": "2026-11-02",
                    "priority_gb": "2",
                    "opt_in_priority_gb": "1.5",
                    "observed_at": "2026-11-02T00:00:00Z",
                },
            ]
        }
    ).encode()
    good, bad = parse_records_body(body, 10_000)
    assert len(good) == 1 and [b.index for b in bad] == [0]
    assert "cannot exceed" in bad[0].reason


def test_numbers_in_exponent_form_are_read_exactly_in_records_and_events() -> None:
    body = (
        b'{"records": [{"service_line_number": "AST-1-1-1", "date": "2026-11-01",'
        b' "priority_gb": 1E-7, "opt_in_priority_gb": 0E-3, "standard_gb": 2.5e-3,'
        b' "non_billable_gb": 1e+1, "observed_at": "2026-11-02T00:00:00Z"},'
        b' {"service_line_number": "AST-1-1-1", "date": "2026-11-02",'
        b' "priority_gb": 1.2345678912E2,'
        b' "observed_at": "2026-11-02T00:00:00Z"}]}'
    )
    good, bad = parse_records_body(body, 10_000)
    assert bad == []
    assert [good[0][k] for k in ("priority_gb", "opt_in_priority_gb", "standard_gb")] == [
        "0.0000001",
        "0",
        "0.0025",
    ]
    assert good[0]["non_billable_gb"] == "10" and good[1]["priority_gb"] == "123.45678912"
    # A Kafka feed writing the same numbers straight onto usage.raw is read exactly too.
    event = USAGE_RAW.parse(
        b'{"event_id": "6f1c1f1e-1111-4a4a-8b8b-123456789abc", "type": "usage.records_received",'
        b' "occurred_at": "2026-11-02T00:00:00Z", "records": ' + body[12:-1] + b"}"
    )
    assert [r["priority_gb"] for r in event.records] == ["0.0000001", "123.45678912"]


def test_exponent_numbers_are_exact_in_a_batch_with_a_rejected_record() -> None:
    body = (
        b'{"records": [{"service_line_number": "AST-1-1-1", "date": "2026-11-01",'
        b' "priority_gb": 1E-7, "observed_at": "2026-11-02T00:00:00Z"},'
        b' {"service_line_number": "AST-1-1-1", "date": "2026-11-02"}]}'
    )
    good, bad = parse_records_body(body, 10_000)
    assert [b.index for b in bad] == [1]
    assert good[0]["priority_gb"] == "0.0000001"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["AST-1-1-1", "AST-2-2-2", "AST-3", "AST-44", "KIT-9", "AST-7-7"]),
            st.integers(1, 28),
            st.sampled_from(["0", "1.5", "2", "0.000000001"]),
            st.sampled_from(["2026-11-02T00:00:00Z", "2026-11-02T03:00:00+02:00"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_the_fast_path_groups_by_partition_as_the_models_do(
    rows: list[tuple[str, int, str, str]],
) -> None:
    """Columns grouped by a sort of positions give the same messages (key, records in the
    order received) as the models' records grouped one by one."""
    body = json.dumps(
        {
            "records": [
                {"service_line_number": line, "date": f"2026-11-{day:02d}", "priority_gb": gb,
                 "observed_at": at}
                for line, day, gb, at in rows
            ]
        }
    ).encode()  # fmt: skip
    fast, _ = parse_records_body(body, 10_000)
    assert isinstance(fast, usage_wire.PushedColumns) and len(fast) == len(rows)
    slow, _ = validate_records(loads_exact(body)["records"])

    def contents(messages: list[tuple[str, bytes]]) -> list[tuple[str, list[tuple[Any, ...]]]]:
        found = []
        for key, payload in messages:
            event = USAGE_RAW.parse(payload)
            records = [tuple(r.get(f, "0") for f in DAY_FIELDS) for r in event.line_snapshots()]
            assert {partition_for(r[0]) for r in records} == {partition_for(key)}
            found.append((key, records))
        return found

    assert contents(group_by_partition(fast, "s", "c")) == contents(
        group_by_partition(slow, "s", "c")
    )
