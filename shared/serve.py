"""Running a service's FastAPI app under uvicorn (the `__main__` of every service)."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from shared.bounded_http import MAX_HEADER_BYTES, BoundedHttpToolsProtocol
from shared.settings import ServiceSettings

MAX_CONNECTIONS = 1000
"""Open connections and requests in progress at once; beyond it uvicorn answers 503 at once, so
a crowd of slow or idle clients cannot take every file descriptor of the process."""


def serve(create_app: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    # `X-Forwarded-For` is believed only from the proxies named in the settings (the gateway's
    # BILLPORT_GATEWAY_TRUSTED_PROXIES); uvicorn's own default would believe loopback.
    trusted = str(getattr(settings, "trusted_proxies", "")).strip()
    # httptools, the faster parser, with the request's line and headers bounded
    # (`bounded_http`: 431 beyond MAX_HEADER_BYTES); h11 (a setting `http_protocol`) bounds
    # them too, answering 400.
    protocol = getattr(settings, "http_protocol", "httptools")
    uvicorn.run(
        create_app(),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http=BoundedHttpToolsProtocol if protocol == "httptools" else "h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES if protocol == "h11" else None,
        limit_concurrency=MAX_CONNECTIONS,
        log_config=None,
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        timeout_graceful_shutdown=10,
        # Longer than clients keep an idle connection (httpx: 5 s), so the server never closes
        # one just as a client sends on it (a reset that would make a POST's fate unknown).
        # Request bodies have their own, shorter limits at the gateway's edge (408).
        timeout_keep_alive=30,
    )
