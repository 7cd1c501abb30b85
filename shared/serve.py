"""Running a service's FastAPI app under uvicorn (the `__main__` of every service)."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from shared.settings import ServiceSettings

MAX_HEADER_BYTES = 16 * 1024
"""The request line and headers of one request (h11 answers 400 beyond it): a bearer token and
the usual headers take well under 2 KiB."""
MAX_CONNECTIONS = 1000
"""Open connections and requests in progress at once; beyond it uvicorn answers 503 at once, so
a crowd of slow or idle clients cannot take every file descriptor of the process."""


def serve(create_app: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    # `X-Forwarded-For` is believed only from the proxies named in the settings (the gateway's
    # BILLPORT_GATEWAY_TRUSTED_PROXIES); uvicorn's own default would believe loopback.
    trusted = str(getattr(settings, "trusted_proxies", "")).strip()
    # The internal services' callers are our own: httptools, the faster parser. The public edge
    # (a setting `http_protocol`, the gateway's "h11") takes h11, which bounds the size of a
    # request's headers; httptools reads headers of any size into memory.
    protocol = getattr(settings, "http_protocol", "httptools")
    uvicorn.run(
        create_app(),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http=protocol,
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
