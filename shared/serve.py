"""Running a service's FastAPI app under uvicorn (the `__main__` of every service)."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from shared.settings import ServiceSettings


def serve(create_app: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    # `X-Forwarded-For` is believed only from the proxies named in the settings (the gateway's
    # BILLPORT_GATEWAY_TRUSTED_PROXIES); uvicorn's own default would believe loopback.
    trusted = str(getattr(settings, "trusted_proxies", "")).strip()
    uvicorn.run(
        create_app(),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        timeout_graceful_shutdown=10,
        # Longer than clients keep an idle connection (httpx: 5 s), so the server never closes
        # one just as a client sends on it (a reset that would make a POST's fate unknown).
        timeout_keep_alive=30,
    )
