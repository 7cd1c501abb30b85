"""A posting checked against its invoice unlocked, on the real PostgreSQL, when another posting
commits between its read and its write: the write does nothing, and the posting is done again
under the invoice's lock against the figures as they are then — refused when it no longer fits,
written with the right balance when it does. Never an invoice paid beyond its amount, never a
posting lost, and the ledger balanced.

The posting runs in the test's process (`postings.post` on a connection of its own) with the
read slowed down so that a posting through the gateway lands in between; everything else is the
real stack, whose relay publishes the in-process posting's event like any other."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.payments import postings, repository
from shared.api.payments import PaymentIn
from shared.errors import ValidationFailed
from tests.integration.helpers import eventually
from tests.integration.payments_helpers import ledger_balanced, one_time_invoice, pay, settled

pytestmark = pytest.mark.integration


@pytest.fixture
async def payments_conn(db: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with db.acquire() as conn:
        await conn.execute("SET search_path TO payments")
        try:
            yield conn
        finally:
            await conn.execute("RESET search_path")


async def known_to_payments(gateway: httpx.AsyncClient, number: str) -> None:
    async def listed() -> int:
        return (await gateway.get(f"/api/v1/invoices/{number}/payments")).status_code

    await eventually(listed, lambda status: status == 200)


def racing_read(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[Any]]
) -> list[str]:
    """Make the unlocked read run `meanwhile` right after it read; answers the calls seen."""
    real = repository.read_for_posting
    calls: list[str] = []

    async def read_then_race(conn: asyncpg.Connection, invoice_id: str, key: str) -> Any:
        row = await real(conn, invoice_id, key)
        calls.append("read")
        if len(calls) == 1:
            await meanwhile()
        return row

    monkeypatch.setattr(repository, "read_for_posting", read_then_race)
    return calls


def payment(amount: str) -> PaymentIn:
    body = {"amount": amount, "received_on": "2026-11-20", "method": "ACH"}
    return PaymentIn.model_validate(body)


async def raced_by_a_posting_of_70(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[str]]:
    """A new invoice of 100.00 on which a posting of 70.00 through the gateway lands right
    after the next in-process posting's unlocked read; answers its number and the reads seen."""
    number = await one_time_invoice(gateway, "100.00")
    await known_to_payments(gateway, number)

    async def other_posting() -> None:
        assert (await pay(gateway, number, "70")).status_code == 201

    return number, racing_read(monkeypatch, other_posting)


async def stored(conn: asyncpg.Connection, number: str) -> tuple[Decimal, int]:
    """The invoice's paid and its number of postings, in the payments service."""
    row = await conn.fetchrow(
        "SELECT paid, (SELECT count(*) FROM payments WHERE invoice_id = $1) AS n"
        " FROM invoices WHERE invoice_id = $1",
        number,
    )
    return row["paid"], row["n"]


async def test_a_posting_that_no_longer_fits_after_a_race_is_refused(
    gateway: httpx.AsyncClient, payments_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, calls = await raced_by_a_posting_of_70(gateway, monkeypatch)
    # Read unlocked: balance 100.00, so 40.00 fits; by the write it is 30.00.
    with pytest.raises(ValidationFailed) as refused:
        await postings.post(payments_conn, number, payment("40"), uuid.uuid4().hex, "t", None)
    assert refused.value.fields == {"amount": "must not exceed the balance 30.00"}
    assert calls == ["read"]  # the second look was the locked one
    assert await stored(payments_conn, number) == (Decimal("70.00"), 1)
    assert await settled(gateway, number, Decimal(70)) == (
        "PARTIAL_PAID",
        "100.00",
        "70.00",
        "30.00",
    )
    await ledger_balanced(gateway)


async def test_a_posting_that_still_fits_after_a_race_is_written_on_the_new_figures(
    gateway: httpx.AsyncClient, payments_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, _ = await raced_by_a_posting_of_70(gateway, monkeypatch)
    done = await postings.post(payments_conn, number, payment("20"), uuid.uuid4().hex, "t", None)
    assert done is not None
    posted, created = done
    # 100.00 - 70.00 - 20.00, not the 80.00 the unlocked read would have written.
    assert created and (posted["amount"], posted["balance_after"]) == ("20.00", "10.00")
    assert await stored(payments_conn, number) == (Decimal("90.00"), 2)
    assert await settled(gateway, number, Decimal(90)) == (
        "PARTIAL_PAID",
        "100.00",
        "90.00",
        "10.00",
    )
    await ledger_balanced(gateway)


async def test_the_same_key_posted_meanwhile_is_answered_not_written_twice(
    gateway: httpx.AsyncClient, payments_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = await one_time_invoice(gateway, "100.00")
    await known_to_payments(gateway, number)
    key = uuid.uuid4().hex
    first: dict[str, Any] = {}

    async def same_key() -> None:
        r = await pay(gateway, number, "25", key=key)
        assert r.status_code == 201
        first.update(r.json())

    racing_read(monkeypatch, same_key)
    body = PaymentIn.model_validate(
        {"amount": "25", "received_on": "2026-11-20", "method": "WIRE"}
    )  # what `pay` sends: the same request
    done = await postings.post(payments_conn, number, body, key, "t", None)
    assert done is not None
    again, created = done
    assert not created and again["payment_id"] == first["payment_id"]
    assert await stored(payments_conn, number) == (Decimal("25.00"), 1)
    await ledger_balanced(gateway)
