"""Credit notes, pure: which lines an edit of a final invoice credits, their tax, and the
aggregate's rules (never more than is uncredited; status and balance follow). Figures by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.invoicing.billing import Draft, Line
from services.invoicing.crediting import credit_figures, credit_lines
from services.invoicing.domain import Invoice
from services.invoicing.tax import TaxTerms
from shared.errors import Conflict, ValidationFailed

PLAN = Line("REGULAR", "Plan 50 GB", D("100.00"), service_line_number="AST-1")
OVERAGE = Line("OVERAGE", "22.58 GB over", D("45.16"), service_line_number="AST-1")
INFO = Line("USAGE_INFO", "3 GB used", D("0"), service_line_number="AST-2")
CORRECTION = Line("ADJUSTMENT", "Correction 2026-09", D("-10.00"))


def at(line: Line, amount: str) -> Line:
    return Line(
        line.type, line.description, D(amount), service_line_number=line.service_line_number
    )


def test_a_lowered_line_is_credited_by_its_difference_and_usage_info_is_ignored() -> None:
    lines = credit_lines([PLAN, OVERAGE, INFO], [], [at(PLAN, "100.00"), at(OVERAGE, "20.00")])
    assert [(x.type, x.description, x.quantity, x.unit_price, x.amount) for x in lines] == [
        ("OVERAGE", "22.58 GB over", D(1), D("25.16"), D("25.16"))
    ]


def test_a_dropped_line_is_credited_whole_and_earlier_credits_count() -> None:
    first = credit_lines([PLAN, OVERAGE], [], [at(PLAN, "60.00"), OVERAGE])
    assert [x.amount for x in first] == [D("40.00")]
    # The next edit is read against what the invoice bills after the first credit note.
    second = credit_lines([PLAN, OVERAGE], first, [at(PLAN, "60.00")])
    assert [(x.type, x.amount) for x in second] == [("OVERAGE", D("45.16"))]
    assert credit_lines([PLAN, OVERAGE], first + second, [at(PLAN, "60.00")]) == []


def test_raising_or_adding_a_line_is_refused_with_the_way_out() -> None:
    with pytest.raises(ValidationFailed, match="next invoice"):
        credit_lines([PLAN], [], [at(PLAN, "100.01")])
    with pytest.raises(ValidationFailed, match="Extra"):
        credit_lines([PLAN], [], [PLAN, Line("ADJUSTMENT", "Extra", D("5.00"))])
    # Dropping a negative correction would raise the invoice.
    with pytest.raises(ValidationFailed, match="Correction"):
        credit_lines([PLAN, CORRECTION], [], [PLAN])
    # Deepening it lowers the invoice: credited.
    (deeper,) = credit_lines([PLAN, CORRECTION], [], [PLAN, at(CORRECTION, "-15.00")])
    assert deeper.amount == D("5.00")


def test_tax_is_the_credit_notes_own_then_the_last_takes_what_is_left() -> None:
    rate = TaxTerms(D("8.875"))
    # Invoice: 100.00 net, tax 8.875 -> 8.88. A credit of 30.00: 2.6625 -> 2.66.
    first = credit_figures([at(PLAN, "30.00")], rate, D("100.00"), D("8.88"))
    assert (first.net, first.tax, first.amount) == (D("30.00"), D("2.66"), D("32.66"))
    # The remaining 70.00 takes the remaining 6.22 (its own would be 6.2125 -> 6.21).
    last = credit_figures([at(PLAN, "70.00")], rate, D("70.00"), D("6.22"))
    assert (last.tax, last.amount) == (D("6.22"), D("76.22"))
    assert credit_figures([at(PLAN, "5")], TaxTerms(D("20"), "Reverse charge"), D(9), D(0)).tax == 0


def sent(amount: str) -> Invoice:
    invoice = Invoice("INV-202611-000001", D(amount), approved=True, final=True)
    invoice.mark_sent()
    return invoice


def test_credit_notes_up_to_the_amount_then_refused() -> None:
    invoice = sent("120.00")
    assert "credit_note" in invoice.allowed_actions() and "edit" not in invoice.allowed_actions()
    invoice.credit(D("36.00"))
    assert (invoice.balance, invoice.status) == (D("84.00"), "SENT_FOR_PAYMENT")
    with pytest.raises(ValidationFailed, match=r"84\.00 of .* still uncredited"):
        invoice.credit(D("84.01"))
    invoice.credit(D("84.00"))
    assert (invoice.balance, invoice.status) == (D("0.00"), "PAYMENT_DONE")
    assert "credit_note" not in invoice.allowed_actions()
    with pytest.raises(ValidationFailed, match="nothing to credit"):
        invoice.credit(D("0"))


def test_a_payment_then_credit_notes_settle_it_and_more_is_owed_back() -> None:
    invoice = sent("200.00")
    invoice.apply_payment(D("50.00"))
    invoice.credit(D("80.00"))
    assert (invoice.balance, invoice.status) == (D("70.00"), "PARTIAL_PAID")
    invoice.apply_payment(D("70.00"))
    assert invoice.status == "PAYMENT_DONE"
    invoice.credit(D("30.00"))
    assert (invoice.balance, invoice.status) == (D("-30.00"), "PAYMENT_DONE")
    invoice.reverse_payment(D("70.00"))
    assert (invoice.balance, invoice.status) == (D("40.00"), "PARTIAL_PAID")


def test_an_invoice_not_sent_is_revised_never_credited_and_a_final_one_never_revised() -> None:
    draft = Invoice("INV-202611-000002", D("50.00"))
    with pytest.raises(Conflict, match="not sent"):
        draft.credit(D("1.00"))
    with pytest.raises(Conflict, match="final"):
        sent("50.00").revise(D("40.00"))


amounts = st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2)


@given(
    base=amounts,
    rate=st.decimals(min_value=D("0"), max_value=D("100"), places=4),
    cuts=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=6),
)
def test_any_sequence_of_credits_ends_at_exactly_nothing_owed(
    base: D, rate: D, cuts: list[int]
) -> None:
    """Credit an invoice down in steps, then credit the rest: the credited total is exactly
    the amount, the credited tax never exceeds the tax, and no step is refused."""
    terms = TaxTerms(rate)
    invoice_lines = [at(PLAN, str(base))]
    tax = Draft(invoice_lines, terms).tax
    invoice = sent(str(base + tax))
    credited: list[Line] = []
    net_left, tax_left = base, tax
    standing = base
    for cut in [*cuts, 100]:
        target = (standing * (100 - cut) / 100).quantize(D("0.01"))
        lines = credit_lines(invoice_lines, credited, [at(PLAN, str(target))] if target else [])
        if not lines:
            continue
        figures = credit_figures(lines, terms, net_left, tax_left)
        invoice.credit(figures.amount)
        credited += lines
        net_left -= figures.net
        tax_left -= figures.tax
        standing = target
        assert 0 <= tax_left <= tax
    assert (net_left, tax_left, invoice.balance, invoice.credited) == (0, 0, 0, base + tax)
