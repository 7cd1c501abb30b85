"""Pure rules of the invoicing service: periods and the `Invoice` aggregate. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from shared.errors import Conflict, PermanentError, ValidationFailed

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_bounds(period: str) -> tuple[date, date]:
    """A period `YYYY-MM` as the half-open UTC date range [first day, first day of next month)."""
    match = PERIOD.match(period)
    if not match:
        raise ValueError("must be a period YYYY-MM")
    year, month = int(match[1]), int(match[2])
    start = date(year, month, 1)
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return start, end


Status = str
"""GENERATED | SENT_FOR_PAYMENT | PARTIAL_PAID | PAYMENT_DONE"""


def status_for(
    sent: bool, payments: Decimal, balance: Decimal, credited: Decimal = Decimal(0)
) -> Status:
    """The status the money and the sending imply: it only moves forward, except that a
    reversal moves it back to what the remaining balance implies. Sending never moves a
    PARTIAL_PAID invoice back (the money decides first). An invoice that payments and credit
    notes settle together is done (a credit note on a paid invoice leaves a negative balance:
    money owed back to the customer)."""
    if (payments > 0 or credited > 0) and balance <= 0:
        return "PAYMENT_DONE"
    if payments > 0:
        return "PARTIAL_PAID"
    return "SENT_FOR_PAYMENT" if sent else "GENERATED"


@dataclass
class Invoice:
    """An invoice's state and the rules of its life (after cosmic python's `model.py`): status,
    revisions, approval, sending, payments applied, and the actions allowed now. SQL modules
    load it, call one method, and store what changed; every refusal is raised here."""

    invoice_id: str
    amount: Decimal
    payments: Decimal = Decimal(0)
    revision: int = 1
    approved: bool = False
    sent: bool = False
    status: Status = "GENERATED"
    final: bool = False
    """Sent (or its sending requested): its document is final, and only a credit note
    changes what it bills."""
    credited: Decimal = Decimal(0)
    """What credit notes took off it, tax included."""
    events: list[tuple[str, Status]] = field(default_factory=list)
    """(kind, previous status) of what happened, for the use case to publish."""

    @property
    def balance(self) -> Decimal:
        return self.amount - self.payments - self.credited

    @property
    def uncredited(self) -> Decimal:
        """What a credit note may still take off."""
        return self.amount - self.credited

    def allowed_actions(self) -> list[str]:
        """What may be done now (the page's action icons follow this exactly)."""
        actions = ["view", "download", "export_ipt"]
        if self.final:
            if self.uncredited > 0:
                actions.append("credit_note")
        elif self.status != "PAYMENT_DONE":
            actions.append("edit")
        if self._approvable():
            actions.append("approve")
        if self.approved:
            actions.append("send")
        if self.balance > 0:
            actions.append("post_payment")
        return actions

    def _approvable(self) -> bool:
        return not self.approved and self.status != "PAYMENT_DONE"

    def approve(self) -> None:
        """Approve the current revision: whenever it is not approved yet and the invoice is not
        paid in full (a payment may come before approval)."""
        if self.approved:
            raise Conflict(f"{self.invoice_id} is already approved")
        if self.status == "PAYMENT_DONE":
            raise Conflict(f"{self.invoice_id} is paid in full; there is nothing to approve")
        self.approved = True
        self.events.append(("approved", self.status))

    def check_sendable(self) -> None:
        if not self.approved:
            raise Conflict(f"{self.invoice_id} is not approved: approve it before sending")

    def mark_sent(self) -> None:
        self.sent = True
        self._settle()

    def why_not_regenerated(self) -> str | None:
        """An invoice is recomputed only while nobody has committed to it."""
        if self.approved:
            return "approved: never changed silently (edit it instead)"
        if self.status != "GENERATED":
            return f"{self.status}: never changed silently"
        return None

    def check_editable(self) -> None:
        if self.status == "PAYMENT_DONE":
            raise Conflict(f"{self.invoice_id} is paid in full; it is no longer edited")

    def finalize(self) -> None:
        """Its sending was requested: from now on the document is final."""
        self.final = True

    def credit(self, amount: Decimal) -> None:
        """A credit note of `amount` (tax included) on the final invoice: never more than is
        still uncredited. Payments stay as they are: credit beyond the unpaid part is owed
        back to the customer (a negative balance)."""
        if not self.final:
            raise Conflict(f"{self.invoice_id} is not sent yet: edit it instead of crediting it")
        if amount <= 0:
            raise ValidationFailed(
                f"the edit does not lower {self.invoice_id}: there is nothing to credit",
                fields={"lines": "lower at least one line to issue a credit note"},
            )
        if amount > self.uncredited:
            raise ValidationFailed(
                f"a credit note of {amount} exceeds the {self.uncredited} of {self.invoice_id}"
                " still uncredited",
                fields={"lines": f"may credit at most {self.uncredited}"},
            )
        self.credited += amount
        self.events.append(("credited", self.status))
        self._settle()

    def revise(self, amount: Decimal) -> None:
        """A new revision of `amount`: never below what was paid; clears the approval. A final
        invoice is never revised (the use case issues a credit note instead)."""
        if self.final:
            raise Conflict(f"{self.invoice_id} is sent: its document is final")
        if amount < self.payments:
            raise ValidationFailed(
                f"the new amount {amount} is below the {self.payments} already paid",
                fields={"lines": f"must total at least {self.payments}"},
            )
        self.amount = amount
        self.revision += 1
        self.approved = False
        self.events.append(("revised", self.status))
        self._settle()

    def fits(self, payment: Decimal) -> bool:
        """Whether a posted payment fits the amount (a revision may have lowered it while the
        payment was posted; then it is kept unapplied and the payments service reverses it).
        Credit notes do not count: a payment and a credit note that crossed are both real, and
        what they together exceed is owed back to the customer."""
        return self.payments + payment <= self.amount

    def apply_payment(self, amount: Decimal) -> None:
        if not self.fits(amount):
            raise PermanentError(
                f"{self.invoice_id}: payments {self.payments + amount} would exceed the amount"
                f" {self.amount}"
            )
        self.payments += amount
        self._settle()

    def reverse_payment(self, amount: Decimal) -> None:
        self.payments -= amount
        self._settle()

    def _settle(self) -> None:
        status = status_for(self.sent, self.payments, self.balance, self.credited)
        if status != self.status:
            self.events.append(("status_changed", self.status))
            self.status = status
