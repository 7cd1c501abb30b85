"""What the internal credential costs: a new one signed (PyJWT, HS256) and checked in full, and
what a call pays with the reuse (`sign` and `verify` find the credential of this caller and
audience made or checked a moment ago), in microseconds, with no stack needed."""

from __future__ import annotations

import secrets
import time
import timeit
from collections.abc import Callable

from shared.internal_auth import Caller, decode, encode, sign, verify

ROUNDS = 20_000


def micros(call: Callable[[], object]) -> float:
    return timeit.timeit(call, number=ROUNDS) / ROUNDS * 1e6


def run() -> tuple[float, float, float, float]:
    """(sign, verify, sign reused, verify reused) in microseconds a call."""
    secret = secrets.token_urlsafe(48)
    caller = Caller(actor="tok_0123456789abcdef", role="finance", client="127.0.0.1")
    signed = sign(caller, secret, "invoicing")
    issued = int(time.time())
    return (
        micros(lambda: encode(caller, secret, "invoicing", issued)),
        micros(lambda: decode(signed, secret, "invoicing")),
        micros(lambda: sign(caller, secret, "invoicing")),
        micros(lambda: verify(signed, secret, "invoicing")),
    )
