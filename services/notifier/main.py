"""Notifier process: `python -m services.notifier`.

Renders invoice documents (Jinja2 + WeasyPrint in a pool of worker processes) and e-mails them
(aiosmtplib) from a durable send queue fed by `notifier.commands`; outcomes go out on
`notifier.events` through the outbox."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Literal

from fastapi import FastAPI
from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from services.notifier import api, handlers
from services.notifier.document import Documents, Reseller, bank_lines
from services.notifier.mailer import SmtpSettings
from services.notifier.render_pool import RenderPool
from services.notifier.rendering import Renderer
from services.notifier.sender import Policy, Sender
from shared.service import Runtime, build_app
from shared.settings import ServiceSettings

DEMO_REMIT_TO = "Bank: First Orbital Bank|Account: 000123456789|Routing (ABA): 021000021"


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_NOTIFIER_", extra="ignore")
    service_name: str = "notifier"
    db_schema: str = "notifier"
    http_port: int = 8104

    reseller_name: str = "BillPort Satellite Services"
    reseller_address: str = "100 Orbit Way|Suite 400|Seattle, WA 98101|United States"
    """Lines separated by `|`."""
    reseller_email: str = "billing@billport.local"
    reseller_legal_name: str | None = None
    """The name the reseller is registered under (default: `reseller_name`)."""
    reseller_tax_id: str | None = None
    bank_name: str | None = None
    bank_iban: str | None = None
    bank_bic: str | None = None
    bank_account_number: str | None = None
    bank_routing_number: str | None = None
    """IBAN and BIC, or account and routing (ABA) number: checked at start."""
    remit_to: str | None = None
    """Further lines of the remit-to block after the bank details, separated by `|`; when
    neither is set, the local stack's demo bank (`DEMO_REMIT_TO`)."""
    currency: str = "USD"
    page_size: Literal["Letter", "A4"] = "Letter"
    template_dir: Path | None = None
    """A folder of template overrides (same file names as services/notifier/templates)."""

    render_workers: int = 2
    render_timeout_seconds: float = 60.0
    render_memory_mb: int = 1024

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 20.0
    message_id_domain: str = "billport.local"

    send_max_attempts: int = 6
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    send_lease_seconds: float = 60.0
    """How long a send may take before another sender takes it over (it must outlast the
    render and the SMTP timeout)."""

    @model_validator(mode="after")
    def _bank_details_hold(self) -> NotifierSettings:
        self.reseller()  # a bad IBAN, BIC or routing number stops the notifier at start
        return self

    def reseller(self) -> Reseller:
        bank = bank_lines(
            self.bank_name,
            self.bank_iban,
            self.bank_bic,
            self.bank_account_number,
            self.bank_routing_number,
        )
        remit = self.remit_to if self.remit_to is not None else ("" if bank else DEMO_REMIT_TO)
        return Reseller(
            name=self.reseller_name,
            address=tuple(self.reseller_address.split("|")),
            email=self.reseller_email,
            remit_to=tuple(x for x in remit.split("|") if x),
            legal_name=self.reseller_legal_name,
            tax_id=self.reseller_tax_id,
            bank=bank,
        )


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    parts: dict[str, object] = {}

    def renderer() -> Renderer:
        found = parts.get("renderer")
        if not isinstance(found, Renderer):
            raise RuntimeError("the renderer starts in the lifespan")
        return found

    async def run_sender(runtime: Runtime) -> None:
        documents = Documents(
            settings.reseller(),
            settings.page_size,
            settings.currency,
            settings.template_dir,
        )
        pool = RenderPool(
            documents.css,
            settings.render_workers,
            settings.render_timeout_seconds,
            settings.render_memory_mb,
        )
        pool.warm_up()
        parts["renderer"] = Renderer(documents, pool, runtime.pool)
        sender = Sender(
            runtime.pool,
            renderer(),
            SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=settings.smtp_password,
                timeout=settings.smtp_timeout_seconds,
                sender=settings.reseller_email,
            ),
            Policy(
                max_attempts=settings.send_max_attempts,
                retry_base_seconds=settings.retry_base_seconds,
                retry_max_seconds=settings.retry_max_seconds,
                lease_seconds=settings.send_lease_seconds,
            ),
        )
        parts["sender"] = sender
        try:
            await sender.run()
        finally:
            with contextlib.suppress(Exception):
                pool.close()

    def wake_sender() -> None:
        sender = parts.get("sender")
        if isinstance(sender, Sender):
            sender.wake.set()

    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: (
            [handlers.router(rt, settings.message_id_domain, wake_sender)],
            [api.router(renderer)],
        ),
        background=run_sender,
    )
