"""Schemathesis against the gateway's own OpenAPI: generated requests for every operation, as
the admin, and no answer is a 5xx. Reads get valid and invalid inputs; changes get invalid
ones only (so the run leaves no invoices, tokens or mail behind for the other tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from devstack.stack import Stack
from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration
EXAMPLES = 25


def fuzz(
    base_url: str, token: str = ADMIN_TOKEN, examples: int = EXAMPLES
) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.NEGATIVE]
        if operation.method.upper() == "GET":
            modes.append(GenerationMode.POSITIVE)
        for mode in modes:

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,  # the same inputs every run: CI is reproducible
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}:"
                        f" {response.text[:200]}"
                    )

            try:
                call()
            except Unsatisfiable:  # nothing in this operation can be made invalid
                continue
    return calls, failures


async def test_no_generated_request_gets_a_5xx(stack: Stack) -> None:
    calls, failures = await asyncio.to_thread(fuzz, stack.config.gateway_url)
    assert calls > 500
    assert failures == [], "\n".join(failures)
