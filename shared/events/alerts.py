"""Topic `usage.alerts`, key = the subject's id (service line number or sub-pool id): a line on
a plan or a sub-pool crossed one of its organization's usage thresholds in a period. Published
by the invoicing service (outbox) at most once per (subject, period, threshold); the notifier
e-mails `recipients` and delivers it to the webhooks that ask for it."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from shared.events.envelope import Event
from shared.money import GBText


class UsageThresholdCrossed(Event):
    type: Literal["usage.threshold_crossed"] = "usage.threshold_crossed"
    alert_id: str
    org_id: str
    org_name: str
    subject: Literal["service_line", "sub_pool"]
    subject_id: str
    """The service line number, or the sub-pool's id."""
    subject_name: str
    period: str
    """YYYY-MM"""
    threshold: int = Field(ge=1, le=1000)
    """Percent of the allowance."""
    allowance_gb: GBText
    used_gb: GBText
    percent_used: Decimal
    forecast_gb: GBText
    recipients: list[str] = Field(default_factory=list)
    """The organization's customer contacts when it crossed (none: nobody to e-mail)."""
