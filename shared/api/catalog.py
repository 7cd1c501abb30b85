"""The catalog of the API contract: organizations, plans, sub-pools, service lines, products.
Owned by the invoicing service; the gateway validates with the same models."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared.api.types import Day, Month
from shared.money import GB, Money, format_percent, to_decimal

Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=1, max_length=64)]


def _rate(value: Any) -> Decimal:
    rate = to_decimal(value, from_json=isinstance(value, float))
    if rate < 0:
        raise ValueError("must not be negative")
    if rate != rate.quantize(Decimal("0.0001")):
        raise ValueError("must have at most four decimal places")
    return rate


def _format_rate(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text and len(text.split(".")[1]) >= 2 else format(value, ".2f")


Rate = Annotated[
    Decimal,
    BeforeValidator(_rate),
    PlainSerializer(_format_rate, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,4})?$"}),
]
"""A price per GB: non-negative, at most four decimals ("0.0125"); line amounts are rounded."""

Price = Annotated[Money, Field(ge=0)]
Volume = Annotated[GB, Field()]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- billing details ------------------------------------------------------------------------

TAX_RATE_PLACES = 4
RATE_AND_EXEMPTION = (
    "an organization has a tax rate or a tax exemption reason, not both"
    " (set tax_rate to null to exempt it)"
)


def _country(value: Any) -> Any:
    """ISO 3166-1 alpha-2, checked against the real list (pycountry): "XX" looks like a code
    and is none, and a misspelt country would put a wrong country on a legal document."""
    if isinstance(value, str) and (
        not re.fullmatch("[A-Z]{2}", value) or pycountry.countries.get(alpha_2=value) is None
    ):
        raise ValueError(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code (such as GB, US or DE)"
        )
    return value


Country = Annotated[
    str,
    BeforeValidator(_country),
    WithJsonSchema({"type": "string", "pattern": r"^[A-Z]{2}$"}),
]


def _tax_rate(value: Any) -> Decimal:
    rate = to_decimal(value, from_json=isinstance(value, float))
    if not 0 <= rate <= 100:
        raise ValueError("must be a percentage from 0 to 100")
    if rate != rate.quantize(Decimal(1).scaleb(-TAX_RATE_PLACES)):
        raise ValueError(f"must have at most {TAX_RATE_PLACES} decimal places")
    return rate


TaxRate = Annotated[
    Decimal,
    BeforeValidator(_tax_rate),
    PlainSerializer(format_percent, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,4})?$"}),
]
"""A tax rate in percent: 0 to 100, at most four decimals ("20", "8.875")."""

Text = Annotated[str, Field(min_length=1, max_length=200)]


class BillingAddress(_In):
    line1: Text
    line2: Text | None = None
    city: Text
    postal_code: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    region: Text | None = None
    country: Country


class BillingDetails(_In):
    """What an invoice names its buyer by; all optional (documents fall back on `name`)."""

    legal_name: Name | None = None
    billing_address: BillingAddress | None = None
    tax_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    tax_rate: TaxRate | None = None
    tax_exempt_reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    peppol_id: (
        Annotated[
            str,
            Field(
                pattern=r"^[0-9]{4}:[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}$",
                description="The Peppol electronic address, scheme:id, e.g. 0088:5790000435975",
            ),
        ]
        | None
    ) = None

    @field_validator("tax_exempt_reason")
    @classmethod
    def _rate_or_exemption(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field check (not the model's) so that the error names the field.
        if value is not None and info.data.get("tax_rate") is not None:
            raise ValueError(RATE_AND_EXEMPTION)
        return value


BILLING_FIELDS = tuple(BillingDetails.model_fields)

# --- usage alerts ---------------------------------------------------------------------------

DEFAULT_ALERT_THRESHOLDS = (80, 100)
MAX_ALERT_THRESHOLDS = 10

Threshold = Annotated[int, Field(strict=True, ge=1, le=1000)]
"""A usage alert threshold: a whole percent of the allowance, 1 to 1000."""


def _thresholds(value: list[int] | None) -> list[int] | None:
    """Unique, kept in ascending order (the order they are crossed in)."""
    if value is None:
        return None
    repeated = sorted({t for t in value if value.count(t) > 1})
    if repeated:
        raise ValueError(f"each threshold once: {', '.join(map(str, repeated))} repeated")
    return sorted(value)


AlertThresholds = Annotated[
    list[Threshold],
    Field(
        max_length=MAX_ALERT_THRESHOLDS,
        description="Percents of the allowance (1 to 1000, unique, at most 10) at which a line"
        " on a plan or a sub-pool of this organization alerts once per period; [] turns the"
        " alerts off.",
    ),
    AfterValidator(_thresholds),
]


class OrganizationIn(BillingDetails):
    name: Name
    parent_id: Id | None = None
    customer_emails: list[EmailStr] = Field(default_factory=list, max_length=50)
    finance_emails: list[EmailStr] = Field(default_factory=list, max_length=50)
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    usage_alert_thresholds: AlertThresholds = Field(
        default_factory=lambda: list(DEFAULT_ALERT_THRESHOLDS)
    )


class Organization(OrganizationIn):
    id: str


class PlanIn(_In):
    name: Name
    monthly_price: Price
    allowance_gb: Volume
    overage_price_per_gb: Rate | None = None
    overage_block_gb: Volume | None = None
    overage_block_price: Price | None = None

    @model_validator(mode="after")
    def _one_overage_form(self) -> PlanIn:
        per_gb = self.overage_price_per_gb is not None
        block = (self.overage_block_gb, self.overage_block_price)
        if per_gb and any(b is not None for b in block):
            raise ValueError(
                "give overage_price_per_gb or overage_block_gb with overage_block_price, not both"
            )
        if not per_gb and any(b is None for b in block):
            raise ValueError(
                "give overage_price_per_gb, or overage_block_gb with overage_block_price"
            )
        if self.overage_block_gb is not None and self.overage_block_gb <= 0:
            raise ValueError("overage_block_gb must be more than 0")
        return self


class Plan(PlanIn):
    id: str


class SubPoolIn(_In):
    org_id: Id
    name: Name
    monthly_price: Price
    allowance_gb: Volume
    overage_price_per_gb: Rate


class SubPool(SubPoolIn):
    id: str


class ServiceLineIn(_In):
    service_line_number: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$")
    name: Name
    org_id: Id
    plan_id: Id | None = None
    sub_pool_id: Id | None = None
    active_from: Day
    active_to: Day | None = None

    @model_validator(mode="after")
    def _plan_or_pool(self) -> ServiceLineIn:
        if (self.plan_id is None) == (self.sub_pool_id is None):
            raise ValueError(
                "a service line is either on a plan (plan_id) or in a sub-pool "
                "(sub_pool_id): give exactly one"
            )
        if self.active_to is not None and self.active_to < self.active_from:
            raise ValueError("active_to is before active_from")
        return self


class ServiceLine(ServiceLineIn):
    id: str


class OrganizationPatch(BillingDetails):
    """Any field given at creation; the ones given change, invoices generated afterwards use
    the new values. `parent_id: null` makes it a top organization; `null` clears a billing
    detail (the billing address is replaced whole)."""

    name: Name | None = None
    parent_id: Id | None = None
    customer_emails: list[EmailStr] | None = Field(default=None, max_length=50)
    finance_emails: list[EmailStr] | None = Field(default=None, max_length=50)
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    usage_alert_thresholds: AlertThresholds | None = None

    @model_validator(mode="after")
    def _no_nulls_but_parent(self) -> OrganizationPatch:
        for name in self.model_fields_set - {"parent_id", *BILLING_FIELDS}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class ServiceLineChange(_In):
    """From `effective_on` on (past days allowed), the line is billed on this plan or in this
    sub-pool, for this organization (default: the current one)."""

    effective_on: Day
    plan_id: Id | None = None
    sub_pool_id: Id | None = None
    org_id: Id | None = None

    @model_validator(mode="after")
    def _something_changes(self) -> ServiceLineChange:
        if self.plan_id is not None and self.sub_pool_id is not None:
            raise ValueError("give plan_id or sub_pool_id, not both")
        if self.plan_id is None and self.sub_pool_id is None and self.org_id is None:
            raise ValueError("give plan_id, sub_pool_id or org_id")
        return self


class ServiceLinePatch(_In):
    """`name`, and `active_to`: the line ends that day (inclusive, past days allowed); `null`
    reopens it."""

    name: Name | None = None
    active_to: Day | None = None

    @model_validator(mode="after")
    def _something_given(self) -> ServiceLinePatch:
        if not self.model_fields_set:
            raise ValueError("give name or active_to")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class AssignmentOut(BaseModel):
    org_id: str
    plan_id: str | None
    sub_pool_id: str | None
    active_from: date
    active_to: date | None


class ServiceLineDetail(BaseModel):
    service_line_number: str
    name: str
    org_id: str
    plan_id: str | None
    sub_pool_id: str | None
    active_from: date
    active_to: date | None
    assignments: list[AssignmentOut]


class PlanVersionIn(_In):
    """A new price version of a plan for periods from `effective_from` on; fields not given
    keep their value in force then."""

    effective_from: Month
    monthly_price: Price | None = None
    allowance_gb: Volume | None = None
    overage_price_per_gb: Rate | None = None
    overage_block_gb: Volume | None = None
    overage_block_price: Price | None = None

    @model_validator(mode="after")
    def _something_and_one_form(self) -> PlanVersionIn:
        given = self.model_fields_set - {"effective_from"}
        if not given:
            raise ValueError("give at least one of the plan's prices or its allowance")
        if "overage_price_per_gb" in given and given & {"overage_block_gb", "overage_block_price"}:
            raise ValueError("give overage_price_per_gb or the block overage, not both")
        if (self.overage_block_gb is None) != (self.overage_block_price is None):
            raise ValueError("give overage_block_gb with overage_block_price")
        if self.overage_block_gb is not None and self.overage_block_gb <= 0:
            raise ValueError("overage_block_gb must be more than 0")
        return self


class SubPoolVersionIn(_In):
    effective_from: Month
    monthly_price: Price | None = None
    allowance_gb: Volume | None = None
    overage_price_per_gb: Rate | None = None

    @model_validator(mode="after")
    def _something(self) -> SubPoolVersionIn:
        if not self.model_fields_set - {"effective_from"}:
            raise ValueError("give at least one of the pool's prices or its allowance")
        return self


class ProductIn(_In):
    name: Name
    unit_price: Price


class Product(ProductIn):
    id: str


class OrderItem(_In):
    product_id: Id
    quantity: int = Field(ge=1, le=1_000_000)


class ProductOrderIn(_In):
    org_id: Id
    ordered_on: Day
    items: list[OrderItem] = Field(min_length=1, max_length=500)


class BillingRunIn(_In):
    period: Month


class LineIn(_In):
    """One line of an edited invoice; the edit gives the complete new set of lines."""

    type: Literal["REGULAR", "OVERAGE", "ADJUSTMENT", "PRODUCT", "USAGE_INFO"]
    description: Annotated[str, Field(min_length=1, max_length=500)]
    amount: Money
    quantity: Annotated[Decimal, Field(ge=0, max_digits=24, decimal_places=9)] = Decimal(1)
    unit_price: Rate | None = None
    usage_gb: GB | None = None
    service_line_number: str | None = Field(default=None, max_length=64)
    service_line_name: str | None = Field(default=None, max_length=200)
    plan_name: str | None = Field(default=None, max_length=200)
    sub_pool_name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _usage_info_is_free(self) -> LineIn:
        if self.type == "USAGE_INFO" and self.amount != 0:
            raise ValueError("a USAGE_INFO line is for monitoring: its amount is 0")
        return self


class InvoiceEdit(_In):
    lines: list[LineIn] = Field(max_length=5000)
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class RegenerateIn(_In):
    period: Month
    org_id: Id | None = None


class SendIn(_In):
    """`{"to": "customer", "emails": [...]}` (chosen among the customer contacts; all of them
    when none is chosen) or `{"to": "finance"}`."""

    to: Literal["customer", "finance"]
    emails: list[EmailStr] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _finance_takes_no_addresses(self) -> SendIn:
        if self.to == "finance" and self.emails:
            raise ValueError("finance mail goes to the organization's finance contacts: no emails")
        return self
