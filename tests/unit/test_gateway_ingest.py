from decimal import Decimal

from services.gateway.ingest import group_by_line, validate_records
from shared.events.envelope import loads_exact

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
    assert good[0].priority_gb == Decimal("1.25")


def test_records_are_grouped_into_one_event_per_service_line() -> None:
    good, _ = validate_records(loads_exact(RAW))
    events = group_by_line(good, "records:tok_1", "corr-1")
    by_line = {e.service_line_number: e for e in events}
    assert set(by_line) == {"AST-1-1-1", "AST-2-2-2"}
    assert [s.date.day for s in by_line["AST-1-1-1"].snapshots] == [1, 2]
    assert by_line["AST-2-2-2"].snapshots[0].record_id == "r-9"
    assert all(e.correlation_id == "corr-1" for e in events)
