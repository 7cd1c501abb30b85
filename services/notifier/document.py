"""The invoice document and its e-mail text, from templates: the view model of an invoice
detail, the HTML (view and PDF share it), the subject and body, and the fingerprint that keys
the rendered-document cache. No I/O beyond reading the templates once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2

BUILT_IN = Path(__file__).parent / "templates"
ADDITIONAL = ("OVERAGE", "ADJUSTMENT")
STATUS_TEXT = {
    "GENERATED": "Issued",
    "SENT_FOR_PAYMENT": "Awaiting payment",
    "PARTIAL_PAID": "Partly paid",
    "PAYMENT_DONE": "Paid",
}
LINE_FIELDS = (
    "type",
    "description",
    "service_line_number",
    "service_line_name",
    "plan_name",
    "sub_pool_name",
    "quantity",
    "unit_price",
    "usage_gb",
    "amount",
)


@dataclass(frozen=True)
class Reseller:
    name: str
    address: tuple[str, ...]
    email: str
    remit_to: tuple[str, ...]


def grouped(amount: str | None) -> str | None:
    """A decimal-string amount as a reader expects it: "4592.30" reads "4,592.30"."""
    if amount is None:
        return None
    sign = "-" if amount.startswith("-") else ""
    whole, _, cents = amount.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}" + (f".{cents}" if cents else "")


def view_model(detail: dict[str, Any]) -> dict[str, Any]:
    """What the document shows of an invoice detail, and nothing else: the cache key depends
    on exactly this, so a change elsewhere in the detail does not render anew."""
    lines = [{k: line.get(k) for k in LINE_FIELDS} for line in detail.get("lines", [])]
    for line in lines:
        line["amount"] = grouped(line["amount"])
    payments = [
        {
            "received_on": p["received_on"],
            "method": p["method"],
            "reference": p.get("reference"),
            "amount": grouped(p["amount"]),
            "reversed": bool(p.get("reversed")),
        }
        for p in detail.get("payments", [])
        if p.get("applied", True)
    ]
    status = str(detail["status"])
    return {
        "invoice_id": detail["invoice_id"],
        "kind": detail["kind"],
        "org_id": detail["org_id"],
        "org_name": detail["org_name"],
        "period": detail.get("period"),
        "issued_on": detail["issued_on"],
        "payable_on": detail["payable_on"],
        "revision": int(detail.get("revision", 1)),
        "status": status,
        "status_text": STATUS_TEXT.get(status, status),
        "regular_lines": [x for x in lines if x["type"] in ("REGULAR", "PRODUCT")],
        "additional_lines": [x for x in lines if x["type"] in ADDITIONAL],
        "usage_lines": [x for x in lines if x["type"] == "USAGE_INFO"],
        "regular_charges": grouped(detail["regular_charges"]),
        "additional_charges": grouped(detail["additional_charges"]),
        "amount": grouped(detail["amount"]),
        "payments_total": grouped(detail.get("payments_total", "0.00")),
        "balance": grouped(detail["balance"]),
        "payments": payments,
    }


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
        self.reseller = reseller
        self.currency = currency
        source = self._source("invoice.css")
        footer = f"{reseller.name} · {reseller.email}".replace('"', "'")
        self.css = source.replace("__PAGE_SIZE__", page_size).replace("__FOOTER__", footer)
        # Templates and stylesheet are part of every cache key: an override renders anew.
        names = ["invoice.html.j2", "invoice.css"]
        self.version = hashlib.sha256(
            "".join(self._source(n) for n in names).encode() + page_size.encode()
        ).hexdigest()[:16]

    def _source(self, name: str) -> str:
        loader = self._env.loader
        assert loader is not None
        return loader.get_source(self._env, name)[0]

    def fingerprint(self, doc: dict[str, Any]) -> str:
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256((self.version + canonical).encode()).hexdigest()

    def html(self, doc: dict[str, Any], inline_css: bool) -> str:
        """The document's HTML; the view inlines the stylesheet, the PDF renderer has it
        loaded already."""
        return self._env.get_template("invoice.html.j2").render(
            doc=doc,
            reseller=self.reseller,
            currency=self.currency,
            css=self.css,
            inline_css=inline_css,
        )

    def mail_text(self, doc: dict[str, Any], purpose: str) -> tuple[str, str]:
        """(subject, body) of the e-mail that carries the document."""
        context = {"doc": doc, "reseller": self.reseller, "currency": self.currency}
        subject = self._env.get_template(f"{purpose}_subject.txt.j2").render(context)
        body = self._env.get_template(f"{purpose}_body.txt.j2").render(context)
        return " ".join(subject.split()), body
