"""Payments service process: `python -m services.payments`.

Postings and reversals with a double-entry ledger; it follows invoice amounts from
`invoicing.events` and publishes `payments.events` through its outbox."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from services.payments import api, handlers
from shared.service import build_app
from shared.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_PAYMENTS_", extra="ignore")
    service_name: str = "payments"
    db_schema: str = "payments"
    http_port: int = 8103


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: ([handlers.router(rt)], [api.router(rt)]),
    )
