"""Webhooks without a stack: the signature and its check (against a value computed with
`openssl dgst -sha256 -hmac`), `billport webhooks verify`, the retry schedule, event names and
the URL rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from billport_cli.main import main
from services.notifier.main import NotifierSettings
from services.notifier.webhook_signature import problem, sign, verify
from services.notifier.webhooks import (
    EVENT_TYPES,
    DeliveryPolicy,
    Target,
    TargetRefused,
    TargetRules,
    check_events,
    check_url,
    is_public,
    new_secret,
    parse_url,
    resolve,
)
from shared.errors import ValidationFailed

SECRET = "whsec_test"
BODY = b'{"event_id":"0b6f","type":"payment.posted"}'
T = 1767225600  # 2026-01-01T00:00:00Z
# printf '%s' '1767225600.{"event_id":"0b6f","type":"payment.posted"}' \
#   | openssl dgst -sha256 -hmac whsec_test
EXPECTED = "61f659fd8f86f8f097695dd5d311853d4414849bf7078b98069b968b090c5f7d"


def test_signature_is_the_hmac_of_time_dot_body() -> None:
    assert sign(SECRET, BODY, T) == f"t={T},v1={EXPECTED}"


def test_verify_accepts_the_signature_within_the_tolerance() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, 300, now_seconds=T + 300)
    assert verify(SECRET, header, BODY, 300, now_seconds=T - 300)  # a clock a little ahead
    assert verify(SECRET, header, BODY, 0, now_seconds=T + 10**7)  # 0: any time


@pytest.mark.parametrize(
    ("secret", "header", "body", "now", "why"),
    [
        (SECRET, f"t={T},v1={EXPECTED}", BODY + b" ", T, "does not match"),
        ("whsec_other", f"t={T},v1={EXPECTED}", BODY, T, "does not match"),
        (SECRET, f"t={T + 1},v1={EXPECTED}", BODY, T, "does not match"),  # time changed
        (SECRET, f"t={T},v1={EXPECTED}", BODY, T + 301, "301 s away"),  # replayed later
        (SECRET, f"v1={EXPECTED}", BODY, T, "no t="),
        (SECRET, f"t={T}", BODY, T, "no v1="),
        (SECRET, f"t=soon,v1={EXPECTED}", BODY, T, "not a whole number"),
        (SECRET, "", BODY, T, "no t="),
    ],
)
def test_verify_refuses_and_says_why(
    secret: str, header: str, body: bytes, now: int, why: str
) -> None:
    found = problem(secret, header, body, 300, now_seconds=now)
    assert found is not None and why in found
    assert not verify(secret, header, body, 300, now_seconds=now)


def test_any_one_of_several_v1_values_may_match() -> None:
    header = f"t={T}, v1={'0' * 64}, v1={EXPECTED}"
    assert verify(SECRET, header, BODY, 300, now_seconds=T)


def test_cli_verify_prints_valid_or_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    header = sign(SECRET, BODY)  # now
    args = ["webhooks", "verify", "--secret", SECRET, "--body-file", str(body)]
    assert main([*args, "--signature", header]) == 0
    assert capsys.readouterr().out == "valid\n"
    assert main([*args, "--signature", f"t={T},v1={EXPECTED}"]) == 1  # years old
    assert capsys.readouterr().out.startswith("invalid: the timestamp is")
    old = ["--signature", f"t={T},v1={EXPECTED}", "--tolerance-seconds", "0"]
    assert main([*args, *old]) == 0
    body.write_bytes(BODY.replace(b"posted", b"reversed"))
    assert main([*args, "--signature", header]) == 1
    assert "does not match" in capsys.readouterr().out.splitlines()[-1]
    assert main([*args[:-1], str(tmp_path / "none"), "--signature", header]) == 1


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = DeliveryPolicy(
        max_attempts=16,
        retry_base_seconds=5,
        retry_max_seconds=3600,
        timeout_seconds=10,
        lease_seconds=60,
        disable_after_failures=5,
    )
    waits = [policy.backoff(n).total_seconds() for n in range(1, 16)]
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560] + [3600] * 5
    # the last (16th) try comes 5+10+...+2560 + 5*3600 s = 5115 + 18000 s after the first
    assert sum(waits) == 23115
    assert policy.backoff(200) == timedelta(seconds=3600)  # no overflow however many


def test_the_default_settings_give_that_schedule_and_refuse_a_short_lease() -> None:
    policy = NotifierSettings().webhook_policy()
    assert (policy.max_attempts, policy.retry_base_seconds, policy.retry_max_seconds) == (
        16,
        5.0,
        3600.0,
    )
    assert NotifierSettings().webhook_rules() == TargetRules(False, False)
    with pytest.raises(ValueError, match="webhook_lease_seconds must be longer"):
        NotifierSettings(webhook_timeout_seconds=30, webhook_lease_seconds=20)


def test_event_names_are_those_of_the_topics_and_star() -> None:
    assert EVENT_TYPES == (
        "invoice.generated",
        "invoice.revised",
        "invoice.approved",
        "invoice.status_changed",
        "credit_note.issued",
        "payment.posted",
        "payment.reversed",
        "usage.threshold_crossed",
    )
    assert check_events(["payment.posted", "*", "payment.posted"]) == ["payment.posted", "*"]
    with pytest.raises(ValidationFailed) as refused:
        check_events(["payment.posted", "invoice.paid", "invoice.restated"])
    assert refused.value.message == "unknown event type(s): invoice.paid, invoice.restated"
    assert "usage.threshold_crossed" in (refused.value.fields or {})["events"]


def test_secrets_are_long_and_random() -> None:
    made = {new_secret() for _ in range(100)}
    assert len(made) == 100
    assert all(s.startswith("whsec_") and len(s) == 6 + 43 for s in made)  # 32 bytes, base64


STRICT = TargetRules()
LOCAL = TargetRules(allow_http=True, allow_private=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "must start with https://"),
        ("http://example.com/x", "plain http:// is not allowed"),
        ("example.com/hook", "must start with https://"),
        ("https:///hook", "has no host"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("https://example.com/hook#x", "fragment"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_url_shapes_refused(url: str, why: str) -> None:
    with pytest.raises(TargetRefused, match=why):
        parse_url(url, STRICT)


def test_http_allowed_only_when_the_setting_says_so() -> None:
    assert parse_url("http://127.0.0.1:9/x", LOCAL).scheme == "http"
    with pytest.raises(TargetRefused, match="must start with https://"):
        parse_url("ftp://127.0.0.1/x", LOCAL)  # never another scheme


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_private_targets_refused_unless_allowed() -> None:
    for url in ("https://127.0.0.1/x", "https://localhost:8443/x", "https://[::1]/x"):
        with pytest.raises(TargetRefused, match="loopback, private or link-local"):
            await resolve(parse_url(url, STRICT), STRICT)
        target = await resolve(parse_url(url, LOCAL), LOCAL)
        assert not is_public(target.address)
    with pytest.raises(ValidationFailed) as refused:
        await check_url("https://10.0.0.7/hook", STRICT)
    assert refused.value.fields == {
        "url": "the host 10.0.0.7 resolves to a loopback, private or link-local address"
        " (10.0.0.7); only public addresses are allowed"
    }
    with pytest.raises(TargetRefused, match="does not resolve"):
        await resolve(parse_url("https://nowhere.invalid/x", STRICT), STRICT)


def test_a_delivery_connects_to_the_checked_address_with_the_name_kept() -> None:
    target = Target(httpx.URL("https://hooks.example.com:8443/in?x=1"), "203.0.113.9")
    url, headers, extensions = target.pinned()
    assert str(url) == "https://203.0.113.9:8443/in?x=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}  # the certificate is checked
    six = Target(httpx.URL("http://hooks.example.com/in"), "2001:db8::5").pinned()
    assert str(six[0]) == "http://[2001:db8::5]/in" and six[2] == {}
