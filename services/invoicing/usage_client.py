"""Calls to the usage service's internal API (its replicas in turn until one answers)."""

from __future__ import annotations

from typing import Any

import httpx

from shared import correlation
from shared.errors import TransientError
from shared.internal_auth import HEADER, Caller, sign
from shared.service import Runtime

AS_INVOICING = Caller(actor="invoicing", role="service")


async def call(
    runtime: Runtime, method: str, path: str, seconds: float, **kwargs: Any
) -> httpx.Response:
    """The first replica's answer (any status); TransientError when none is reachable."""
    urls: list[str] = list(getattr(runtime.settings, "usage_url_list", []))
    headers = {
        correlation.HEADER: correlation.current() or "",
        HEADER: sign(AS_INVOICING, runtime.secret, "usage"),
    }
    async with httpx.AsyncClient(timeout=seconds) as http:
        for base in urls:
            try:
                return await http.request(method, base + path, headers=headers, **kwargs)
            except httpx.TransportError:
                continue  # another replica may answer
    raise TransientError("the usage service is not reachable; try again shortly")


def error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
