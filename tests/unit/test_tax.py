"""Tax on invoices, computed by hand: one rate per invoice, base x rate / 100 rounded half-up to
the cent once (EN 16931), the amount including it, and the ledger entries of a taxed invoice."""

from __future__ import annotations

from decimal import Decimal as D

from services.invoicing.billing import Draft, Line, product_invoice
from services.invoicing.tax import NO_TAX, TaxTerms
from services.notifier.document import Documents, Reseller
from services.payments.domain import invoiced_entries
from shared.documents import InvoiceDocument
from shared.events.invoicing import InvoiceGenerated
from shared.money import format_percent


def lines(*amounts: str, kind: str = "REGULAR") -> list[Line]:
    return [Line(type=kind, description=f"line {i}", amount=D(a)) for i, a in enumerate(amounts)]


def test_one_rate_of_twenty_percent() -> None:
    # 1,500.00 regular + 418.25 overage = 1,918.25; x 20 / 100 = 383.65 exactly;
    # amount = 1,918.25 + 383.65 = 2,301.90.
    draft = Draft([*lines("1500.00"), *lines("418.25", kind="OVERAGE")], TaxTerms(D("20.0000")))
    assert (draft.regular_charges, draft.additional_charges) == (D("1500.00"), D("418.25"))
    assert draft.tax == D("383.65")
    assert draft.amount == D("2301.90")


def test_a_rate_with_three_decimals_rounds_once_half_up() -> None:
    # 1,234.56 x 8.875 / 100 = 109.5672 -> 109.57; amount 1,234.56 + 109.57 = 1,344.13.
    draft = Draft(lines("1234.56"), TaxTerms(D("8.875")))
    assert draft.tax == D("109.57")
    assert draft.amount == D("1344.13")


def test_the_rate_applies_to_the_sum_not_line_by_line() -> None:
    # Three lines of 0.05 at 10%: per line 0.005 -> 0.01 each, 0.03 in all; on the base
    # 0.15 x 10 / 100 = 0.015 -> 0.02 (half-up once). The invoice carries 0.02.
    assert Draft(lines("0.05", "0.05", "0.05"), TaxTerms(D("10"))).tax == D("0.02")


def test_an_exact_half_cent_rounds_up() -> None:
    # 0.25 x 10 / 100 = 0.025 -> 0.03 (half-up, not banker's 0.02).
    assert Draft(lines("0.25"), TaxTerms(D("10"))).tax == D("0.03")


def test_an_exempt_organization_pays_no_tax_whatever_its_rate() -> None:
    row = {"tax_rate": D("20"), "tax_exempt_reason": "Reverse charge (Art. 196 VAT Directive)"}
    terms = TaxTerms.of(row)
    assert terms.rate is None and terms.exempt_reason == row["tax_exempt_reason"]
    draft = Draft(lines("1918.25"), terms)
    assert (draft.tax, draft.amount) == (D("0"), D("1918.25"))


def test_a_zero_rate_and_no_rate_change_nothing() -> None:
    for terms in (TaxTerms(D("0")), NO_TAX):
        draft = Draft(lines("1918.25"), terms)
        assert (draft.tax, draft.amount) == (D("0"), D("1918.25"))


def test_a_negative_correction_lowers_the_base() -> None:
    # 1,000.00 regular, -150.00 correction of an earlier month: base 850.00;
    # 850.00 x 20 / 100 = 170.00; amount 1,000.00 - 150.00 + 170.00 = 1,020.00.
    draft = Draft([*lines("1000.00"), *lines("-150.00", kind="ADJUSTMENT")], TaxTerms(D("20")))
    assert draft.tax == D("170.00")
    assert draft.amount == D("1020.00")


def test_products_are_taxed_too() -> None:
    # 3 x 19.99 = 59.97 and 1 x 499.00: base 558.97; x 8.875 / 100 = 49.6085875 -> 49.61.
    draft = product_invoice([("Kit", D("19.99"), D(3)), ("Dish", D("499.00"), D(1))])
    taxed = draft.taxed(TaxTerms(D("8.875")))
    assert (taxed.tax, taxed.amount) == (D("49.61"), D("608.58"))
    assert draft.tax == 0, "untaxed until the organization's terms are applied"


def test_a_taxed_invoice_credits_revenue_and_tax_payable() -> None:
    # Issued 2,301.90 of which 383.65 tax: receivable +2,301.90 = revenue 1,918.25 + tax 383.65.
    entries = {e.account: e.amount for e in invoiced_entries(D("2301.90"), D("383.65"))}
    assert entries == {
        "receivable": D("2301.90"),
        "revenue": D("-1918.25"),
        "tax_payable": D("-383.65"),
    }
    assert sum(entries.values()) == 0
    untaxed = {e.account: e.amount for e in invoiced_entries(D("10.00"))}
    assert untaxed == {"receivable": D("10.00"), "revenue": D("-10.00")}


def test_events_from_before_taxes_still_parse_with_no_tax() -> None:
    old = InvoiceGenerated(
        invoice_id="INV-202611-000001",
        org_id="org_1",
        kind="ONE_TIME",
        revision=1,
        amount=D("10.00"),
        payments=D("0.00"),
        balance=D("10.00"),
        status="GENERATED",
    )
    parsed = InvoiceGenerated.model_validate_json(old.model_dump_json(exclude={"tax"}))
    assert parsed.tax == D("0.00")


def test_rates_read_as_people_write_them() -> None:
    assert [format_percent(r) for r in (D("20.0000"), D("8.8750"), D("0"), None)] == [
        "20",
        "8.875",
        "0",
        None,
    ]


def test_the_document_reads_the_tax_from_a_detail() -> None:
    doc = InvoiceDocument.model_validate(
        {
            "invoice_id": "INV-202611-000001",
            "kind": "ONE_TIME",
            "org_id": "org_1",
            "org_name": "Ship Co",
            "issued_on": "2026-11-01",
            "payable_on": "2026-12-01",
            "status": "GENERATED",
            "regular_charges": "1234.56",
            "additional_charges": "0.00",
            "tax": "109.57",
            "tax_rate": "8.875",
            "amount": "1344.13",
            "balance": "1344.13",
        }
    )
    assert (doc.tax, doc.tax_rate_text, doc.tax_exempt_reason) == (D("109.57"), "8.875", None)


def test_the_totals_show_the_rate_or_the_exemption() -> None:
    docs = Documents(Reseller("Orbit Resale", ("1 Main St",), "billing@orbit.test", ()))
    base = {
        "invoice_id": "INV-202611-000001",
        "kind": "ONE_TIME",
        "org_id": "org_1",
        "org_name": "Ship Co",
        "issued_on": "2026-11-01",
        "payable_on": "2026-12-01",
        "status": "GENERATED",
        "regular_charges": "1918.25",
        "additional_charges": "0.00",
    }
    taxed = InvoiceDocument.model_validate(
        {**base, "tax": "383.65", "tax_rate": "20", "amount": "2301.90", "balance": "2301.90"}
    )
    html = docs.html(taxed, inline_css=False)
    assert "Tax (20%)" in html and "383.65" in html
    exempt = InvoiceDocument.model_validate(
        {**base, "tax_exempt_reason": "Reverse charge", "amount": "1918.25", "balance": "1918.25"}
    )
    assert "Tax exempt: Reverse charge" in docs.html(exempt, inline_css=False)
    plain = InvoiceDocument.model_validate({**base, "amount": "1918.25", "balance": "1918.25"})
    assert "Tax" not in docs.html(plain, inline_css=False)
