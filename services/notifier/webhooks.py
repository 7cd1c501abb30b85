"""Webhooks: which events a webhook may ask for, which URLs it may point at, its secret, and
the retry schedule of its deliveries. The queue, the consumer and the HTTP calls live in
`webhook_repository`, `webhook_consumer` and `webhook_delivery`."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from shared.errors import ValidationFailed
from shared.events.invoicing import InvoiceRestated
from shared.events.topics import INVOICING_EVENTS, PAYMENTS_EVENTS, USAGE_ALERTS, Topic

ALL = "*"
"""In `events[]`: every event type, those added later included."""

TOPICS: tuple[Topic[Any], ...] = (INVOICING_EVENTS, PAYMENTS_EVENTS, USAGE_ALERTS)
"""The topics whose events webhooks receive."""

_LEFT_OUT = {InvoiceRestated}
"""`invoice.restated` repairs a service's copy of an invoice; it tells a receiver nothing new."""


def _type_of(model: type[Any]) -> str:
    return str(model.model_fields["type"].default)


def types_of(topic: Topic[Any]) -> tuple[str, ...]:
    """The event types of `topic` that webhooks receive."""
    return tuple(_type_of(model) for model in topic.events if model not in _LEFT_OUT)


EVENT_TYPES: tuple[str, ...] = tuple(t for topic in TOPICS for t in types_of(topic))
"""invoice.generated, invoice.revised, invoice.approved, invoice.status_changed,
credit_note.issued, payment.posted, payment.reversed, usage.threshold_crossed."""

PARTNERS: dict[str, Topic[Any]] = {
    INVOICING_EVENTS.name: PAYMENTS_EVENTS,
    PAYMENTS_EVENTS.name: INVOICING_EVENTS,
}
"""Topics about the same resources (an invoice's own events and its payments, both keyed by
the invoice id), read by consumers that may be ahead of each other. A delivery of one waits
until the notifier has read the other as far as it stood when the delivery was read, then the
two go in the order their events occurred (`webhook_repository.lease_due`)."""

MAX_URL_LENGTH = 2048


def new_secret() -> str:
    """32 random bytes (`secrets`), URL-safe text with a prefix that says what it is."""
    return "whsec_" + secrets.token_urlsafe(32)


def new_id() -> str:
    return "wh_" + secrets.token_hex(8)


def check_events(events: list[str]) -> list[str]:
    """The asked event types, deduplicated in their order; unknown names are a 422 naming them."""
    unknown = [e for e in events if e != ALL and e not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"unknown event type(s): {', '.join(unknown)}",
            fields={"events": f"each must be one of {', '.join(EVENT_TYPES)}, or {ALL} for all"},
        )
    if not events:
        raise ValidationFailed("no events", fields={"events": "name at least one event type"})
    return list(dict.fromkeys(events))


@dataclass(frozen=True)
class TargetRules:
    """Where deliveries may go: HTTPS (HTTP only when allowed), and public addresses only
    unless private targets are allowed (a local stack, tests)."""

    allow_http: bool = False
    allow_private: bool = False


class TargetRefused(Exception):
    """A URL a webhook may not point at, with the reason in our words."""


@dataclass(frozen=True)
class Target:
    """A URL checked and resolved: deliveries connect to `address` (the one checked, so a DNS
    answer that changes between the check and the connection cannot reroute them)."""

    url: httpx.URL
    address: str

    def pinned(self) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """The URL with the checked address for host, the Host header and the TLS server name
        of the original host (the certificate is still checked against the name)."""
        host_header = self.url.netloc.decode("ascii")
        extensions: dict[str, Any] = {}
        if self.url.scheme == "https":
            extensions["sni_hostname"] = self.url.raw_host.decode("ascii")
        return self.url.copy_with(host=self.address), {"Host": host_header}, extensions


def parse_url(text: str, rules: TargetRules) -> httpx.URL:
    """The URL's shape: scheme, host, no credentials (they would show in every listing)."""
    if len(text) > MAX_URL_LENGTH:
        raise TargetRefused(f"longer than {MAX_URL_LENGTH} characters")
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise TargetRefused("not a URL") from None
    allowed = ("https", "http") if rules.allow_http else ("https",)
    if url.scheme not in allowed:
        raise TargetRefused(
            "must start with https://"
            if url.scheme != "http"
            else "must use https:// (plain http:// is not allowed on this deployment)"
        )
    if not url.host:
        raise TargetRefused("has no host")
    if url.userinfo:
        raise TargetRefused("must not carry a user name or password")
    if url.fragment:
        raise TargetRefused("must not carry a #fragment")
    return url


def is_public(address: str) -> bool:
    """A globally routable unicast address: not loopback, private, link-local, shared (CGN),
    multicast, reserved or unspecified; an IPv4-mapped IPv6 address is judged as IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(url: httpx.URL, rules: TargetRules) -> Target:
    """Resolve the URL's host and check every address it has (an attacker's name may answer
    with one public and one private address)."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetRefused(f"the host {url.host} does not resolve") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"the host {url.host} does not resolve")
    if not rules.allow_private:
        private = [a for a in addresses if not is_public(a)]
        if private:
            raise TargetRefused(
                f"the host {url.host} resolves to a loopback, private or link-local address"
                f" ({private[0]}); only public addresses are allowed"
            )
    return Target(url, addresses[0])


async def check_url(text: str, rules: TargetRules) -> str:
    """A URL a webhook may be registered with, or a 422 that says why not."""
    try:
        url = parse_url(text, rules)
        await resolve(url, rules)
    except TargetRefused as exc:
        raise ValidationFailed(f"the URL is refused: {exc}", fields={"url": str(exc)}) from None
    return str(url)


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    timeout_seconds: float
    lease_seconds: float
    disable_after_failures: int
    batch: int = 16

    def backoff(self, attempts: int) -> timedelta:
        """The wait after try `attempts` failed: doubling from the base, capped."""
        doubled = timedelta(seconds=self.retry_base_seconds) * (1 << min(attempts - 1, 40))
        return min(timedelta(seconds=self.retry_max_seconds), doubled)
