"""The gateway's document and payment routes each make exactly one call to one service: the
waiting for a new invoice and the rendering of a document happen in the services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.gateway.auth import Principal
from services.gateway.routes import documents, payments
from shared.api.payments import PaymentIn

STAFF = Principal(token_id="tok_1", name="finance", role="finance")
INVOICE = "INV-202611-000001"


class Recording:
    """Stands for the gateway's `Services`: records every call, answers one prepared reply."""

    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, str]] = []

    async def request(self, service: str, method: str, path: str, **_: Any) -> httpx.Response:
        self.calls.append((service, method, path))
        return self.answer

    async def get(self, service: str, path: str, params: Any = None) -> Any:
        self.calls.append((service, "GET", path))
        return self.answer.json()


@pytest.fixture(autouse=True)
def no_audit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    actions: list[str] = []

    async def record(_db: Any, _user: Any, _request: Any, action: str, *_: Any) -> None:
        actions.append(action)

    async def record_batched(_user: Any, _request: Any, action: str, *_: Any) -> None:
        actions.append(action)

    monkeypatch.setattr(payments, "record", record)
    monkeypatch.setattr(payments, "record_batched", record_batched)
    return actions


async def test_a_payment_is_one_call_and_a_replay_keeps_its_header(no_audit: list[str]) -> None:
    posted = {"payment_id": "pay_1", "amount": "5.00"}
    body = PaymentIn(amount=Decimal(5), received_on=date(2026, 11, 20), method="WIRE")
    for replayed, header in ((False, {}), (True, {"Idempotent-Replayed": "true"})):
        services: Any = Recording(httpx.Response(201, json=posted, headers=header))
        unused: Any = None  # the request only reaches the (replaced) audit
        answer = await payments.post_payment(INVOICE, body, STAFF, services, unused, "k")
        assert services.calls == [("payments", "POST", f"/internal/invoices/{INVOICE}/payments")]
        assert answer.status_code == 201
        assert answer.headers.get("Idempotent-Replayed") == ("true" if replayed else None)
    assert no_audit == ["payment.post", "payment.replayed"]


async def test_listing_payments_is_one_call() -> None:
    services: Any = Recording(httpx.Response(200, json={"items": [], "next_cursor": None}))
    assert await payments.invoice_payments(INVOICE, STAFF, services) == {
        "items": [],
        "next_cursor": None,
    }
    assert services.calls == [("payments", "GET", f"/internal/invoices/{INVOICE}/payments")]


async def test_the_document_and_the_pdf_are_one_call_to_invoicing() -> None:
    html: Any = Recording(httpx.Response(200, text="<html>INV</html>"))
    page = await documents.document(INVOICE, STAFF, html)
    assert page.body == b"<html>INV</html>"
    assert html.calls == [("invoicing", "GET", f"/internal/invoices/{INVOICE}/document")]
    pdf: Any = Recording(httpx.Response(200, content=b"%PDF-1.7"))
    made = await documents.pdf(INVOICE, STAFF, pdf)
    assert made.body == b"%PDF-1.7" and made.media_type == "application/pdf"
    assert pdf.calls == [("invoicing", "GET", f"/internal/invoices/{INVOICE}/pdf")]
