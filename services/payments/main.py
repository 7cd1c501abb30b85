"""Payments service process: `python -m services.payments`.

Postings and reversals with a double-entry ledger; it follows invoice amounts from
`invoicing.events` and publishes `payments.events` through its outbox."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.payments import api, handlers
from services.payments.arrival import Patience
from shared.service import build_app
from shared.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_PAYMENTS_", extra="ignore")
    service_name: str = "payments"
    db_schema: str = "payments"
    http_port: int = 8103
    new_invoice_grace_seconds: float = Field(default=1.5, gt=0)
    """How long an invoice this service does not know is looked for again in what
    `invoicing.events` gains before a posting on it is answered 404 (an invoice reaches the topic
    within milliseconds of its creation, within about a second at worst)."""
    new_invoice_timeout_seconds: float = Field(default=5.0, gt=0)
    """The most a request on an invoice not yet known waits for this service to catch up with
    `invoicing.events` (then 503: retry). Below the gateway's 10 s for its call."""


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    patience = Patience(settings.new_invoice_grace_seconds, settings.new_invoice_timeout_seconds)
    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: ([handlers.router(rt)], [api.router(rt, patience)]),
        matched_first=[("POST", "/internal/invoices/{invoice_id}/payments")],
    )
