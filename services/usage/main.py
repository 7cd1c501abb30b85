"""Usage service process: `python -m services.usage`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from services.usage import api, handlers
from shared.service import build_app
from shared.settings import ServiceSettings


class UsageSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_USAGE_", extra="ignore")
    service_name: str = "usage"
    db_schema: str = "usage"
    http_port: int = 8101


def create_app(settings: UsageSettings | None = None) -> FastAPI:
    settings = settings or UsageSettings()
    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: ([handlers.router(rt)], [api.router(rt)]),
    )
