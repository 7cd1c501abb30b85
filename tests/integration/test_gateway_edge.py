"""The gateway's edge on the real stack: health, auth on every route, clear 4xx errors."""

from __future__ import annotations

import httpx
import pytest

from devstack.stack import Stack

pytestmark = pytest.mark.integration

GOOD = {
    "service_line_number": "AST-1-2-3",
    "date": "2026-11-01",
    "priority_gb": "1",
    "observed_at": "2026-11-02T00:00:00Z",
}


async def test_healthz_names_every_service_kafka_and_postgres(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.gateway_url) as anonymous:
        r = await anonymous.get("/healthz")
        ready = await anonymous.get("/readyz")
        metrics = await anonymous.get("/metrics")
        asyncapi = await anonymous.get("/asyncapi.json")
    assert asyncapi.status_code == 200 and "payments.events" in asyncapi.json()["channels"]
    assert r.status_code == 200 and ready.status_code == 200
    body = r.json()
    assert body["state"] == "up"
    assert set(body["components"]) == {
        "gateway",
        "usage",
        "invoicing",
        "payments",
        "notifier",
        "kafka",
        "postgres",
    }
    assert all(c["state"] == "up" for c in body["components"].values())
    assert "billport_produced_total" in metrics.text


async def test_every_api_route_needs_a_token(stack: Stack, gateway: httpx.AsyncClient) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    routes = [(m, p) for p, ops in spec["paths"].items() for m in ops if p.startswith("/api/v1")]
    assert len(routes) >= 5
    async with httpx.AsyncClient(base_url=stack.config.gateway_url) as anonymous:
        for method, path in routes:
            url = path.replace("{service_line_number}", "AST-1-2-3")
            r = await anonymous.request(method.upper(), url)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["error"]["code"] == "unauthorized"
            bad = await anonymous.request(
                method.upper(), url, headers={"Authorization": "Bearer nope"}
            )
            assert bad.status_code == 401, (method, path)


async def test_roles_are_enforced(stack: Stack, gateway: httpx.AsyncClient) -> None:
    made = await gateway.post("/api/v1/tokens", json={"name": "feed A", "role": "feed"})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert made.json()["role"] == "feed" and made.json()["id"].startswith("tok_")
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as feed:
        pushed = await feed.post("/api/v1/usage/records", json={"records": [GOOD]})
        assert pushed.status_code == 202
        refused = await feed.get(
            "/api/v1/service-lines/AST-1-2-3/usage",
            params={"from": "2026-11-01", "to": "2026-11-02"},
        )
        assert refused.status_code == 403
        assert "admin or finance" in refused.json()["error"]["message"]
        no_tokens = await feed.post("/api/v1/tokens", json={"name": "x", "role": "admin"})
        assert no_tokens.status_code == 403


async def test_token_requests_are_validated(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/v1/tokens", json={"name": "o", "role": "org_user"})
    assert r.status_code == 422
    assert "org_id" in r.json()["error"]["message"] + str(r.json()["error"].get("fields"))
    r = await gateway.post("/api/v1/tokens", json={"name": "o", "role": "superuser"})
    assert r.status_code == 422 and "role" in r.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 400, "bad_request"),
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 422, "validation_failed"),
        (b'{"records": "all of them"}', 422, "validation_failed"),
    ],
)
async def test_malformed_bodies_get_clear_4xx(
    gateway: httpx.AsyncClient, body: bytes, status: int, code: str
) -> None:
    r = await gateway.post(
        "/api/v1/usage/records", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


async def test_each_bad_record_is_rejected_with_its_reason(gateway: httpx.AsyncClient) -> None:
    records = [
        GOOD,
        {**GOOD, "priority_gb": "-1"},
        {**GOOD, "opt_in_priority_gb": "2"},
        {**GOOD, "observed_at": "2026-11-02T00:00:00"},
        {**GOOD, "date": "2026-02-30"},
        {**GOOD, "priority_gb": "1.0000000001"},
        {**GOOD, "extra": "field"},
        "not an object",
    ]
    r = await gateway.post("/api/v1/usage/records", json={"records": records})
    assert r.status_code == 202
    body = r.json()
    assert body["accepted"] == 1
    reasons = {x["index"]: x["reason"] for x in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7]
    assert "non-negative decimal" in reasons[1]
    assert "opt_in_priority_gb" in reasons[2]
    assert "timezone" in reasons[3]
    assert "date" in reasons[4]
    assert "decimal places" in reasons[5]
    assert "extra" in reasons[6]


async def test_too_many_records_in_one_request(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/v1/usage/records", json={"records": [GOOD] * 10_001})
    assert r.status_code == 422
    assert "split" in r.json()["error"]["fields"]["records"]


async def test_unknown_route_and_bad_query_are_json_errors(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await gateway.get("/api/v1/service-lines/AST-1-2-3/usage", params={"from": "yesterday"})
    assert r.status_code == 422 and set(r.json()["error"]["fields"]) == {"from", "to"}
    r = await gateway.get(
        "/api/v1/service-lines/AST-1-2-3/usage-summary", params={"period": "2026-13"}
    )
    assert r.status_code == 422 and "period" in r.json()["error"]["fields"]


async def test_a_token_with_an_empty_organization_is_refused(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/v1/tokens", json={"name": "0", "role": "feed", "org_id": ""})
    assert r.status_code == 422 and "org_id" in r.json()["error"]["fields"]
