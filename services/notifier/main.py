"""Notifier service process: `python -m services.notifier`.

Its consumers and API arrive with their issue; the process, schema, consumer group, outbox
relay and health checks are in place."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from shared.service import build_app
from shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_NOTIFIER_", extra="ignore")
    service_name: str = "notifier"
    db_schema: str = "notifier"
    http_port: int = 8104


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    return build_app(settings, Path(__file__).parent, lambda rt: ([], []))
