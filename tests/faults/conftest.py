"""A stack of its own for the fault tests: three invoicing and two usage replicas in one
consumer group each, quick retries and leases in the notifier. Slot 3 beside the integration
tests' slot 1; when the tests run on another slot (`BILLPORT_TEST_SLOT`), on that slot too:
the integration stack is stopped by then (its fixtures are the package's)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.stack import ROOT, Stack, StackConfig, wipe

TEST_SLOT = int(os.environ.get("BILLPORT_TEST_SLOT", "1"))
SLOT = int(os.environ.get("BILLPORT_FAULTS_SLOT", "3" if TEST_SLOT == 1 else str(TEST_SLOT)))
"""Slot 3 beside the default test slot 1, else the test slot, unless BILLPORT_FAULTS_SLOT says."""
HOME = ROOT / ".local" / ("faults" if SLOT == 3 else f"faults-{SLOT}")
TOKEN = "bp_faults_admin_8Nd3Kq6Wz2Pv9Ly4Hs7Gc5"
FIRST = "tests/faults/test_fuzz.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fuzz module first on the fault stack, the other fault modules after it in their
    order. Generated requests include resyncs, usage checks and billing runs, whose work grows
    with the stack's data: after the fault runs' 1.4 million days the ~12,000 requests took
    21.6 minutes of `make test`, on a fresh stack under 5 minutes. The fault runs, the replay
    and the workload then run on a stack holding the fuzz's leftovers (dead letters, a few
    organizations and tokens), which they must not mind."""
    faults = [i for i, item in enumerate(items) if item.nodeid.startswith("tests/faults/")]
    ordered = sorted((items[i] for i in faults), key=lambda item: not item.nodeid.startswith(FIRST))
    for i, item in zip(faults, ordered, strict=True):
        items[i] = item


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
            # test_stalled_consumer stalls the payments consumer on purpose (60 s by default).
            "BILLPORT_PAYMENTS_CONSUMER_STALL_SECONDS": "10",
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
