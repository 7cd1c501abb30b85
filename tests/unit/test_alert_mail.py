"""The usage alert e-mail: text from the built-in templates, or from the overrides folder, and
no attachment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from services.notifier.document import Documents, Reseller
from services.notifier.mailer import build_message
from shared.events.alerts import UsageThresholdCrossed

RESELLER = Reseller("Orbit Resale", ("1 Main St", "Seattle"), "billing@orbit.test", ())
ALERT = UsageThresholdCrossed(
    alert_id="alert_7",
    org_id="org_1",
    org_name="Blue Fleet",
    subject="sub_pool",
    subject_id="pool_1",
    subject_name="North Atlantic",
    period="2042-03",
    threshold=80,
    allowance_gb="100",
    used_gb="85.5",
    percent_used=Decimal("85.50"),
    forecast_gb="114.428571429",
    recipients=["ops@blue.test"],
)


def test_the_built_in_templates_name_the_pool_the_figures_and_the_threshold() -> None:
    subject, body = Documents(RESELLER).alert_text(ALERT)
    assert subject == "North Atlantic has used 85.50% of its 2042-03 allowance (80% alert)"
    assert "the sub-pool North Atlantic has reached 80% of its priority data allowance" in body
    assert "Allowance:            100 GB" in body
    assert "Used so far:          85.5 GB (85.50%)" in body
    assert "Forecast, month end:  114.428571429 GB" in body


def test_an_override_folder_replaces_the_alert_templates(tmp_path: Path) -> None:
    (tmp_path / "usage_alert_subject.txt.j2").write_text("Alert {{ alert.threshold }}%\n")
    (tmp_path / "usage_alert_body.txt.j2").write_text(
        "{{ alert.subject_name }}: {{ alert.used_gb }}"
    )
    subject, body = Documents(RESELLER, overrides=tmp_path).alert_text(ALERT)
    assert (subject, body) == ("Alert 80%", "North Atlantic: 85.5")


def test_the_alert_message_has_no_attachment() -> None:
    message = build_message(
        "b@orbit.test", ["ops@blue.test"], "s", "body", "<usage-alert-alert_7@x>"
    )
    assert not message.is_multipart() and message["Message-ID"] == "<usage-alert-alert_7@x>"
