"""Notifier process: `python -m services.notifier`.

Renders invoice documents (Jinja2 + WeasyPrint in a pool of worker processes) and e-mails them
(aiosmtplib) from a durable send queue fed by `notifier.commands`; outcomes go out on
`notifier.events` through the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal

import pycountry
from fastapi import FastAPI
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from schwifty import BIC, IBAN

from services.notifier import alert_mail, api, handlers, webhook_api, webhook_consumer
from services.notifier.document import Documents, Reseller, bank_lines
from services.notifier.mailer import SmtpSettings
from services.notifier.render_pool import RenderPool
from services.notifier.rendering import Renderer
from services.notifier.sender import Policy, Sender
from services.notifier.webhook_delivery import Deliverer
from services.notifier.webhooks import DeliveryPolicy, TargetRules
from shared.documents import PostalAddress
from shared.service import Runtime, build_app
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)
DEMO_REMIT_TO = "Bank: First Orbital Bank|Account: 000123456789|Routing (ABA): 021000021"


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLPORT_NOTIFIER_", extra="ignore")
    service_name: str = "notifier"
    db_schema: str = "notifier"
    http_port: int = 8104

    reseller_name: str = "BillPort Satellite Services"
    reseller_address: str | None = None
    """The address as printed, lines separated by `|`; by default the structured address
    below, printed as "street, street 2, city, region postal code, country"."""
    reseller_street: str = "100 Orbit Way"
    reseller_street2: str | None = "Suite 400"
    reseller_city: str = "Seattle"
    reseller_postal_code: str | None = "98101"
    reseller_region: str | None = "WA"
    reseller_country: str = "US"
    """ISO 3166-1 alpha-2: the structured address is the seller's on e-invoices (EN 16931)."""
    reseller_peppol_id: str | None = None
    """The seller's Peppol electronic address, `scheme:identifier` with an EAS scheme (e.g.
    `0088:5790000435975` for a GLN); Peppol BIS requires one on every e-invoice."""
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

    webhook_allow_http: bool = False
    """Webhook URLs may be plain `http://` (a local stack); otherwise `https://` only."""
    webhook_allow_private_targets: bool = False
    """Webhook URLs may resolve to loopback, private or link-local addresses (a local stack,
    tests); otherwise public addresses only, checked at registration and at each delivery."""
    webhook_timeout_seconds: float = 10.0
    """The longest a receiver may take to answer one delivery (the whole exchange)."""
    webhook_max_attempts: int = Field(default=16, ge=1, le=100)
    """Tries of one delivery before it has failed (the last about 6.4 hours after the first)."""
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 3600.0
    """The wait before the next try doubles from the base, up to this."""
    webhook_lease_seconds: float = 60.0
    """How long a delivery may take before another notifier takes it over (it must outlast
    the timeout)."""
    webhook_disable_after_failures: int = Field(default=5, ge=1)
    """Deliveries in a row that failed after every retry before the webhook is disabled."""
    webhook_max_count: int = Field(default=50, ge=1)
    """The most webhooks one deployment may register."""
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    """Deliveries one notifier sends at once."""

    @field_validator("reseller_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        code = value.strip().upper()
        if pycountry.countries.get(alpha_2=code) is None:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, DE)")
        return code

    @field_validator("reseller_peppol_id")
    @classmethod
    def _peppol_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}:\S+", value):
            raise ValueError(f"{value!r} is not `scheme:identifier` with a 4-digit EAS scheme")
        return value

    @model_validator(mode="after")
    def _bank_details_hold(self) -> NotifierSettings:
        self.reseller()  # a bad IBAN, BIC or routing number stops the notifier at start
        return self

    @model_validator(mode="after")
    def _lease_outlasts_timeout(self) -> NotifierSettings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "webhook_lease_seconds must be longer than webhook_timeout_seconds, or a slow"
                " receiver would get each delivery twice"
            )
        return self

    def webhook_rules(self) -> TargetRules:
        return TargetRules(self.webhook_allow_http, self.webhook_allow_private_targets)

    def webhook_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            max_attempts=self.webhook_max_attempts,
            retry_base_seconds=self.webhook_retry_base_seconds,
            retry_max_seconds=self.webhook_retry_max_seconds,
            timeout_seconds=self.webhook_timeout_seconds,
            lease_seconds=self.webhook_lease_seconds,
            disable_after_failures=self.webhook_disable_after_failures,
            batch=self.webhook_concurrency,
        )

    def reseller(self) -> Reseller:
        bank = bank_lines(
            self.bank_name,
            self.bank_iban,
            self.bank_bic,
            self.bank_account_number,
            self.bank_routing_number,
        )
        remit = self.remit_to if self.remit_to is not None else ("" if bank else DEMO_REMIT_TO)
        postal = PostalAddress(
            line1=self.reseller_street,
            line2=self.reseller_street2 or None,
            city=self.reseller_city,
            postal_code=self.reseller_postal_code or None,
            region=self.reseller_region or None,
            country=self.reseller_country,
        )
        printed = self.reseller_address
        scheme, _, identifier = (self.reseller_peppol_id or "").partition(":")
        return Reseller(
            name=self.reseller_name,
            address=tuple(printed.split("|")) if printed is not None else postal.lines,
            email=self.reseller_email,
            remit_to=tuple(x for x in remit.split("|") if x),
            legal_name=self.reseller_legal_name,
            tax_id=self.reseller_tax_id,
            bank=bank,
            postal=postal,
            iban=IBAN(self.bank_iban).compact if self.bank_iban else None,
            bic=str(BIC(self.bank_bic)) if self.bank_bic else None,
            account_number=self.bank_account_number,
            endpoint=(scheme, identifier) if identifier else None,
        )


async def _logged(name: str, work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except Exception:
        log.exception("the %s stopped", name)
        raise


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

    async def run_deliverer(runtime: Runtime) -> None:
        deliverer = Deliverer(runtime.pool, settings.webhook_policy(), settings.webhook_rules())
        parts["deliverer"] = deliverer
        await deliverer.run()

    def wake_deliverer() -> None:
        deliverer = parts.get("deliverer")
        if isinstance(deliverer, Deliverer):
            deliverer.wake.set()

    async def background(runtime: Runtime) -> None:
        # Side by side: e-mail that cannot render does not hold webhooks back, nor the reverse.
        await asyncio.gather(
            _logged("sender", run_sender(runtime)),
            _logged("webhook deliverer", run_deliverer(runtime)),
            return_exceptions=True,
        )

    return build_app(
        settings,
        Path(__file__).parent,
        lambda rt: (
            [
                handlers.router(rt, settings.message_id_domain, wake_sender),
                alert_mail.router(rt, settings.message_id_domain, wake_sender),
                webhook_consumer.router(rt, wake_deliverer),
            ],
            [
                api.router(renderer),
                webhook_api.router(
                    rt, settings.webhook_rules(), settings.webhook_max_count, wake_deliverer
                ),
            ],
        ),
        background=background,
    )
