"""Invoicing service process: `python -m services.invoicing`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from services.invoicing import api, catalog_api, handlers, invoice_api, scheduler
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


def create_app(settings: InvoicingSettings | None = None) -> FastAPI:
    settings = settings or InvoicingSettings()
    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: (
            [handlers.router(rt)],
            [api.router(rt), catalog_api.router(rt), invoice_api.router(rt)],
        ),
        background=lambda rt: background(rt, settings),
    )


async def background(runtime: Runtime, settings: InvoicingSettings) -> None:
    """The monthly scheduler (if on) and the compaction of the invoice list's totals."""
    tasks = [scheduler.compact_totals(runtime)]
    if settings.scheduler:
        tasks.append(scheduler.run_monthly(runtime))
    await asyncio.gather(*tasks)
