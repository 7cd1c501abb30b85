"""The internal credential: signed once a short span per caller and audience and reused, known
by its text once verified, and still refused once expired, for another audience, or forged."""

from __future__ import annotations

import time

import jwt
import pytest

from shared import internal_auth
from shared.errors import Unauthorized
from shared.internal_auth import LIFETIME_SECONDS, REUSE_SECONDS, Caller, sign, verify

SECRET = "s" * 40
FINANCE = Caller(actor="tok_fin", role="finance", client="10.0.0.7")


def test_a_credential_is_reused_within_its_span_for_the_same_caller_and_audience() -> None:
    start = 1_700_000_000  # a multiple of REUSE_SECONDS: one span from here
    first = sign(FINANCE, SECRET, "payments", now_seconds=start)
    assert sign(FINANCE, SECRET, "payments", now_seconds=start + REUSE_SECONDS - 1) == first
    assert sign(FINANCE, SECRET, "payments", now_seconds=start + REUSE_SECONDS) != first
    assert sign(FINANCE, SECRET, "invoicing", now_seconds=start) != first
    other = Caller(actor="tok_fin", role="finance", client="10.0.0.8")
    assert sign(other, SECRET, "payments", now_seconds=start) != first
    claims = jwt.decode(
        first, SECRET, algorithms=["HS256"], audience="payments", options={"verify_exp": False}
    )
    assert claims["exp"] - claims["iat"] == LIFETIME_SECONDS
    assert (claims["sub"], claims["role"], claims["cip"]) == ("tok_fin", "finance", "10.0.0.7")


def test_a_verified_credential_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    credential = sign(FINANCE, SECRET, "payments", now_seconds=now)
    assert verify(credential, SECRET, "payments") == FINANCE  # checked in full, then known
    assert verify(credential, SECRET, "payments") == FINANCE
    monkeypatch.setattr(internal_auth.time, "time", lambda: now + LIFETIME_SECONDS + 10)
    with pytest.raises(Unauthorized, match="expired"):
        verify(credential, SECRET, "payments")


def test_a_known_credential_is_still_refused_elsewhere_or_under_another_secret() -> None:
    credential = sign(FINANCE, SECRET, "payments")
    assert verify(credential, SECRET, "payments") == FINANCE
    with pytest.raises(Unauthorized, match="not valid"):
        verify(credential, SECRET, "invoicing")
    with pytest.raises(Unauthorized, match="not valid"):
        verify(credential, "t" * 40, "payments")
    forged = credential[:-2] + ("AA" if credential[-2:] != "AA" else "BB")
    with pytest.raises(Unauthorized, match="not valid"):
        verify(forged, SECRET, "payments")
    with pytest.raises(Unauthorized, match="expired"):
        verify(sign(FINANCE, SECRET, "payments", now_seconds=time.time() - 600), SECRET, "payments")
