"""Usage service process: `python -m services.usage`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.usage import api, handlers
from shared.service import build_app
from shared.settings import ServiceSettings


class UsageSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_USAGE_", extra="ignore")
    service_name: str = "usage"
    db_schema: str = "usage"
    http_port: int = 8101
    apply_concurrency: int = Field(default=2, ge=1, le=16)
    """Transactions applying one batch at once, each the batch's records of some partitions:
    a line is always in one partition, so they touch different lines. While one waits on the
    database, the next is parsed and sent (the batch's statement was most of the consumer's
    time, and the consumer the ingest's bottleneck)."""


def create_app(settings: UsageSettings | None = None) -> FastAPI:
    settings = settings or UsageSettings()
    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: ([handlers.router(rt)], [api.router(rt)]),
    )
