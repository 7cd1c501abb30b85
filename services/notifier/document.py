"""The invoice document and its e-mail text, from templates: the HTML of an `InvoiceDocument`
(view and PDF share it), the subject and body, and the fingerprint that keys the
rendered-document cache. No I/O beyond reading the templates once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.us import rtn

from shared.documents import CreditNoteDocument, InvoiceDocument, PostalAddress, money_text
from shared.events.alerts import UsageThresholdCrossed

EINVOICE_VERSION = "2"
"""Bumped when the e-invoice XML the PDFs embed is written differently: the rendered-document
cache keys on it, so kept PDFs are rendered anew with the new XML."""

BUILT_IN = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Reseller:
    """The seller on every document: its trading `name`, and the legal details an invoice must
    carry (the legal name defaults to the name). `bank` is the lines of `bank_lines`; `postal`,
    the bank account and `endpoint` are the same details as e-invoices structure them (none:
    documents are rendered without an e-invoice)."""

    name: str
    address: tuple[str, ...]
    email: str
    remit_to: tuple[str, ...]
    legal_name: str | None = None
    tax_id: str | None = None
    bank: tuple[str, ...] = ()
    postal: PostalAddress | None = None
    iban: str | None = None
    """Compact (no spaces), as e-invoices carry it."""
    bic: str | None = None
    account_number: str | None = None
    endpoint: tuple[str, str] | None = None
    """The Peppol electronic address (EAS scheme, identifier)."""

    @property
    def shown_legal_name(self) -> str:
        return self.legal_name or self.name


def bank_lines(
    bank_name: str | None,
    iban: str | None,
    bic: str | None,
    account_number: str | None,
    routing_number: str | None,
) -> tuple[str, ...]:
    """The reseller's bank details as the remit-to block prints them, checked: an IBAN by its
    country's format and check digits, a BIC by its form and country (schwifty), a US routing
    number by its checksum (python-stdnum). A mistyped digit here would send every customer's
    payment astray, so a bad one stops the notifier at start with the reason."""
    if (iban or bic) and (account_number or routing_number):
        raise ValueError("give the bank's IBAN and BIC, or an account and routing number, not both")
    lines = [f"Bank: {bank_name}"] if bank_name else []
    if iban:
        try:
            lines.append(f"IBAN: {IBAN(iban).formatted}")
        except SchwiftyException as exc:
            raise ValueError(f"the IBAN {iban!r} is not valid: {exc}") from None
    if bic:
        try:
            lines.append(f"BIC: {BIC(bic)}")
        except SchwiftyException as exc:
            raise ValueError(f"the BIC {bic!r} is not valid: {exc}") from None
    if account_number:
        if not account_number.isdigit():
            raise ValueError(f"the account number {account_number!r} must be digits only")
        lines.append(f"Account: {account_number}")
    if routing_number:
        if not rtn.is_valid(routing_number):
            raise ValueError(
                f"the routing number {routing_number!r} is not a valid ABA routing number"
            )
        lines.append(f"Routing (ABA): {rtn.compact(routing_number)}")
    return tuple(lines)


class Documents:
    """Templates loaded once: the overrides folder first, then the built-in ones."""

    def __init__(
        self,
        reseller: Reseller,
        page_size: Literal["Letter", "A4"] = "Letter",
        currency: str = "USD",
        overrides: Path | None = None,
    ) -> None:
        folders = [str(overrides)] if overrides else []
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*folders, str(BUILT_IN)]),
            autoescape=jinja2.select_autoescape(["html", "html.j2"]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self._env.filters["money"] = money_text
        self.reseller = reseller
        self.currency = currency
        source = self._source("invoice.css")
        footer = f"{reseller.shown_legal_name} · {reseller.email}".replace('"', "'")
        self.css = source.replace("__PAGE_SIZE__", page_size).replace("__FOOTER__", footer)
        # Templates, stylesheet and the seller's details (printed, and in the embedded
        # e-invoice) are part of every cache key: a change renders anew.
        names = ["invoice.html.j2", "credit_note.html.j2", "invoice.css"]
        self.version = hashlib.sha256(
            "".join(self._source(n) for n in names).encode()
            + f"{page_size}|{currency}|{reseller!r}|{EINVOICE_VERSION}".encode()
        ).hexdigest()[:16]

    def _source(self, name: str) -> str:
        loader = self._env.loader
        assert loader is not None
        return loader.get_source(self._env, name)[0]

    def fingerprint(self, doc: InvoiceDocument | CreditNoteDocument) -> str:
        """The document's content with the templates' version: the same PDF, or a new one."""
        kind = "credit_note" if isinstance(doc, CreditNoteDocument) else ""
        return hashlib.sha256((self.version + kind + doc.model_dump_json()).encode()).hexdigest()

    def html(self, doc: InvoiceDocument, inline_css: bool) -> str:
        """The document's HTML; the view inlines the stylesheet, the PDF renderer has it
        loaded already."""
        return self._env.get_template("invoice.html.j2").render(
            doc=doc,
            reseller=self.reseller,
            currency=self.currency,
            css=self.css,
            inline_css=inline_css,
        )

    def credit_note_html(self, note: CreditNoteDocument, inline_css: bool) -> str:
        return self._env.get_template("credit_note.html.j2").render(
            note=note,
            reseller=self.reseller,
            currency=self.currency,
            css=self.css,
            inline_css=inline_css,
        )

    def mail_text(
        self, doc: InvoiceDocument, purpose: str, note: CreditNoteDocument | None = None
    ) -> tuple[str, str]:
        """(subject, body) of the e-mail that carries the document (with purpose
        `credit_note`, the credit `note` of the invoice `doc`)."""
        context = {"doc": doc, "note": note, "reseller": self.reseller, "currency": self.currency}
        subject = self._env.get_template(f"{purpose}_subject.txt.j2").render(context)
        body = self._env.get_template(f"{purpose}_body.txt.j2").render(context)
        return " ".join(subject.split()), body

    def alert_text(self, alert: UsageThresholdCrossed) -> tuple[str, str]:
        """(subject, body) of a usage alert's e-mail (`usage_alert_subject.txt.j2`,
        `usage_alert_body.txt.j2`, overridable like the others); the template gets `alert`
        (the event: figures as decimal text), `reseller` and `currency`."""
        context = {"alert": alert, "reseller": self.reseller, "currency": self.currency}
        subject = self._env.get_template("usage_alert_subject.txt.j2").render(context)
        body = self._env.get_template("usage_alert_body.txt.j2").render(context)
        return " ".join(subject.split()), body
