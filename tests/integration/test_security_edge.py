"""The gateway's edge protects itself (issue 14), on the real stack: body size and time limits
before authentication, JSON depth, error texts that are ours, plain amounts and dates, security
headers on every response, and the invoice document in a sandbox (an opaque origin in Chromium).
The stack runs with short body timeouts (conftest: 5 s whole, 3 s between pieces)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from devstack.stack import Stack
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.payments_helpers import one_time_invoice

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
BODY_TIMEOUT = 5.0  # BILLPORT_GATEWAY_BODY_TIMEOUT_SECONDS of the test stack
BODY_IDLE = 3.0  # BILLPORT_GATEWAY_BODY_IDLE_SECONDS
INTERNALS = ("DETAIL", "sys.", "Traceback", "asyncpg", "psycopg", "numeric field overflow")


async def raw_request(
    stack: Stack,
    head: str,
    pieces: Sequence[bytes] = (),
    pause_seconds: float = 0.0,
    token: str | None = None,
) -> tuple[int, dict[str, str], bytes, float]:
    """One request written by hand (the server may answer before the body is complete):
    status, headers, body of the answer, and the seconds it took to come. The pieces are sent
    in a task of their own, `pause_seconds` apart, while the answer is awaited."""
    port = int(stack.config.gateway_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(f"{head}\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
    started = time.monotonic()

    async def send() -> None:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            if pause_seconds:
                await asyncio.sleep(pause_seconds)

    sender = asyncio.create_task(send())
    try:
        answer = await asyncio.wait_for(reader.read(), 60)  # until the server closes
    finally:
        sender.cancel()
        writer.close()
    elapsed = time.monotonic() - started
    head_text, _, body = answer.partition(b"\r\n\r\n")
    lines = head_text.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body, elapsed


def rss_kib(stack: Stack) -> int:
    status = Path(f"/proc/{stack.procs['gateway'].popen.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def chunked(total: int, size: int = 64 * 1024) -> list[bytes]:
    """`total` bytes of body as chunks of chunked transfer encoding, without the final chunk."""
    pieces, left = [], total
    while left:
        n = min(size, left)
        pieces.append(f"{n:x}\r\n".encode() + b"x" * n + b"\r\n")
        left -= n
    return pieces


async def test_an_oversized_body_without_a_token_is_413_at_once_and_never_read(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    await gateway.get("/healthz")
    before = rss_kib(stack)
    for _ in range(3):
        status, headers, body, _ = await raw_request(
            stack,
            "POST /api/v1/usage/records HTTP/1.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {52 * 1000 * 1000}",
            [b'{"records": ['],  # the rest never sent: the answer comes without it
        )
        assert status == 413, body
        assert b'"too_large"' in body and headers["connection"] == "close"
    # 52 MB read three times would be 150 MB; a few MB is the allocator's noise
    assert rss_kib(stack) - before < 5 * 1024, (before, rss_kib(stack))
    status, _, body, _ = await raw_request(
        stack, f"POST /api/v1/products HTTP/1.1\r\nContent-Length: {MIB + 1}", [b"{"]
    )
    assert status == 413 and b"larger than 1048576 bytes" in body


async def exchange(stack: Stack, pieces: Sequence[bytes]) -> bytes:
    """Write `pieces` on one connection (stopping if the server closes it), then read until
    the server closes."""
    port = int(stack.config.gateway_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            if writer.is_closing() or reader.at_eof():
                break
            writer.write(piece)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


async def test_request_headers_past_16_kib_are_431_and_the_connection_closed(
    stack: Stack,
) -> None:
    """The gateway parses with httptools, which alone would keep headers of any size: the
    line and headers of a request are bounded to 16 KiB, whether they come in one write, in
    many small ones that never end, or as the second request on a kept-alive connection."""
    ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 12_000 + b"\r\n\r\n"
    close = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = await exchange(stack, [ok, close])
    assert answer.count(b"HTTP/1.1 200") == 2, answer[:200]

    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n"
    endless = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n"] + [
        f"X-Pad-{n}: {'b' * 1000}\r\n".encode() for n in range(200)
    ]
    for pieces in ([big], endless, [ok, big]):
        answer = await exchange(stack, pieces)
        head, _, body = answer.rpartition(b"HTTP/1.1 ")[2].partition(b"\r\n\r\n")
        assert head.startswith(b"431 "), answer[:300]
        assert b"connection: close" in head.lower()
        error = json.loads(body)["error"]
        assert error == {
            "code": "headers_too_large",
            "message": "the request line and headers are larger than 16384 bytes",
        }
    # the gateway is still answering
    assert (await exchange(stack, [close])).startswith(b"HTTP/1.1 200")


async def test_a_streamed_body_is_cut_off_with_413_when_it_passes_the_limit(
    stack: Stack,
) -> None:
    # 1 MiB elsewhere; everything sent is read (limit + 1 byte), so the close is clean
    status, headers, body, _ = await raw_request(
        stack,
        "POST /api/v1/products HTTP/1.1\r\nTransfer-Encoding: chunked",
        chunked(MIB + 1),
        token=ADMIN_TOKEN,
    )
    assert status == 413 and b"larger than 1048576 bytes" in body
    assert headers["connection"] == "close"
    # 16 MiB for a usage push, which a valid body of 10,000 records stays well under
    status, _, body, _ = await raw_request(
        stack,
        "POST /api/v1/usage/records HTTP/1.1\r\nTransfer-Encoding: chunked",
        chunked(16 * MIB + 1, 1024 * 1024),
    )
    assert status == 413 and b"larger than 16777216 bytes" in body


async def test_a_slow_body_is_408_and_the_connection_closed(stack: Stack) -> None:
    # a byte a second: no pause too long, but the whole body never arrives in time
    status, headers, body, elapsed = await raw_request(
        stack,
        "POST /api/v1/products HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100",
        [b"{"] * 100,
        pause_seconds=1.0,
    )
    assert status == 408, body
    assert b'"request_timeout"' in body and headers["connection"] == "close"
    assert BODY_TIMEOUT - 0.5 < elapsed < BODY_TIMEOUT + 2.5, elapsed
    # one byte, then silence: the pause limit answers first
    status, _, body, elapsed = await raw_request(
        stack, "POST /api/v1/usage/records HTTP/1.1\r\nContent-Length: 100", [b"{"]
    )
    assert status == 408, body
    assert BODY_IDLE - 0.5 < elapsed < BODY_IDLE + 2.5, elapsed


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/api/v1/usage/records", '{"records": ' + deep(5000) + "}", "application/json"),
        ("/api/v1/usage/starlink", '{"content": ' + deep(40) + "}", "application/json"),
        ("/api/v1/usage/records", "[" * 200_000, None),  # never closed
        ("/api/v1/products", '{"name": ' + deep(5000) + "}", "application/json"),
        ("/api/v1/products", '{"name": ' + deep(40) + "}", None),
        ("/api/v1/organizations", "{" * 3000, "application/json"),
    ],
)
async def test_deeply_nested_json_is_refused_in_our_words(
    gateway: httpx.AsyncClient, path: str, body: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    r = await gateway.post(path, content=body, headers=headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["message"] == "the request body is nested too deeply"
    assert error["fields"] == {"body": "at most 32 levels of nested objects and lists"}


async def test_json_within_the_depth_still_reaches_validation(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/v1/products", json={"name": [[[[["x"]]]]], "unit_price": "1"})
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"name": "must be a string"}


HOSTILE: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/products", {"name": "a\u0000b", "unit_price": "1.00"}),
    ("POST", "/api/v1/organizations", {"name": "NUL \u0000 org"}),
    ("POST", "/api/v1/products", {"name": "Huge", "unit_price": "9" * 100_000}),
    ("POST", "/api/v1/products", {"name": "Long", "unit_price": "1." + "0" * 100_000}),
    ("POST", "/api/v1/organizations", {"name": "x", "payment_terms_days": "9" * 100_000}),
    (
        "POST",
        "/api/v1/plans",
        {
            "name": "Overflow",
            "monthly_price": "1.00",
            "allowance_gb": "1",
            "overage_price_per_gb": "99999999999999",
        },
    ),
    ("POST", "/api/v1/usage/records", {"records": [{"service_line_number": "\u0000"}]}),
    ("GET", "/api/v1/invoices?min_amount=" + "9" * 5000, None),
    ("GET", "/api/v1/invoices?limit=" + "9" * 5000, None),
    ("GET", "/api/v1/audit?cursor=" + "9" * 5000, None),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE)
async def test_errors_never_carry_internals(
    gateway: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    r = await gateway.request(method, path, json=body)
    assert r.status_code < 500, r.text
    if r.status_code != 202:  # the usage push answers 202 with the record rejected
        assert 400 <= r.status_code < 500 and "error" in r.json(), r.text
    for word in INTERNALS:
        assert word not in r.text, (word, r.text[:500])


async def test_numbers_as_json_text_of_100000_digits_are_refused_in_our_words(
    gateway: httpx.AsyncClient,
) -> None:
    for path, body in [
        ("/api/v1/products", '{"name": "n", "unit_price": ' + "9" * 100_000 + "}"),
        ("/api/v1/usage/records", '{"records": [{"priority_gb": ' + "9" * 100_000 + "}]}"),
        ("/api/v1/organizations", '{"name": "n", "payment_terms_days": ' + "9" * 100_000 + "}"),
    ]:
        r = await gateway.post(path, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500 or r.status_code == 202, r.text[:300]
        for word in INTERNALS:
            assert word not in r.text, (word, r.text[:500])


async def test_a_value_postgresql_refuses_is_named_by_its_kind(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/v1/products", json={"name": "a\u0000b", "unit_price": "1.00"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == (
        "the request cannot be stored: a text holds a character that cannot be stored"
    )


BAD_AMOUNTS = ["1e3", "\u0661\u0662\u0663", "\uff11\uff12\uff13", " 5", "5 ", "12.5.1", "1_000"]
BAD_DAYS = ["0001-01-01", "9999-12-31", "1899-12-31", "3000-01-01", "2026-11-04T00:00:00"]


async def test_amounts_and_dates_are_plain_ascii_text_in_range(
    gateway: httpx.AsyncClient,
) -> None:
    pay = "/api/v1/invoices/INV-NONE/payments"
    good_payment = {"amount": "12.50", "received_on": "2026-11-04", "method": "ACH"}
    for amount in BAD_AMOUNTS:
        r = await gateway.post(pay, json={**good_payment, "amount": amount})
        assert r.status_code == 422, (amount, r.text)
        assert "decimal number" in r.json()["error"]["fields"]["amount"], r.text
        r = await gateway.post("/api/v1/products", json={"name": "P", "unit_price": amount})
        assert r.status_code == 422 and "unit_price" in r.json()["error"]["fields"], r.text
        r = await gateway.get("/api/v1/invoices", params={"min_amount": amount})
        assert r.status_code == 422 and "min_amount" in r.json()["error"]["fields"], r.text
    for day in BAD_DAYS:
        r = await gateway.post(pay, json={**good_payment, "received_on": day})
        assert r.status_code == 422, (day, r.text)
        assert r.json()["error"]["fields"]["received_on"].startswith("must be"), r.text
        r = await gateway.get("/api/v1/invoices", params={"payable_from": day})
        assert r.status_code == 422 and "payable_from" in r.json()["error"]["fields"], r.text
    for period in ["0001-01", "9999-12", "\u0662\u0660\u0662\u0666-11"]:
        r = await gateway.post("/api/v1/billing-runs", json={"period": period})
        assert r.status_code == 422, (period, r.text)
        assert r.json()["error"]["fields"] == {
            "period": "must be a month YYYY-MM between 1900-01 and 2999-12"
        }
    # the plain forms still pass: a product at 12.50, an invoice filter on an amount and a day
    made = await gateway.post("/api/v1/products", json={"name": "Plain", "unit_price": "12.5"})
    assert made.status_code == 201 and made.json()["unit_price"] == "12.50", made.text
    listed = await gateway.get(
        "/api/v1/invoices", params={"min_amount": "0.5", "payable_from": "2026-01-01"}
    )
    assert listed.status_code == 200, listed.text


def assert_secured(response: httpx.Response) -> str:
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, (response.url, policy)
    script_src = re.search(r"script-src ([^;]*)", policy)
    assert "'unsafe-inline'" not in (script_src.group(1) if script_src else ""), policy
    assert response.headers.get("x-content-type-options") == "nosniff", response.url
    assert response.headers.get("referrer-policy") == "no-referrer", response.url
    return policy


async def an_invoice(gateway: httpx.AsyncClient) -> str:
    return await one_time_invoice(gateway, "99", label="Edge ")


async def test_every_response_carries_the_security_headers(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    invoice = await an_invoice(gateway)
    async with httpx.AsyncClient(base_url=stack.config.gateway_url) as anonymous:
        responses = [
            await anonymous.get("/"),
            await anonymous.get("/invoices"),
            await anonymous.get("/web/invoices.js"),
            await anonymous.get("/usage"),
            await anonymous.get("/web/usage.js"),
            await anonymous.get("/web/vendor/chart.umd.min.js"),
            await anonymous.get("/web/login.js"),
            await anonymous.get("/healthz"),
            await anonymous.get("/openapi.json"),
            await anonymous.get("/api/v1/whoami"),  # 401
            await anonymous.get("/no/such/page"),  # 404
            await anonymous.post("/api/v1/products", content=b"x" * (MIB + 1)),  # 413
            await gateway.get("/api/v1/whoami"),
            await gateway.post("/api/v1/products", json={}),  # 422
            await gateway.delete("/api/v1/whoami"),  # 405
        ]
        docs = await anonymous.get("/docs")
        redoc = await anonymous.get("/redoc")
    assert [r.status_code for r in responses] == [
        *[200] * 9,
        401,
        404,
        413,
        200,
        422,
        405,
    ]
    for response in responses:
        assert "script-src 'self'" in assert_secured(response)
    for page in [*responses[:2], responses[3]]:  # the web UI: no inline script or handler
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), page.url
        assert not re.search(r"\son[a-z]+\s*=", page.text), page.url

    # /docs: its CDN and exactly the hash of its own inline script, nothing inline beyond it
    policy = assert_secured(docs)
    inline = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    script_src = re.search(r"script-src ([^;]*)", policy).group(1).split()  # type: ignore[union-attr]
    assert sorted(script_src) == sorted(["https://cdn.jsdelivr.net", f"'sha256-{digest}'"])
    assert "connect-src 'self'" in policy
    assert "https://cdn.jsdelivr.net" in assert_secured(redoc)

    document = await gateway.get(f"/api/v1/invoices/{invoice}/document")
    assert document.status_code == 200 and invoice in document.text
    assert assert_secured(document).startswith("sandbox; default-src 'none';")


async def test_the_invoice_document_runs_in_an_opaque_origin_in_chromium(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    invoice = await an_invoice(gateway)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        page.on("pageerror", lambda e: console.append(str(e)))
        await page.goto(stack.config.gateway_url + "/")
        await page.fill("#token", ADMIN_TOKEN)
        await page.click("button[type=submit]")  # login.js, a file: the CSP allows it
        await page.wait_for_url("**/invoices")
        await page.click("text=Products (OneTime)")
        await page.click("#toggle-filters")
        await page.fill("#filters [name=invoice_id]", invoice)
        await page.click("#filters button[type=submit]")
        row = page.locator(f"tr[data-invoice='{invoice}']")
        await row.locator("[data-action=view]").click()
        frame_element = page.locator("#doc-frame")
        await expect(frame_element).to_be_visible()
        assert await frame_element.get_attribute("sandbox") == ""
        frame = page.frame_locator("#doc-frame")
        await expect(frame.locator("body")).to_contain_text(invoice)
        # From the app's side the document is another origin: no way into it...
        assert await page.evaluate(
            "() => document.querySelector('#doc-frame').contentDocument === null"
        )
        # ...and from the document's side no way out: its origin is opaque, the app's
        # session storage (the token) out of reach.
        child = next(f for f in page.frames if f != page.main_frame)
        assert await child.evaluate("() => window.origin") == "null"
        reached = await child.evaluate(
            "() => { try { return parent.sessionStorage.getItem('billport-token'); }"
            " catch (e) { return 'refused: ' + e.name; } }"
        )
        assert reached == "refused: SecurityError"
        # the document opened directly runs sandboxed too (its own CSP)
        direct = await page.request.get(
            f"{stack.config.gateway_url}/api/v1/invoices/{invoice}/document",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert direct.headers["content-security-policy"].startswith("sandbox;")
        await browser.close()
    assert not [m for m in console if "Content Security Policy" in m], console
