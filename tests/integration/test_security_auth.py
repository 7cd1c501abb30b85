"""Security on the real stack: who may call what, with which credential.

Each test is a finding of the review of issue 14 that held before the change:
- the services' internal APIs took any call, and the caller named the actor;
- a leaked token could not be revoked, nor expire; a placeholder bootstrap token was accepted;
- wrong tokens were answered 401 for ever, unaudited; `X-Forwarded-For` from anyone was believed;
- an org user saw every customer's plans and products and the staff's notes on postings;
- `POST /tokens` took an organization that does not exist.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.procs import spawn, stop_group, wait_port
from devstack.stack import ROOT, Stack
from shared.internal_auth import HEADER, Caller, sign
from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration


def internal_url(stack: Stack, service: str) -> str:
    return stack.config.service_urls(service)[0]


def secret_of(stack: Stack) -> str:
    """The stack's internal secret, as its processes got it."""
    return stack.config.internal_secret


async def make_org(gateway: httpx.AsyncClient, name: str) -> str:
    made = await gateway.post("/api/v1/organizations", json={"name": name})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def token_for(gateway: httpx.AsyncClient, role: str, **extra: Any) -> dict[str, Any]:
    made = await gateway.post("/api/v1/tokens", json={"name": f"{role} t", "role": role, **extra})
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def as_token(stack: Stack, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=stack.config.gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


# --- internal calls ------------------------------------------------------------------------


async def test_unsigned_and_forged_internal_calls_are_refused(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    org = await make_org(gateway, "Internal Co")
    invoicing = internal_url(stack, "invoicing")
    payments = internal_url(stack, "payments")
    admin = Caller(actor="tok_forger", role="admin")
    forged = {
        "no credential": {},
        "actor headers only": {"X-BillPort-Actor": "tok_boss", "X-BillPort-Client": "203.0.113.9"},
        "wrong secret": {HEADER: sign(admin, "x" * 40, "invoicing")},
        "expired": {
            HEADER: sign(admin, secret_of(stack), "invoicing", now_seconds=time.time() - 600)
        },
        "other audience": {HEADER: sign(admin, secret_of(stack), "usage")},
        "garbage": {HEADER: "not.a.jwt"},
    }
    async with httpx.AsyncClient(timeout=10) as raw:
        for what, headers in forged.items():
            calls = [
                raw.post(
                    f"{invoicing}/internal/products",
                    json={"name": "x", "unit_price": "1"},
                    headers=headers,
                ),
                raw.get(f"{invoicing}/internal/organizations/{org}", headers=headers),
                raw.post(f"{invoicing}/internal/invoices/INV-1/approve", headers=headers),
                raw.get(f"{payments}/internal/ledger/check", headers=headers),
            ]
            for answer in await asyncio.gather(*calls):
                assert answer.status_code == 401, (what, answer.request.url, answer.text)
                assert answer.json()["error"]["code"] == "unauthorized"
        products = (await gateway.get("/api/v1/products", params={"limit": 1000})).json()
    assert not [p for p in products["items"] if p["name"] == "x"]  # nothing was created


async def test_a_valid_org_user_credential_only_reads_its_own_tree(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """Even a leaked, validly signed credential of an org user neither writes nor reads
    another tree: the service confines it by itself, whatever the query asks."""
    mine, other = await make_org(gateway, "Mine Co"), await make_org(gateway, "Other Co")
    caller = Caller(actor="tok_org", role="org_user", org_id=mine)
    signed = {HEADER: sign(caller, secret_of(stack), "invoicing")}
    invoicing = internal_url(stack, "invoicing")
    async with httpx.AsyncClient(timeout=10, headers=signed) as raw:
        write = await raw.post(f"{invoicing}/internal/products", json={"name": "y"})
        others = await raw.get(f"{invoicing}/internal/organizations/{other}")
        own = await raw.get(f"{invoicing}/internal/organizations/{mine}")
        listed = await raw.get(f"{invoicing}/internal/organizations", params={"org_id": other})
    assert write.status_code == 403
    assert others.status_code == 404 and own.status_code == 200
    assert listed.json()["items"] == []


async def test_the_actor_comes_from_the_credential(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """A payment posted through the gateway is recorded as the token that posted it, from
    the address the gateway saw; a body or header naming someone else changes nothing."""
    from tests.integration.payments_helpers import one_time_invoice

    finance = await token_for(gateway, "finance")
    invoice_id = await one_time_invoice(gateway, "50.00", "actor")
    async with as_token(stack, finance["token"]) as client:
        posted = await client.post(
            f"/api/v1/invoices/{invoice_id}/payments",
            json={"amount": "10.00", "received_on": "2026-11-20", "method": "WIRE"},
            headers={
                "Idempotency-Key": "actor-1",
                "X-BillPort-Actor": "tok_somebody_else",
                "X-BillPort-Client": "203.0.113.66",
                "X-Forwarded-For": "203.0.113.66",
            },
        )
    assert posted.status_code == 201, posted.text
    assert posted.json()["posted_by"] == finance["id"]
    assert posted.json()["client_addr"] == "127.0.0.1"
    audit = (await gateway.get("/api/v1/audit", params={"subject": invoice_id})).json()
    post = next(r for r in audit["items"] if r["action"] == "payment.post")
    assert post["actor"] == finance["id"] and post["client_ip"] == "127.0.0.1"


# --- tokens ----------------------------------------------------------------------------------


async def test_a_revoked_token_is_refused_at_once(stack: Stack, gateway: httpx.AsyncClient) -> None:
    made = await token_for(gateway, "finance")
    async with as_token(stack, made["token"]) as client:
        assert (await client.get("/api/v1/whoami")).status_code == 200
        revoked = await gateway.delete(f"/api/v1/tokens/{made['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        after = await client.get("/api/v1/whoami")
    assert after.status_code == 401 and after.json()["error"]["code"] == "unauthorized"
    again = await gateway.delete(f"/api/v1/tokens/{made['id']}")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert (await gateway.delete("/api/v1/tokens/tok_none")).status_code == 404
    listed = (await gateway.get("/api/v1/tokens", params={"limit": 1000})).json()["items"]
    row = next(t for t in listed if t["id"] == made["id"])
    assert row["revoked_at"] and row["last_used_at"] and "token" not in row
    assert "token_hash" not in row
    audit = (await gateway.get("/api/v1/audit", params={"subject": made["id"]})).json()
    assert {"token.create", "token.revoke", "auth.failed"} <= {r["action"] for r in audit["items"]}


async def test_an_expired_token_is_refused(stack: Stack, gateway: httpx.AsyncClient) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    made = await token_for(gateway, "finance", expires_at=soon)
    async with as_token(stack, made["token"]) as client:
        assert (await client.get("/api/v1/whoami")).status_code == 200
        await asyncio.sleep(2.5)
        assert (await client.get("/api/v1/whoami")).status_code == 401
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    refused = await gateway.post(
        "/api/v1/tokens", json={"name": "late", "role": "feed", "expires_at": past}
    )
    assert refused.status_code == 422 and "expires_at" in refused.json()["error"]["fields"]
    for hostile in ("9999-12-31T00:00:00Z", "2027-01-01T00:00:00", "tomorrow"):
        refused = await gateway.post(
            "/api/v1/tokens", json={"name": "odd", "role": "feed", "expires_at": hostile}
        )
        assert refused.status_code == 422, hostile
        assert set(refused.json()["error"]["fields"]) == {"expires_at"}, hostile


async def test_a_token_for_an_unknown_organization_is_refused(gateway: httpx.AsyncClient) -> None:
    refused = await gateway.post(
        "/api/v1/tokens", json={"name": "ghost", "role": "org_user", "org_id": "org_ghost"}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == {"org_id": "no organization org_ghost"}


# --- a gateway of its own: weak bootstrap token, failed sign-in limit, trusted proxies -------


@pytest.fixture
def second_gateway(stack: Stack) -> Iterator[Any]:
    """Starts another gateway replica on the same stack with settings of its own."""
    started: list[subprocess.Popen[bytes]] = []

    def start(offset: int, **settings: str) -> str:
        port = stack.config.gateway_port - offset  # below the stack's own ports
        env = {**stack.config.gateway_env(), "BILLPORT_GATEWAY_PORT": str(port), **settings}
        log = stack.config.home / "logs" / f"gateway-{port}.log"
        proc = spawn([sys.executable, "-m", "services.gateway"], log, env=env, cwd=ROOT)
        started.append(proc)
        wait_port(port, 60, proc, "second gateway", log)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        stop_group(proc.pid, timeout=5)


def test_a_weak_bootstrap_token_stops_the_gateway(stack: Stack) -> None:
    for weak in ("change-me", "bp_short", "replace-with-a-random-token-of-forty-chars"):
        env = {**os.environ, **stack.config.gateway_env()}
        env.update(
            {
                "BILLPORT_ADMIN_TOKEN": weak,
                "BILLPORT_GATEWAY_PORT": str(stack.config.gateway_port - 1),
            }
        )
        ended = subprocess.run(
            [sys.executable, "-m", "services.gateway"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ended.returncode != 0, weak
        assert "BILLPORT_ADMIN_TOKEN is refused" in ended.stdout + ended.stderr, weak


async def test_failed_sign_ins_are_limited_per_address_and_audited(
    stack: Stack, gateway: httpx.AsyncClient, second_gateway: Any
) -> None:
    url = second_gateway(
        2,
        BILLPORT_GATEWAY_AUTH_MAX_FAILURES="5",
        BILLPORT_GATEWAY_AUTH_FAILURE_WINDOW_SECONDS="3",
    )
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        wrong = [
            await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer bp_guess{i}"})
            for i in range(5)
        ]
        assert [r.status_code for r in wrong] == [401] * 5
        blocked = await client.get("/api/v1/whoami", headers={"Authorization": "Bearer bp_x"})
        good = await client.get(
            "/api/v1/whoami", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert blocked.status_code == 429 and good.status_code == 429
        assert 1 <= int(blocked.headers["Retry-After"]) <= 4
        await asyncio.sleep(int(good.headers["Retry-After"]) + 0.2)
        later = await client.get(
            "/api/v1/whoami", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert later.status_code == 200
    audit = (await gateway.get("/api/v1/audit", params={"action": "auth.failed"})).json()
    limited = [r for r in audit["items"] if r["detail"].get("rate_limited")]
    assert limited and limited[0]["client_ip"] == "127.0.0.1"
    assert limited[0]["detail"]["reason"] == "unknown"


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    stack: Stack, gateway: httpx.AsyncClient, second_gateway: Any
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.66"}
    untrusted = await gateway.post(
        "/api/v1/organizations", json={"name": "XFF untrusted"}, headers=forwarded
    )
    url = second_gateway(3, BILLPORT_GATEWAY_TRUSTED_PROXIES="127.0.0.1")
    async with httpx.AsyncClient(
        base_url=url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as behind_proxy:
        trusted = await behind_proxy.post(
            "/api/v1/organizations", json={"name": "XFF trusted"}, headers=forwarded
        )
    addresses = {}
    for made in (untrusted, trusted):
        audit = (await gateway.get("/api/v1/audit", params={"subject": made.json()["id"]})).json()
        addresses[made.json()["name"]] = audit["items"][0]["client_ip"]
    assert addresses == {"XFF untrusted": "127.0.0.1", "XFF trusted": "203.0.113.66"}


# --- least privilege -------------------------------------------------------------------------


async def test_an_org_user_sees_only_what_its_tree_uses(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    from tests.integration.payments_helpers import pay, settled

    mine, other = await make_org(gateway, "Visible Co"), await make_org(gateway, "Hidden Co")
    plans = {}
    for name in ("Mine plan", "Other plan"):
        made = await gateway.post(
            "/api/v1/plans",
            json={
                "name": name,
                "monthly_price": "10.00",
                "allowance_gb": "1",
                "overage_price_per_gb": "1.0000",
            },
        )
        assert made.status_code == 201, made.text
        plans[name] = made.json()["id"]
    for org, plan, number in ((mine, "Mine plan", "VIS-1"), (other, "Other plan", "HID-1")):
        line = await gateway.post(
            "/api/v1/service-lines",
            json={
                "service_line_number": number,
                "name": number,
                "org_id": org,
                "plan_id": plans[plan],
                "active_from": "2026-11-01",
            },
        )
        assert line.status_code == 201, line.text
    products = {}
    for name in ("Mine dish", "Other dish"):
        made = await gateway.post("/api/v1/products", json={"name": name, "unit_price": "5.00"})
        products[name] = made.json()["id"]
    orders = {}
    for org, product in ((mine, "Mine dish"), (other, "Other dish")):
        ordered = await gateway.post(
            "/api/v1/product-orders",
            json={
                "org_id": org,
                "ordered_on": "2026-11-20",
                "items": [{"product_id": products[product], "quantity": "1"}],
            },
        )
        assert ordered.status_code == 201, ordered.text
        orders[org] = ordered.json()["invoice_id"]
    await pay(gateway, orders[mine], "2.00", key="visible-1", note="customer is slow; call CFO")
    await settled(gateway, orders[mine], Decimal("2.00"))

    user = await token_for(gateway, "org_user", org_id=mine)
    async with as_token(stack, user["token"]) as client:
        seen_plans = (await client.get("/api/v1/plans")).json()["items"]
        seen_products = (await client.get("/api/v1/products")).json()["items"]
        hidden_plan = await client.get(f"/api/v1/plans/{plans['Other plan']}")
        own_plan = await client.get(f"/api/v1/plans/{plans['Mine plan']}")
        invoice = (await client.get(f"/api/v1/invoices/{orders[mine]}")).json()
        payments = await client.get(f"/api/v1/invoices/{orders[mine]}/payments")
    assert [p["name"] for p in seen_plans] == ["Mine plan"]
    assert [p["name"] for p in seen_products] == ["Mine dish"]
    assert hidden_plan.status_code == 404 and own_plan.status_code == 200
    assert [p["amount"] for p in invoice["payments"]] == ["2.00"]
    assert invoice["payments"][0]["note"] is None and invoice["payments"][0]["posted_by"] is None
    assert payments.status_code == 403
    staff_view = (await gateway.get(f"/api/v1/invoices/{orders[mine]}")).json()
    assert staff_view["payments"][0]["note"] == "customer is slow; call CFO"
