"""The order of an invoice's webhook deliveries across its two topics, without a stack: which
topic waits for which, where the partner stood for an invoice, how far a batch was read. The
queue itself (`lease_due`) is tested on the real database in tests/integration/test_webhooks.py."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from services.notifier.webhook_consumer import after_of, deliveries_of, read_up_to
from services.notifier.webhook_repository import After
from services.notifier.webhooks import PARTNERS, TOPICS, types_of
from shared.events.payments import PaymentPosted
from shared.events.topics import INVOICING_EVENTS, PAYMENTS_EVENTS, USAGE_ALERTS
from shared.kafka import partition_for


def test_an_invoices_own_events_and_its_payments_wait_for_each_other_alerts_for_none() -> None:
    assert PARTNERS == {
        "invoicing.events": PAYMENTS_EVENTS,
        "payments.events": INVOICING_EVENTS,
    }
    assert INVOICING_EVENTS.key_field == PAYMENTS_EVENTS.key_field == "invoice_id"
    assert USAGE_ALERTS.name not in PARTNERS and USAGE_ALERTS in TOPICS
    assert types_of(PAYMENTS_EVENTS) == ("payment.posted", "payment.reversed")
    assert "invoice.restated" not in types_of(INVOICING_EVENTS)  # never delivered


def test_the_partner_stands_where_its_partition_for_the_invoice_ends() -> None:
    ends = {p: 100 + p for p in range(6)}
    for invoice in ("INV-202611-000001", "INV-202611-000002", "INV-202612-123456"):
        p = partition_for(invoice, 6)  # where both topics put the invoice's records
        assert after_of(PAYMENTS_EVENTS, invoice, ends) == After("payments.events", p, 100 + p)
    three = {0: 5, 1: 6, 2: 7}  # a partner with fewer partitions: its own partitioning counts
    p = partition_for("INV-202611-000001", 3)
    assert after_of(INVOICING_EVENTS, "INV-202611-000001", three) == After(
        "invoicing.events", p, three[p]
    )


def test_a_batch_is_read_up_to_the_offset_after_its_last_record_of_each_partition() -> None:
    records = [SimpleNamespace(partition=p, offset=o) for p, o in [(2, 7), (0, 3), (2, 9), (2, 8)]]
    assert read_up_to(records) == {0: 4, 2: 10}
    assert read_up_to([]) == {}


def test_a_delivery_says_its_topic_and_when_its_event_occurred() -> None:
    posted = PaymentPosted(
        payment_id="p1",
        invoice_id="INV-202611-000001",
        amount=Decimal("5.50"),
        received_on="2026-11-03",  # type: ignore[arg-type]
        method="ACH",
        posted_by="tok_1",
    )
    (found,) = deliveries_of(PAYMENTS_EVENTS, [SimpleNamespace(value=posted.to_json())])
    assert (found.topic, found.resource, found.event_type) == (
        "payments.events",
        "INV-202611-000001",
        "payment.posted",
    )
    assert found.occurred_at == posted.occurred_at and found.after is None
