"""Payment postings and reversals as the API takes them; the gateway and the payments service
validate with the same models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.api.types import Day
from shared.events.payments import PaymentMethod
from shared.money import Money

PaidAmount = Annotated[Money, Field(gt=0, le=10**11)]


class PaymentIn(BaseModel):
    """What a customer paid against one invoice: more than zero, at most two decimals."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    amount: PaidAmount
    received_on: Day
    method: PaymentMethod
    reference: Annotated[str, Field(max_length=200)] | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class ReversalIn(BaseModel):
    """Why a posting is taken back: a mistake, a bounced cheque, a chargeback."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Annotated[str, Field(min_length=3, max_length=500)]
