import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.errors import ValidationFailed
from shared.events.invoicing import InvoiceApproved, InvoiceGenerated
from shared.events.payments import PaymentPosted
from shared.events.topics import (
    ALL_TOPICS,
    INVOICING_EVENTS,
    PAYMENTS_EVENTS,
    USAGE_RAW,
    all_topic_names,
)
from shared.events.usage import UsageSnapshotsReceived

SNAP = {"date": "2026-11-01", "priority_gb": "1.5", "observed_at": "2026-11-02T00:00:00Z"}


def test_envelope_fields_and_round_trip() -> None:
    event = UsageSnapshotsReceived(
        service_line_number="AST-1-2-3", snapshots=[SNAP], correlation_id="c-1"
    )
    wire = json.loads(event.to_json())
    assert {"event_id", "type", "occurred_at", "schema_version", "correlation_id"} <= set(wire)
    assert wire["type"] == "usage.snapshots_received" and wire["schema_version"] == 1
    assert wire["snapshots"][0]["priority_gb"] == "1.5"
    assert USAGE_RAW.parse(event.to_json()) == event


def test_events_are_frozen() -> None:
    event = UsageSnapshotsReceived(service_line_number="AST-1-2-3", snapshots=[SNAP])
    with pytest.raises(ValidationError):
        event.source = "other"  # type: ignore[misc]


def test_union_per_topic_picks_the_model_by_type() -> None:
    facts = dict(
        invoice_id="INV-202611-000001",
        org_id="org_1",
        kind="SUBSCRIPTION",
        period="2026-11",
        revision=1,
        amount="10.00",
        payments="0",
        balance="10.00",
        status="GENERATED",
    )
    generated = InvoiceGenerated(**facts)
    approved = InvoiceApproved(**facts, approved_by="tok_1")
    assert isinstance(INVOICING_EVENTS.parse(generated.to_json()), InvoiceGenerated)
    assert isinstance(INVOICING_EVENTS.parse(approved.to_json()), InvoiceApproved)
    posted = PaymentPosted(
        payment_id="p1",
        invoice_id="INV-1",
        amount="5.5",
        received_on="2026-11-03",
        method="ACH",
        posted_by="tok_1",
    )
    assert PAYMENTS_EVENTS.parse(posted.to_json()).amount == Decimal("5.50")


def raw_with_number(text: str) -> str:
    raw = json.dumps(
        {
            "type": "usage.snapshots_received",
            "service_line_number": "AST-1-2-3",
            "snapshots": [{**SNAP, "priority_gb": "X"}],
        }
    )
    return raw.replace('"X"', text)


def test_json_numbers_are_read_exactly_as_written() -> None:
    assert USAGE_RAW.parse(raw_with_number("72.345")).snapshots[0].priority_gb == "72.345"
    exact = USAGE_RAW.parse(raw_with_number("123456.123456789")).snapshots[0].priority_gb
    assert exact == "123456.123456789"


def test_json_numbers_a_float_cannot_hold_are_read_exactly_not_rounded() -> None:
    raw = raw_with_number("12345678901.123456789")  # 20 digits; a float holds 17
    assert USAGE_RAW.parse(raw).snapshots[0].priority_gb == "12345678901.123456789"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"\xff\xfe", None),
        (b'{"type": "usage.recorded"}', "type"),
        (
            b'{"type": "usage.snapshots_received", "service_line_number": "AST-1-2-3",'
            b' "snapshots": []}',
            "snapshots",
        ),
    ],
)
def test_parse_failures_are_permanent_and_say_where(raw: bytes, field: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        USAGE_RAW.parse(raw)
    if field:
        assert field in (caught.value.fields or {})


def test_timestamps_must_be_aware() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        UsageSnapshotsReceived(
            service_line_number="AST-1-2-3", snapshots=[SNAP], occurred_at=datetime(2026, 11, 1)
        )
    assert UsageSnapshotsReceived(
        service_line_number="AST-1-2-3",
        snapshots=[SNAP],
        occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
    ).occurred_at.tzinfo


def test_every_topic_has_a_dead_letter_topic() -> None:
    names = all_topic_names()
    assert len(names) == 2 * len(ALL_TOPICS)
    assert all(f"{t.name}.dlq" in names for t in ALL_TOPICS)


def test_fast_usage_recorded_json_is_a_valid_usage_recorded_event() -> None:
    from shared.events.topics import USAGE_RECORDED
    from shared.events.usage import UsageRecorded

    rows = [
        {
            "service_line_number": "AST-1-2-3",
            "date": "2026-11-01",
            "priority_gb": "7.5",
            "opt_in_priority_gb": "0",
            "standard_gb": "1.25",
            "non_billable_gb": "0",
            "observed_at": "2026-11-02T00:00:00.000000Z",
        }
    ]
    event = USAGE_RECORDED.parse(UsageRecorded.serialize(rows, "corr-9"))
    assert event.correlation_id == "corr-9" and event.schema_version == 1
    assert event.days[0].priority_gb == "7.5" and event.source == "ingest"
    assert event.days[0].observed_at == datetime(2026, 11, 2, tzinfo=UTC)
    resync = USAGE_RECORDED.parse(UsageRecorded.serialize(rows, None, source="resync"))
    assert resync.source == "resync"


def test_usage_recorded_of_the_old_form_still_parses_and_its_differences_are_not_written() -> None:
    from shared.events.topics import USAGE_RECORDED

    old = (
        b'{"event_id": "6f1c1f1e-1111-4a4a-8b8b-123456789abc", "type": "usage.recorded",'
        b' "occurred_at": "2026-11-02T00:00:00Z", "days": [{"service_line_number": "AST-1-2-3",'
        b' "date": "2026-11-01", "priority_gb": "7.5", "opt_in_priority_gb": "0",'
        b' "standard_gb": "0", "non_billable_gb": "0", "observed_at": "2026-11-02T00:00:00Z",'
        b' "previous_priority_gb": "7", "previous_opt_in_priority_gb": null,'
        b' "previous_standard_gb": null, "previous_non_billable_gb": null}]}'
    )
    event = USAGE_RECORDED.parse(old)
    assert event.days[0].priority_gb == "7.5"
    assert "previous_priority_gb" not in event.model_dump_json()


def test_announcements_are_split_below_the_message_limit() -> None:
    from services.usage.handlers import announcements
    from shared.events.usage import MAX_DAYS_PER_ANNOUNCEMENT
    from shared.kafka import MAX_MESSAGE_BYTES, partition_for

    rows = [
        {
            "service_line_number": "AST-1-2-3",
            "date": f"2026-{m:02d}-{d:02d}",
            "priority_gb": "12345678901.123456789",
            "opt_in_priority_gb": "0",
            "standard_gb": "1.25",
            "non_billable_gb": "0",
            "observed_at": "2026-11-02T00:00:00.000000Z",
        }
        for m in range(1, 13)
        for d in range(1, 29)
    ] * 40
    messages = announcements(rows, None)
    assert len(messages) == -(-len(rows) // MAX_DAYS_PER_ANNOUNCEMENT)
    assert all(len(payload) < MAX_MESSAGE_BYTES // 2 for _, payload in messages)
    assert {partition_for(key) for key, _ in messages} == {partition_for("AST-1-2-3")}


def test_records_message_with_opt_in_above_priority_is_refused_whole() -> None:
    from shared.events.usage import UsageRecordsReceived

    record = {
        "service_line_number": "AST-1-2-3",
        "date": "2026-11-01",
        "priority_gb": "1",
        "opt_in_priority_gb": "2",
        "observed_at": "2026-11-02T00:00:00Z",
    }
    raw = UsageRecordsReceived.serialize([record], "feed", None)  # type: ignore[list-item]
    with pytest.raises(ValidationFailed) as caught:
        USAGE_RAW.parse(raw)
    assert "records.0: opt_in_priority_gb" in str(caught.value.fields)
