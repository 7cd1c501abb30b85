"""A stack of its own for the fault tests (slot 3): three invoicing and two usage replicas in
one consumer group each, quick retries and leases in the notifier."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.stack import ROOT, Stack, StackConfig, wipe

SLOT = int(os.environ.get("BILLPORT_FAULTS_SLOT", "3"))
"""Slot 3 unless set: another run (or an engineer's) may hold it."""
HOME = ROOT / ".local" / ("faults" if SLOT == 3 else f"faults-{SLOT}")
TOKEN = "bp_faults_admin_8Nd3Kq6Wz2Pv9Ly4Hs7Gc5"


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[Stack]:
    wipe(HOME)
    config = StackConfig.isolated(
        HOME, slot=SLOT, admin_token=TOKEN, replicas={"invoicing": 3, "usage": 2}
    )
    config.extra_env.update(
        {
            "BILLPORT_NOTIFIER_RETRY_BASE_SECONDS": "0.3",
            "BILLPORT_NOTIFIER_SEND_LEASE_SECONDS": "5",
            # Every test calls from 127.0.0.1 and many send wrong tokens on purpose: the
            # failed sign-in limit is tested on a gateway of its own (test_security_auth).
            "BILLPORT_GATEWAY_AUTH_MAX_FAILURES": "1000000",
        }
    )
    running = Stack(config)
    try:
        running.start_infra()
        running.start_services()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
async def client(fault_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=fault_stack.config.gateway_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
        limits=httpx.Limits(max_connections=50),
    ) as c:
        yield c
