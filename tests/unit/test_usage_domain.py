from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.usage.domain import Snapshot, apply, newest_per_day

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def snap(
    day: int, priority: str, hours: int, line: str = "AST-1-2-3", opt_in: str = "0"
) -> Snapshot:
    return Snapshot(
        line,
        date(2026, 11, day),
        Decimal(priority),
        Decimal(opt_in),
        Decimal(0),
        Decimal(0),
        T0 + timedelta(hours=hours),
    )


def test_newer_snapshot_replaces_older_one() -> None:
    rows: dict = {}
    assert apply(rows, [snap(1, "5", 0)]) == [snap(1, "5", 0)]
    assert apply(rows, [snap(1, "8", 3)]) == [snap(1, "8", 3)]
    assert rows[("AST-1-2-3", date(2026, 11, 1))].priority_gb == Decimal(8)


def test_stale_snapshot_is_ignored_and_identical_is_a_no_op() -> None:
    rows: dict = {}
    apply(rows, [snap(1, "8", 3)])
    assert apply(rows, [snap(1, "5", 1)]) == []
    assert apply(rows, [snap(1, "8", 3)]) == []
    assert rows[("AST-1-2-3", date(2026, 11, 1))].priority_gb == Decimal(8)


def test_one_winner_per_day_within_a_batch() -> None:
    batch = [snap(1, "1", 1), snap(1, "3", 5), snap(1, "2", 2), snap(2, "9", 0)]
    assert newest_per_day(batch) == [snap(1, "3", 5), snap(2, "9", 0)]


def test_same_time_different_figures_has_a_deterministic_winner() -> None:
    a, b = snap(1, "4", 1), snap(1, "6", 1)
    assert newest_per_day([a, b]) == newest_per_day([b, a]) == [b]


def test_days_of_different_lines_do_not_mix() -> None:
    rows: dict = {}
    apply(rows, [snap(1, "1", 0, line="A-1"), snap(1, "2", 0, line="B-1")])
    assert len(rows) == 2


snapshots = st.builds(
    snap,
    day=st.integers(1, 4),
    priority=st.sampled_from(["0", "0.5", "1.25", "7", "100.000000001"]),
    hours=st.integers(0, 5),
    line=st.sampled_from(["A-1", "B-2"]),
)


@given(st.lists(snapshots, max_size=30), st.randoms(), st.integers(1, 3), st.integers(1, 5))
def test_any_order_and_repetition_gives_the_same_rows(
    items: list[Snapshot], rnd: object, repeat: int, batch_size: int
) -> None:
    reference: dict = {}
    apply(reference, items)
    shuffled = items * repeat
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    rows: dict = {}
    for i in range(0, len(shuffled), batch_size):
        apply(rows, shuffled[i : i + batch_size])
    assert rows == reference
