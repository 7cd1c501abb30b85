"""Calls to the notifier's internal API: an invoice or credit note rendered as HTML, PDF or UBL.

Signed as the invoicing service itself, not as the user: the user's organization scope has been
checked here before the document was built, and the notifier renders only for a service."""

from __future__ import annotations

from typing import Literal

from services.invoicing.usage_client import AS_INVOICING
from shared.documents import CreditNoteDocument, InvoiceDocument
from shared.internal_client import Answer, CallerClients, ServiceClients
from shared.service import Runtime

RENDER_TIMEOUT_SECONDS = 9.0
"""Below the gateway's 10 s for its call here, so that a slow render is reported from here."""


def clients_for(runtime: Runtime, service: str, timeout_seconds: float) -> CallerClients:
    """One pooled client per process and service, made at first use (round-robin over its
    replicas, from the `<service>_url_list` setting), signing as the invoicing service."""
    key = f"{service}_clients"
    found = runtime.extras.get(key)
    if not isinstance(found, CallerClients):
        urls: list[str] = list(getattr(runtime.settings, f"{service}_url_list", []))
        clients = ServiceClients({service: urls}, runtime.secret, timeout_seconds)
        found = runtime.extras[key] = clients.acting_as(AS_INVOICING)
    return found


def _clients(runtime: Runtime) -> CallerClients:
    return clients_for(runtime, "notifier", RENDER_TIMEOUT_SECONDS)


async def render(
    runtime: Runtime, document: InvoiceDocument, media: Literal["html", "pdf", "ubl"]
) -> Answer:
    """The notifier's answer (200); its refusals raise ServiceError, its absence
    TransientError."""
    return await _post(runtime, f"/internal/documents/{media}", document.model_dump_json())


async def render_credit_note(
    runtime: Runtime, document: CreditNoteDocument, media: Literal["html", "pdf", "ubl"]
) -> Answer:
    return await _post(runtime, f"/internal/credit-notes/{media}", document.model_dump_json())


async def _post(runtime: Runtime, path: str, body: str) -> Answer:
    return await _clients(runtime).request(
        "notifier", "POST", path, content=body, headers={"Content-Type": "application/json"}
    )
