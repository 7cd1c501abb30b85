"""Invoicing service process: `python -m services.invoicing`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.invoicing import (
    api,
    catalog_api,
    credit_note_api,
    handlers,
    invoice_api,
    scheduler,
    usage_copy,
    watch_api,
)
from shared.service import Runtime, build_app
from shared.settings import ServiceSettings


class InvoicingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_INVOICING_", extra="ignore")
    service_name: str = "invoicing"
    db_schema: str = "invoicing"
    http_port: int = 8102
    scheduler: bool = True
    """Run each month's billing at the start of the UTC month (BILLPORT_INVOICING_SCHEDULER)."""
    reminder_interval_days: int = 7
    """Remind overdue invoices at most once per this many days; 0 turns reminders off."""
    usage_urls: str = "http://127.0.0.1:8101"
    """The usage service's replicas (comma-separated), asked before a run whether all accepted
    usage is stored and announced."""
    notifier_urls: str = "http://127.0.0.1:8104"
    payments_urls: str = "http://127.0.0.1:8103"
    """The notifier's replicas (comma-separated), which render the invoice documents."""
    run_settle_timeout_seconds: float = Field(default=120.0, gt=0)
    """How long a billing run or regenerate waits for accepted usage to reach the invoices'
    copy before it answers 409 with what is pending."""
    proforma_settle_timeout_seconds: float = Field(default=15.0, gt=0)
    """The same wait for the proforma view."""
    corrections_as: Literal["next_invoice", "credit_note"] = "next_invoice"
    """How a correction that lowers a period already sent is settled: a negative line on the
    organization's next invoice (the default), or a credit note on the corrected invoice
    (BILLPORT_INVOICING_CORRECTIONS_AS)."""
    correction_months: int = Field(default=3, ge=0, le=24)
    """How many periods back, counted from the period invoiced, corrections reach
    (BILLPORT_INVOICING_CORRECTION_MONTHS)."""
    scheduler_settle_hours: int = Field(default=6, ge=0, le=72)
    """The monthly run starts this long into the 1st (UTC): Starlink revises a day for up to
    24 hours, and the last day of the month must have arrived."""

    @property
    def usage_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.usage_urls.split(",") if u.strip()]

    @property
    def notifier_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.notifier_urls.split(",") if u.strip()]

    @property
    def payments_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.payments_urls.split(",") if u.strip()]


def create_app(settings: InvoicingSettings | None = None) -> FastAPI:
    settings = settings or InvoicingSettings()
    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: (
            [handlers.router(rt)],
            [
                api.router(rt),
                catalog_api.router(rt),
                invoice_api.router(rt),
                credit_note_api.router(rt),
                watch_api.router(rt),
            ],
        ),
        background=lambda rt: background(rt, settings),
        readiness=usage_copy.readiness,
        # the detail, polled through the gateway for a balance (`shared.route_order`)
        matched_first=[("GET", "/internal/invoices/{invoice_id}")],
    )


async def background(runtime: Runtime, settings: InvoicingSettings) -> None:
    """The monthly scheduler (if on) and the compaction of the invoice list's totals."""
    tasks = [scheduler.compact_totals(runtime)]
    if settings.scheduler:
        tasks.append(scheduler.run_monthly(runtime))
    await asyncio.gather(*tasks)
