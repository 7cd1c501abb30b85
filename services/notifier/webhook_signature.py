"""The `BillPort-Signature` header of a webhook delivery, and its check.

`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the webhook's secret>`: the time
is signed with the body, so a captured delivery cannot be replayed later than the receiver's
tolerance. Standard library only (hmac, hashlib), so that `billport webhooks verify` and
receivers written in Python can use it as it is."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "BillPort-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` keyed with the secret (its UTF-8 bytes)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` sent now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{SCHEME}={digest(secret, t, body)}"


def problem(
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now_seconds: float | None = None,
) -> str | None:
    """Why the signature does not hold, or None when it does. Several `v1=` values are
    accepted (any one matching), so a sender may sign with two secrets while one replaces the
    other; the comparison takes constant time."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return f"the timestamp {value!r} is not a whole number of seconds"
        elif name == SCHEME:
            candidates.append(value)
    if timestamp is None:
        return "the header has no t=<unix time>"
    if not candidates:
        return f"the header has no {SCHEME}=<signature>"
    now = time.time() if now_seconds is None else now_seconds
    if tolerance_seconds > 0 and abs(now - timestamp) > tolerance_seconds:
        away = int(abs(now - timestamp))
        return f"the timestamp is {away} s away from now (tolerance {tolerance_seconds} s)"
    expected = digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        return "the signature does not match the body and the secret"
    return None


def verify(
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now_seconds: float | None = None,
) -> bool:
    """Whether `header` signs `body` with `secret`, within `tolerance_seconds` of now (0: any
    time)."""
    return problem(secret, header, body, tolerance_seconds, now_seconds) is None
