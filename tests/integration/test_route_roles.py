"""Every route of the public API by every role: the answer says who may do what.

The README's table "Who may do what" is the specification (api.md: admin everything; finance
invoices, payments, approve, send and catalog read; org_user reads and downloads within its own
tree; feed usage ingest only). A route missing from it fails the test, so a new route must say
its roles there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration

ROLES = ("admin", "finance", "org_user", "feed")
README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(GET|POST|PATCH|PUT|DELETE) (/api/v1/\S*)` \|(.*)\|\s*$")


def roles_table() -> dict[tuple[str, str], set[str]]:
    """The README's table "Who may do what": route -> the roles with a ✓."""
    table: dict[tuple[str, str], set[str]] = {}
    for line in README.read_text().splitlines():
        found = ROW.match(line)
        if found:
            marks = [cell.strip() for cell in found.group(3).split("|")]
            assert len(marks) == len(ROLES), line
            table[(found.group(1), found.group(2))] = {
                role for role, mark in zip(ROLES, marks, strict=True) if mark == "✓"
            }
    return table


ALLOWED = roles_table()
PARAMS = {
    "{invoice_id}": "INV-209901-999999",
    "{credit_note_id}": "CN-209901-999999",
    "{webhook_id}": "wh_none",
    "{payment_id}": "pay_none",
    "{failure_id}": "999999999",
    "{job_id}": "999999999",
    "{token_id}": "tok_none",
    "{org_id}": "org_none",
    "{plan_id}": "plan_none",
    "{pool_id}": "pool_none",
    "{service_line_number}": "AST-0-0-0",
}


async def test_every_route_for_every_role(stack: Stack, gateway: httpx.AsyncClient) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    routes = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if path.startswith("/api/v1")
    }
    assert routes == set(ALLOWED), {"unlisted": routes - set(ALLOWED)}

    org = (await gateway.post("/api/v1/organizations", json={"name": "Roles Co"})).json()
    tokens = {"admin": ADMIN_TOKEN}
    for role in ("finance", "org_user", "feed"):
        scope = {"org_id": org["id"]} if role == "org_user" else {}
        made = await gateway.post("/api/v1/tokens", json={"name": role, "role": role, **scope})
        tokens[role] = made.json()["token"]

    wrong: list[Any] = []
    for (method, path), allowed in sorted(ALLOWED.items()):
        url = path
        for name, value in PARAMS.items():
            url = url.replace(name, value)
        body = {"json": {}} if method in ("POST", "PATCH") else {}
        for role, token in tokens.items():
            async with httpx.AsyncClient(
                base_url=stack.config.gateway_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as client:
                r = await client.request(method, url, **body)
            refused = r.status_code == 403
            if refused == (role in allowed) or r.status_code in (401, 500):
                wrong.append((method, path, role, r.status_code, r.text[:120]))
            if refused:
                assert r.json()["error"]["code"] == "forbidden"
    assert wrong == []


async def test_state_changes_leave_audit_records(gateway: httpx.AsyncClient) -> None:
    org = (await gateway.post("/api/v1/organizations", json={"name": "Audited Co"})).json()
    pushed = await gateway.post(
        "/api/v1/usage/records",
        json={
            "records": [
                {
                    "service_line_number": "AST-9-9-9",
                    "date": "2026-11-01",
                    "priority_gb": "1",
                    "observed_at": "2026-11-02T00:00:00Z",
                }
            ]
        },
    )
    assert pushed.status_code == 202
    page = (await gateway.get("/api/v1/audit", params={"limit": 50})).json()
    actions = [(r["action"], r["subject"]) for r in page["items"]]
    assert ("usage.push", "/api/v1/usage/records") in actions
    created = [r for r in page["items"] if r["subject"] == org["id"]]
    assert created and created[0]["role"] == "admin" and created[0]["client_ip"] == "127.0.0.1"
    assert created[0]["at"].endswith("Z") and created[0]["actor"]
