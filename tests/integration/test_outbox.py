"""The outbox relay on the real stack: an event Kafka can never carry is set aside with the
reason and does not block the events behind it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


async def test_oversized_outbox_row_is_set_aside_not_blocking(
    gateway: httpx.AsyncClient, db: Any
) -> None:
    await db.execute(
        "INSERT INTO usage.outbox (topic, key, payload) VALUES ('usage.recorded', 'AST-9-9-9', $1)",
        b"x" * (9 * 1024 * 1024),
    )
    body = {
        "records": [
            {
                "service_line_number": "AST-OUTBOX-00001-01",
                "date": "2026-11-03",
                "priority_gb": "3",
                "observed_at": "2026-11-04T00:00:00Z",
            }
        ]
    }
    assert (await gateway.post("/api/v1/usage/records", json=body)).status_code == 202

    async def summary() -> dict[str, Any]:
        r = await gateway.get(
            "/api/v1/service-lines/AST-OUTBOX-00001-01/usage-summary", params={"period": "2026-11"}
        )
        return dict(r.json())

    await eventually(summary, lambda s: s["priority_gb"] == "3")
    dead = await db.fetch("SELECT key, reason FROM usage.outbox_dead")
    assert [(d["key"], "exceeds" in d["reason"]) for d in dead] == [("AST-9-9-9", True)]
    assert await db.fetchval("SELECT count(*) FROM usage.outbox") == 0
