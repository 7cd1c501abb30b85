"""The real local stack for integration tests: fresh Kafka, PostgreSQL, SMTP inbox, every
service and the gateway, on ports of their own, so a running `make run` is not disturbed.
If anything cannot start, every test here fails with the reason: nothing is skipped.

The stack lives as long as this package's tests (scope "package"): it is stopped before the
fault tests start their own, so the two never share the machine."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from devstack.stack import ROOT, Stack, StackConfig, wipe

SLOT = int(os.environ.get("BILLPORT_TEST_SLOT", "1"))
"""Slot 1 unless told: a developer may run a second suite beside the first on another slot."""
TEST_HOME = ROOT / ".local" / ("test" if SLOT == 1 else f"test-{SLOT}")
ADMIN_TOKEN = "bp_test_admin_5Jq8Vw2Lz7Hn4Rk9Xc3Tf6Bm"


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    wipe(TEST_HOME)
    config = StackConfig.isolated(TEST_HOME, slot=SLOT, admin_token=ADMIN_TOKEN)
    # Quick retries and leases, so that failure and crash tests of the notifier finish fast.
    config.extra_env.update(
        {
            "BILLPORT_NOTIFIER_RETRY_BASE_SECONDS": "0.3",
            "BILLPORT_NOTIFIER_SEND_LEASE_SECONDS": "4",
            # A seller tax id: EN 16931 requires one, so the PDFs carry a valid Factur-X.
            "BILLPORT_NOTIFIER_RESELLER_TAX_ID": "91-1234567",
            # Quick webhook retries, a short timeout and a short lease (tests/integration/
            # test_webhooks.py): 20 tries over about 17 s, disabled after 2 failed deliveries.
            "BILLPORT_NOTIFIER_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
            "BILLPORT_NOTIFIER_WEBHOOK_RETRY_MAX_SECONDS": "1",
            "BILLPORT_NOTIFIER_WEBHOOK_MAX_ATTEMPTS": "20",
            "BILLPORT_NOTIFIER_WEBHOOK_TIMEOUT_SECONDS": "1.5",
            "BILLPORT_NOTIFIER_WEBHOOK_LEASE_SECONDS": "4",
            "BILLPORT_NOTIFIER_WEBHOOK_DISABLE_AFTER_FAILURES": "2",
            # Every test calls from 127.0.0.1 and many send wrong tokens on purpose: the
            # failed sign-in limit is tested on a gateway of its own (test_security_auth).
            "BILLPORT_GATEWAY_AUTH_MAX_FAILURES": "1000000",
            # Short request-body limits, so that the slow-body tests of the edge finish fast.
            "BILLPORT_GATEWAY_BODY_TIMEOUT_SECONDS": "5",
            "BILLPORT_GATEWAY_BODY_IDLE_SECONDS": "3",
            # The scheduler bills the month at start-up on any day and hour, the first six
            # hours of the 1st (UTC) too (its settle wait is unit-tested: `is_due`).
            "BILLPORT_INVOICING_SCHEDULER_SETTLE_HOURS": "0",
        }
    )
    running = Stack(config)
    try:
        running.start_infra()
        running.start_services()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="package")
async def db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """Direct database access, for assertions on what the services stored."""
    pool = await asyncpg.create_pool(stack.config.dsn, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()
