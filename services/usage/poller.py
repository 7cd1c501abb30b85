"""The Starlink usage poller behind `billport usage poll`.

It pulls every page of the Starlink Enterprise API v2 data-usage query
(`POST {api_url}/public/v2/data-usage/query`) and hands each page to the gateway
(`POST {gateway_url}/api/v1/usage/starlink`) exactly as Starlink sent it: the same bytes, so
no usage figure goes through a float and back, and the gateway's parser (not this one) decides
what is valid.

Failures that may go away by themselves (connection errors, 429, 5xx) are retried with a
bounded exponential backoff; an expired Starlink token (401) is renewed once per request; any
other refusal stops the poll with a `PollError` that says who refused and why. A page is only
requested after the previous one was accepted, so a stopped poll can simply be run again: the
gateway keeps the newest snapshot per line and day.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

log = logging.getLogger(__name__)

QUERY_PATH = "/public/v2/data-usage/query"
INGEST_PATH = "/api/v1/usage/starlink"
MAX_PAGE_SIZE = 250  # the Starlink API's largest page
MAX_PAGES = 10_000  # a runaway guard: no account has 2.5 million service lines
MAX_KEPT_REJECTIONS = 20
MAX_DELAY = 30.0  # seconds; no single backoff (or Retry-After) waits longer
TOKEN_MARGIN = 30  # seconds before `expires_in` at which a token counts as expired

OnPage = Callable[[int, int, int, int], None]
"""Progress callback: `on_page(page_index, results, accepted, rejected)` after each page."""


class PollError(Exception):
    """The poll stopped: a refusal, an invalid page, or a failure that outlasted the retries."""


@dataclass(frozen=True)
class PollConfig:
    """Where to read usage from and where to send it.

    `max_tries` and `backoff_seconds` (first delay, doubled per try) bound the retries of a
    single request; tests set `backoff_seconds=0` so retries are instant."""

    api_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    gateway_url: str
    feed_token: str = field(repr=False)
    account_number: str | None = None
    page_size: int = MAX_PAGE_SIZE
    timeout: float = 30.0
    max_tries: int = 5
    backoff_seconds: float = 0.5

    def __post_init__(self) -> None:
        """Refuse a bad configuration before any request is made."""
        if isinstance(self.page_size, bool) or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {self.page_size!r}")
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {self.max_tries!r}")
        if self.backoff_seconds < 0 or self.timeout <= 0:
            raise ValueError("backoff_seconds must be >= 0 and timeout > 0")


@dataclass
class PollSummary:
    """What a poll did, page by page added up; `rejections` keeps only the first few, each with
    the `page_index` it came from so it can be found again."""

    pages: int = 0
    service_lines: int = 0
    accepted: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def add(self, page_index: int, results: int, outcome: GatewayOutcome) -> None:
        self.pages += 1
        self.service_lines += results
        self.accepted += outcome.accepted
        self.rejected += len(outcome.rejections)
        room = MAX_KEPT_REJECTIONS - len(self.rejections)
        for rejection in outcome.rejections[: max(room, 0)]:
            self.rejections.append({**rejection, "page_index": page_index})


@dataclass(frozen=True)
class Page:
    """The parts of a Starlink page the poller steers by; the page itself travels as `raw`."""

    raw: bytes
    results: int
    is_last: bool


@dataclass(frozen=True)
class GatewayOutcome:
    accepted: int
    rejections: list[dict[str, Any]]


async def poll(config: PollConfig, on_page: OnPage | None = None) -> PollSummary:
    """Read every data-usage page from Starlink and forward each to the gateway, in order."""
    summary = PollSummary()
    async with httpx.AsyncClient(timeout=config.timeout) as client:
        tokens = TokenSource(client, config)
        for page_index in range(MAX_PAGES):
            page = await fetch_page(client, config, tokens, page_index)
            if page.results == 0:
                return summary  # past the end, or an account without service lines
            outcome = await forward_page(client, config, page, page_index)
            summary.add(page_index, page.results, outcome)
            if on_page is not None:
                on_page(page_index, page.results, outcome.accepted, len(outcome.rejections))
            if page.is_last:
                return summary
    raise PollError(f"Starlink did not report a last page within {MAX_PAGES} pages; stopped")


class TokenSource:
    """The Starlink OAuth2 access token (client credentials), fetched when first needed, reused
    until shortly before it expires, and renewed on demand when the API answers 401."""

    def __init__(self, client: httpx.AsyncClient, config: PollConfig) -> None:
        self._client = client
        self._config = config
        self._token: str | None = None
        self._expires_at = 0.0

    async def get(self) -> str:
        if self._token is None or time.monotonic() >= self._expires_at:
            return await self.renew()
        return self._token

    async def renew(self) -> str:
        config = self._config
        form = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        }
        response = await post_with_retries(
            self._client, config, "the Starlink token endpoint", config.token_url, data=form
        )
        if not response.is_success:
            raise PollError(f"the Starlink token endpoint refused: {describe(response)}")
        self._token, lifetime = parse_token(response)
        self._expires_at = time.monotonic() + lifetime - min(TOKEN_MARGIN, lifetime // 10)
        return self._token


def parse_token(response: httpx.Response) -> tuple[str, int]:
    """The access token and its lifetime in seconds (an hour when the answer does not say)."""
    try:
        payload = response.json()
    except ValueError as exc:
        raise PollError("the Starlink token endpoint answered with something not JSON") from exc
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise PollError("the Starlink token endpoint answered without an access_token")
    lifetime = payload.get("expires_in")
    return token, lifetime if isinstance(lifetime, int) and lifetime > 0 else 3600


async def fetch_page(
    client: httpx.AsyncClient, config: PollConfig, tokens: TokenSource, page_index: int
) -> Page:
    """One page of the data-usage query; a 401 means the token expired, so renew it once."""
    url = config.api_url.rstrip("/") + QUERY_PATH
    body = query_body(config, page_index)
    what = f"the Starlink data-usage query (page {page_index})"
    response = await post_with_retries(
        client, config, what, url, json=body, headers=bearer(await tokens.get())
    )
    if response.status_code == 401:
        token = await tokens.renew()
        response = await post_with_retries(
            client, config, what, url, json=body, headers=bearer(token)
        )
    if not response.is_success:
        raise PollError(f"{what} was refused: {describe(response)}")
    return parse_page(response.content, page_index)


def query_body(config: PollConfig, page_index: int) -> dict[str, Any]:
    body: dict[str, Any] = {"pageIndex": page_index, "limit": config.page_size}
    if config.account_number:
        body = {"accountNumber": config.account_number, **body}
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parse_page(raw: bytes, page_index: int) -> Page:
    """Read a page only to steer the loop (numbers as Decimal, never float); stop on a page that
    Starlink itself marks invalid, since forwarding it would only be refused."""
    try:
        wrapper = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise PollError(f"Starlink page {page_index} is not JSON: {exc}") from exc
    if not isinstance(wrapper, dict) or not isinstance(wrapper.get("content"), dict):
        raise PollError(f"Starlink page {page_index} has no `content` object")
    if wrapper.get("isValid") is False or wrapper.get("errors"):
        problems = "; ".join(str(e) for e in wrapper.get("errors") or []) or "no errors listed"
        raise PollError(f"Starlink marked page {page_index} invalid: {problems}")
    content = wrapper["content"]
    results = content.get("results")
    if not isinstance(results, list):
        raise PollError(f"Starlink page {page_index} has no `content.results` list")
    return Page(raw=raw, results=len(results), is_last=content.get("isLastPage") is True)


async def forward_page(
    client: httpx.AsyncClient, config: PollConfig, page: Page, page_index: int
) -> GatewayOutcome:
    """Send the page's exact bytes to the gateway; any refusal (4xx) stops the poll."""
    url = config.gateway_url.rstrip("/") + INGEST_PATH
    headers = {**bearer(config.feed_token), "Content-Type": "application/json"}
    what = f"the gateway (page {page_index})"
    response = await post_with_retries(client, config, what, url, content=page.raw, headers=headers)
    if not response.is_success:
        raise PollError(f"{what} refused the page: {describe(response)}")
    return parse_outcome(response, what)


def parse_outcome(response: httpx.Response, what: str) -> GatewayOutcome:
    """The gateway's `{"accepted": N, "rejected": [...]}`."""
    try:
        payload = response.json()
    except ValueError as exc:
        raise PollError(f"{what} answered with something not JSON") from exc
    accepted = payload.get("accepted") if isinstance(payload, dict) else None
    rejected = payload.get("rejected") if isinstance(payload, dict) else None
    if not isinstance(accepted, int) or not isinstance(rejected, list):
        raise PollError(f"{what} answered without `accepted` and `rejected`: {payload!r:.300}")
    return GatewayOutcome(accepted, [r if isinstance(r, dict) else {"reason": r} for r in rejected])


async def post_with_retries(
    client: httpx.AsyncClient, config: PollConfig, what: str, url: str, **kwargs: Any
) -> httpx.Response:
    """POST, retrying what may pass (connection errors, 429, 5xx) up to `max_tries` times with
    a doubling delay; any other answer is returned for the caller to judge."""
    problem = ""
    for attempt in range(1, config.max_tries + 1):
        try:
            response = await client.post(url, **kwargs)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PollError(f"{what}: bad URL {url!r}: {exc}") from exc
        except httpx.TransportError as exc:
            problem, wait = f"{type(exc).__name__}: {exc}", None
        else:
            if not is_transient(response.status_code):
                return response
            problem, wait = describe(response), retry_after(response)
        if attempt < config.max_tries:
            delay = backoff_delay_seconds(config, attempt, wait)
            log.warning(
                "%s: %s; try %d of %d in %.1fs", what, problem, attempt + 1, config.max_tries, delay
            )
            await asyncio.sleep(delay)
    raise PollError(f"{what}: gave up after {config.max_tries} tries; last: {problem}")


def is_transient(status: int) -> bool:
    return status == 429 or status >= 500


def retry_after(response: httpx.Response) -> int | None:
    """The server's own `Retry-After` in seconds, when it gives one as a number."""
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


def backoff_delay_seconds(config: PollConfig, attempt: int, retry_after: int | None) -> float:
    """Doubling delay, never shorter than what the server asked for, never over `MAX_DELAY`."""
    delay = config.backoff_seconds * (1 << (attempt - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_DELAY)


def describe(response: httpx.Response) -> str:
    """A refusal in one line: the status and the gateway's `error.message` (with its fields),
    Starlink's `errors`, or the start of the body."""
    return f"HTTP {response.status_code}: {reason_of(response)}"


def reason_of(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return gateway_reason(payload["error"])
    if isinstance(payload, dict) and payload.get("errors"):
        return "; ".join(str(e) for e in payload["errors"])[:300]
    return json.dumps(payload)[:300]


def gateway_reason(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or error.get("code") or "no message")
    fields = error.get("fields")
    if isinstance(fields, dict) and fields:
        message += " (" + "; ".join(f"{k}: {v}" for k, v in fields.items()) + ")"
    return message
