"""The Starlink usage poller (`billport usage poll`) against real HTTP on 127.0.0.1: a fake
Starlink (OAuth2 client-credentials token endpoint and the v2 data-usage query) and a fake
gateway, one FastAPI app served by uvicorn in a background thread for the module."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from billport_cli.main import main
from services.usage import poller
from services.usage.poller import PollConfig, PollError, PollSummary, poll

CLIENT_ID = "reseller-client"
CLIENT_SECRET = "s3cret-value"
FEED_TOKEN = "feed-token-abc"
ACCOUNT = "ACC-2284581-87213-11"
PAGE_SIZE = 3

# The fixed data set: (service line number, daily entries per billing cycle). 7 lines, so a
# page size of 3 gives 3 pages (3, 3, 1 lines).
LINES: list[tuple[str, list[int]]] = [
    ("AST-511274-31364-54", [2, 3]),
    ("AST-511274-31364-55", [3]),
    ("AST-511274-31364-56", [4]),
    ("AST-511274-31364-57", [5]),
    ("AST-511274-31364-58", [2]),
    ("AST-511274-31364-59", [3]),
    ("AST-511274-31364-60", [4]),
]
ALL_ENTRIES = sum(sum(cycles) for _, cycles in LINES)  # 26
# Number literals that a float round trip would change: the forwarded bytes must keep them.
TRICKY_NUMBERS = ("1.00000000000000000001", "0.10", "2E-3", "12345678.123456789012345")


# --- the fake Starlink data set, rendered as JSON text by hand ---------------------------


def daily_entry(cycle: int, day: int) -> str:
    return (
        f'{{"date": "2026-{10 + cycle:02d}-{day:02d}T00:00:00Z",\n'
        f'   "priorityGB": {TRICKY_NUMBERS[day % 4]}, "optInPriorityGB": 0.0,'
        f' "standardGB": {TRICKY_NUMBERS[(day + 1) % 4]}, "nonBillableGB": 0}}'
    )


def billing_cycle(cycle: int, days: int) -> str:
    month = 10 + cycle
    entries = ", ".join(daily_entry(cycle, day) for day in range(1, days + 1))
    return (
        f'{{"startDate": "2026-{month:02d}-01T00:00:00Z",'
        f' "endDate": "2026-{month:02d}-28T23:59:59Z", "dailyDataUsage": [{entries}]}}'
    )


def result(line: str, cycles: list[int]) -> str:
    rendered = ", ".join(billing_cycle(c, days) for c, days in enumerate(cycles))
    return (
        f'{{"accountNumber": "{ACCOUNT}", "serviceLineNumber": "{line}",'
        f' "startDate": "2025-01-01T00:00:00Z", "endDate": null,'
        f' "lastUpdated": "2026-11-29T06:00:00Z",'
        f' "servicePlan": {{"productReferenceId": "plan-1", "isOptedIntoOverage": true}},'
        f' "billingCycles": [{rendered}]}}'
    )


def page_bytes(page_index: int, limit: int, valid: bool = True) -> bytes:
    chosen = LINES[page_index * limit : (page_index + 1) * limit]
    is_last = (page_index + 1) * limit >= len(LINES)
    results = ",\n    ".join(result(line, cycles) for line, cycles in chosen)
    errors = '[{"errorMessage": "Account is not authorized", "errorCode": 4031}]'
    return (
        f'{{"errors": {"[]" if valid else errors}, "warnings": [], "information": [],'
        f' "isValid": {"true" if valid else "false"},\n "content": {{"pageIndex": {page_index},'
        f' "limit": {limit}, "isLastPage": {"true" if is_last else "false"},'
        f' "totalCount": {len(LINES)}, "results": [\n    {results}]}}}}'
    ).encode()


def entries_in(page: bytes) -> list[tuple[str, int]]:
    """(service line, index in page) of every daily entry, counted as the gateway counts."""
    content = json.loads(page, parse_float=Decimal)["content"]
    found: list[tuple[str, int]] = []
    for line in content["results"]:
        for cycle in line["billingCycles"]:
            for _ in cycle["dailyDataUsage"]:
                found.append((line["serviceLineNumber"], len(found)))
    return found


# --- the fake servers --------------------------------------------------------------------


@dataclass
class Fake:
    """What the fake servers saw, and the knobs that make them misbehave once."""

    valid_tokens: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    queries: list[tuple[int, int]] = field(default_factory=list)  # (pageIndex, status)
    query_bodies: list[dict[str, Any]] = field(default_factory=list)
    served: list[bytes] = field(default_factory=list)  # pages answered with 200
    received: list[bytes] = field(default_factory=list)  # pages the gateway took (202)
    gateway_calls: int = 0
    expire_token_on_page: int | None = None
    refuse_every_token: bool = False
    fail_query_on_page: int | None = None  # 503 once
    invalid_page: int | None = None
    fail_gateway_once: bool = False  # 503 once
    refuse_gateway_page: int | None = None  # 422 on the page with this pageIndex
    reject_lines: set[str] = field(default_factory=set)


@dataclass
class Servers:
    fake: Fake
    base_url: str


def create_fake_app(servers: Servers) -> FastAPI:
    """Each handler reads `servers.fake` per request, so every test starts from a new Fake."""
    app = FastAPI()

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        fake = servers.fake
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return JSONResponse({"error": "invalid_request"}, 400)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, 401)
        fake.tokens_issued += 1
        issued = f"starlink-token-{fake.tokens_issued}"
        fake.valid_tokens.add(issued)
        return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": 3600})

    @app.post("/starlink/public/v2/data-usage/query")
    async def query(request: Request) -> Response:
        fake = servers.fake
        body = await request.json()
        status, page = answer_query(fake, request.headers.get("authorization", ""), body)
        fake.queries.append((body.get("pageIndex"), status))
        fake.query_bodies.append(body)
        if page is None:
            return JSONResponse({"errors": [f"HTTP {status}"]}, status)
        fake.served.append(page)
        return Response(page, 200, media_type="application/json")

    @app.post("/api/v1/usage/starlink")
    async def gateway(request: Request) -> Response:
        fake = servers.fake
        fake.gateway_calls += 1
        raw = await request.body()
        refusal = gateway_refusal(fake, request.headers.get("authorization", ""), raw)
        if refusal is not None:
            return refusal
        fake.received.append(raw)
        rejected = [
            {"index": i, "service_line_number": line, "reason": f"{line} is not allowed"}
            for line, i in entries_in(raw)
            if line in fake.reject_lines
        ]
        accepted = len(entries_in(raw)) - len(rejected)
        return JSONResponse({"accepted": accepted, "rejected": rejected}, 202)

    return app


def answer_query(fake: Fake, authorization: str, body: dict[str, Any]) -> tuple[int, bytes | None]:
    """The status and page the fake Starlink answers a data-usage query with."""
    token = authorization.removeprefix("Bearer ")
    if fake.refuse_every_token or token not in fake.valid_tokens:
        return 401, None
    page_index, limit = body.get("pageIndex"), body.get("limit")
    if body.get("accountNumber") != ACCOUNT or not isinstance(page_index, int):
        return 400, None
    if not isinstance(limit, int) or not 1 <= limit <= 250:
        return 400, None
    if fake.expire_token_on_page == page_index:
        fake.expire_token_on_page = None
        fake.valid_tokens.discard(token)
        return 401, None
    if fake.fail_query_on_page == page_index:
        fake.fail_query_on_page = None
        return 503, None
    return 200, page_bytes(page_index, limit, valid=fake.invalid_page != page_index)


def gateway_refusal(fake: Fake, authorization: str, raw: bytes) -> Response | None:
    if authorization != f"Bearer {FEED_TOKEN}":
        error = {"code": "unauthorized", "message": "a valid bearer token is required"}
        return JSONResponse({"error": error}, 401)
    if fake.fail_gateway_once:
        fake.fail_gateway_once = False
        error = {"code": "unavailable", "message": "Kafka is not reachable; try again"}
        return JSONResponse({"error": error}, 503)
    if json.loads(raw)["content"]["pageIndex"] == fake.refuse_gateway_page:
        refused: dict[str, Any] = {
            "code": "validation_failed",
            "message": "the page reports errors; nothing was taken from it",
            "fields": {"content.results": "must be a list of service lines"},
        }
        return JSONResponse({"error": refused}, 422)
    return None


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """Both fake servers on one free port (the socket is bound to port 0 and handed to uvicorn,
    so no other process can take the port in between)."""
    holder = Servers(Fake(), "")
    app = create_fake_app(holder)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    holder.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake servers did not start"
        time.sleep(0.01)
    yield holder
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def fake(servers: Servers) -> Fake:
    servers.fake = Fake()
    return servers.fake


def make_config(servers: Servers, **overrides: Any) -> PollConfig:
    values: dict[str, Any] = {
        "api_url": f"{servers.base_url}/starlink/",
        "token_url": f"{servers.base_url}/oauth/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "gateway_url": servers.base_url,
        "feed_token": FEED_TOKEN,
        "account_number": ACCOUNT,
        "page_size": PAGE_SIZE,
        "timeout": 5.0,
        "backoff_seconds": 0.0,
    }
    return PollConfig(**{**values, **overrides})


def expected_pages(limit: int) -> list[bytes]:
    count = -(-len(LINES) // limit)
    return [page_bytes(i, limit) for i in range(count)]


def assert_complete(summary: PollSummary, fake: Fake, limit: int = PAGE_SIZE) -> None:
    pages = expected_pages(limit)
    assert fake.received == pages
    assert (summary.pages, summary.service_lines) == (len(pages), len(LINES))
    assert (summary.accepted, summary.rejected, summary.rejections) == (ALL_ENTRIES, 0, [])


# --- the poller --------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "pages"), [(PAGE_SIZE, 3), (7, 1), (250, 1)])
async def test_every_page_is_forwarded_byte_for_byte(
    servers: Servers, fake: Fake, limit: int, pages: int
) -> None:
    progress: list[tuple[int, int, int, int]] = []
    summary = await poll(
        make_config(servers, page_size=limit), on_page=lambda *a: progress.append(a)
    )
    assert len(fake.received) == pages
    assert fake.received == fake.served == expected_pages(limit)
    assert all(number.encode() in fake.received[0] for number in TRICKY_NUMBERS)
    assert_complete(summary, fake, limit)
    assert [body["pageIndex"] for body in fake.query_bodies] == list(range(pages))
    assert {(b["accountNumber"], b["limit"]) for b in fake.query_bodies} == {(ACCOUNT, limit)}
    assert [(p, r) for p, r, _, _ in progress] == [
        (i, len(LINES[i * limit : (i + 1) * limit])) for i in range(pages)
    ]
    assert sum(a for _, _, a, _ in progress) == ALL_ENTRIES
    assert fake.tokens_issued == 1


async def test_an_expired_token_is_renewed_once_and_the_page_asked_again(
    servers: Servers, fake: Fake
) -> None:
    fake.expire_token_on_page = 1
    summary = await poll(make_config(servers))
    assert fake.tokens_issued == 2
    assert fake.queries == [(0, 200), (1, 401), (1, 200), (2, 200)]
    assert_complete(summary, fake)


async def test_a_token_refused_after_renewal_stops_the_poll(servers: Servers, fake: Fake) -> None:
    fake.refuse_every_token = True
    with pytest.raises(PollError, match="HTTP 401"):
        await poll(make_config(servers))
    assert fake.tokens_issued == 2  # renewed exactly once, not in a loop
    assert fake.received == []


async def test_a_starlink_503_is_retried(servers: Servers, fake: Fake) -> None:
    fake.fail_query_on_page = 2
    summary = await poll(make_config(servers))
    assert fake.queries == [(0, 200), (1, 200), (2, 503), (2, 200)]
    assert_complete(summary, fake)


async def test_a_gateway_503_is_retried_without_sending_a_page_twice(
    servers: Servers, fake: Fake
) -> None:
    fake.fail_gateway_once = True
    summary = await poll(make_config(servers))
    assert fake.gateway_calls == 4
    assert_complete(summary, fake)


async def test_a_gateway_422_stops_with_the_gateways_message(servers: Servers, fake: Fake) -> None:
    fake.refuse_gateway_page = 1
    with pytest.raises(PollError) as raised:
        await poll(make_config(servers))
    message = str(raised.value)
    assert "HTTP 422" in message and "page 1" in message
    assert "the page reports errors; nothing was taken from it" in message
    assert "content.results: must be a list of service lines" in message
    assert fake.received == [page_bytes(0, PAGE_SIZE)]
    assert [p for p, _ in fake.queries] == [0, 1]  # nothing asked after the refusal
    assert fake.gateway_calls == 2  # a 4xx is not retried


async def test_a_wrong_feed_token_stops_with_the_gateways_message(
    servers: Servers, fake: Fake
) -> None:
    with pytest.raises(PollError, match="HTTP 401: a valid bearer token is required"):
        await poll(make_config(servers, feed_token="wrong"))
    assert fake.gateway_calls == 1


async def test_a_page_starlink_marks_invalid_stops_the_poll(servers: Servers, fake: Fake) -> None:
    fake.invalid_page = 0
    with pytest.raises(PollError, match=r"invalid: .*Account is not authorized"):
        await poll(make_config(servers))
    assert fake.gateway_calls == 0


async def test_wrong_client_credentials_stop_the_poll(servers: Servers, fake: Fake) -> None:
    with pytest.raises(PollError, match="token endpoint refused: HTTP 401"):
        await poll(make_config(servers, client_secret="nope"))
    assert fake.queries == []


async def test_connection_errors_are_retried_a_bounded_number_of_times(
    servers: Servers, fake: Fake
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(PollError, match="gave up after 3 tries; last: ConnectError"):
        await poll(make_config(servers, gateway_url=dead, max_tries=3))
    assert fake.queries == [(0, 200)]


async def test_a_poll_without_a_last_page_is_stopped_by_the_page_guard(
    servers: Servers, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller, "MAX_PAGES", 2)  # the real guard is 10,000 pages
    with pytest.raises(PollError, match="did not report a last page within 2 pages"):
        await poll(make_config(servers))
    assert fake.received == expected_pages(PAGE_SIZE)[:2]


async def test_rejections_are_counted_and_the_first_twenty_kept(
    servers: Servers, fake: Fake
) -> None:
    fake.reject_lines = {line for line, _ in LINES}
    summary = await poll(make_config(servers))
    assert (summary.accepted, summary.rejected) == (0, ALL_ENTRIES)
    assert len(summary.rejections) == 20 < ALL_ENTRIES
    first = summary.rejections[0]
    assert first == {
        "index": 0,
        "service_line_number": LINES[0][0],
        "reason": f"{LINES[0][0]} is not allowed",
        "page_index": 0,
    }
    assert summary.rejections[-1]["page_index"] == 1


@pytest.mark.parametrize("size", [0, -1, 251, 1000])
def test_a_page_size_outside_1_to_250_is_refused(servers: Servers, size: int) -> None:
    with pytest.raises(ValueError, match=r"page_size must be 1\.\.250"):
        make_config(servers, page_size=size)


@pytest.mark.parametrize("size", [1, 250])
def test_page_sizes_at_the_bounds_are_taken(servers: Servers, size: int) -> None:
    assert make_config(servers, page_size=size).page_size == size


# --- the CLI -----------------------------------------------------------------------------


def cli_args(servers: Servers, *extra: str) -> list[str]:
    return [
        "usage",
        "poll",
        "--api-url",
        f"{servers.base_url}/starlink",
        "--token-url",
        f"{servers.base_url}/oauth/token",
        "--client-id",
        CLIENT_ID,
        "--account",
        ACCOUNT,
        "--gateway",
        servers.base_url,
        "--page-size",
        str(PAGE_SIZE),
        *extra,
    ]


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client secret and the feed token come from the environment, as in production."""
    monkeypatch.setenv("STARLINK_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("BILLPORT_FEED_TOKEN", FEED_TOKEN)


@pytest.mark.usefixtures("secrets_in_env")
def test_cli_polls_and_prints_the_summary(
    servers: Servers, fake: Fake, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(cli_args(servers)) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "pages: 3",
        "service lines: 7",
        f"accepted: {ALL_ENTRIES}",
        "rejected: 0",
    ]
    progress = [line for line in err.splitlines() if line.startswith("page ")]
    assert progress == [
        "page 0: 3 service lines, 12 accepted, 0 rejected",
        "page 1: 3 service lines, 10 accepted, 0 rejected",
        "page 2: 1 service lines, 4 accepted, 0 rejected",
    ]
    assert fake.received == expected_pages(PAGE_SIZE)


@pytest.mark.usefixtures("secrets_in_env")
def test_cli_prints_the_first_rejection_reasons(
    servers: Servers, fake: Fake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.reject_lines = {"AST-511274-31364-57"}
    assert main(cli_args(servers)) == 0
    out, _ = capsys.readouterr()
    assert f"accepted: {ALL_ENTRIES - 5}" in out and "rejected: 5" in out
    assert "first rejections:" in out
    assert "  page 1, entry 0, AST-511274-31364-57: AST-511274-31364-57 is not allowed" in out


@pytest.mark.usefixtures("secrets_in_env")
def test_cli_exits_1_with_the_reason_when_the_poll_fails(
    servers: Servers, fake: Fake, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.refuse_gateway_page = 0
    assert main(cli_args(servers)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "billport usage poll: the gateway (page 0) refused the page: HTTP 422" in err


@pytest.mark.usefixtures("secrets_in_env")
@pytest.mark.parametrize("size", ["0", "251", "ten"])
def test_cli_exits_2_on_a_bad_page_size(
    servers: Servers, fake: Fake, capsys: pytest.CaptureFixture[str], size: str
) -> None:
    assert main([*cli_args(servers), "--page-size", size]) == 2
    assert "--page-size" in capsys.readouterr().err
    assert fake.queries == []


def test_cli_exits_2_without_a_feed_token(
    servers: Servers,
    fake: Fake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STARLINK_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.delenv("BILLPORT_FEED_TOKEN", raising=False)
    assert main(cli_args(servers)) == 2
    assert "the following arguments are required: --token" in capsys.readouterr().err
    assert fake.tokens_issued == 0


def test_cli_exits_2_without_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["usage"]) == 2
    assert "usage: billport" in capsys.readouterr().err
