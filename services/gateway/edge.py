"""The gateway's edge: what every request passes before routing, parsing or authentication, and
what every response carries.

- Body size: 413 at once when `Content-Length` is over the limit, and as soon as a streamed
  (chunked) body passes it; the limit is larger for usage pushes only.
- Body time: the whole body within `body_timeout_seconds`, no gap between two chunks longer
  than `body_idle_seconds`; otherwise 408 and the connection is closed (a slow sender holds a
  connection and memory for as long as the server waits).
- JSON depth: a body nested deeper than `max_json_depth` is refused before any parser recurses
  into it (Python's parser would raise RecursionError). The usage pushes are checked by
  `services.gateway.ingest` instead, after authentication: their bodies may be 16 MiB, and a
  stranger's should not cost the scan.
- Security headers on every response, the errors and 500s included: a Content-Security-Policy
  without inline script (the docs pages get exactly the CDN and script hashes they need, the
  invoice document a sandbox), `frame-ancestors 'none'`, nosniff, no referrer.

The body is read here, within those limits, and handed to the application in one message: every
route takes JSON that it reads whole anyway.

Pure ASGI rather than BaseHTTPMiddleware, so that nothing reads the body before the limits do and
the 413/408 can be answered without the application running at all.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

USAGE_PUSH_PATHS = frozenset({"/api/v1/usage/records", "/api/v1/usage/starlink"})
"""The routes that take usage records: their body limit is `max_usage_body_bytes`."""
DOCUMENT_PATH = re.compile(r"^/api/v1/(invoices|credit-notes)/[^/]+/document$")

APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The web UI and the API: scripts only from the gateway's own files (no inline script); inline
styles are allowed (the pages and the invoice document use style attributes, which run no code)."""
DOCUMENT_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
)
"""The invoice document, even opened directly: a sandbox (an opaque origin, no script, no
access to the app's storage), only its own inline styles and data: images."""
COMMON_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def script_hashes(html: str) -> list[str]:
    """CSP source expressions for the inline scripts of a page we serve as it is."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    ]


class _Sources(HTMLParser):
    """The origins a page loads scripts, stylesheets and icons from."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: set[str] = set()
        self.styles: set[str] = set()
        self.images: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = {k: v or "" for k, v in attrs}
        if tag == "script" and given.get("src"):
            self.scripts.add(_origin(given["src"]))
        elif tag == "link" and "stylesheet" in given.get("rel", ""):
            self.styles.add(_origin(given.get("href", "")))
        elif tag == "link" and "icon" in given.get("rel", ""):
            self.images.add(_origin(given.get("href", "")))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"


def docs_policy(html: str, font_hosts: tuple[str, ...] = ()) -> str:
    """For a docs page (Swagger UI, ReDoc): the hosts it loads scripts, stylesheets and its icon
    from and the hashes of its inline scripts, never 'unsafe-inline' for scripts; styles may be
    inline (both UIs set style attributes, ReDoc writes style elements); ReDoc reads the spec in
    a blob: worker."""
    found = _Sources()
    found.feed(html)
    scripts = " ".join([*sorted(found.scripts), *script_hashes(html)]) or "'none'"
    styles = " ".join([*sorted(found.styles), "'unsafe-inline'"])
    images = " ".join([*sorted(found.images), "data:"])
    fonts = " ".join(font_hosts) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src {images}; "
        f"font-src {fonts}; connect-src 'self'; worker-src blob:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests containers deeper than `limit`, in C-speed passes (a 16 MiB
    body takes milliseconds): escapes and then strings are cut out, every bracket becomes `(` or
    `)`, and each pass removes the innermost pairs, one level. A pair left after `limit` passes,
    or more than `limit` brackets opened and never closed, is too deep (Python's parser would
    recurse into those before finding the text invalid)."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    shape = outside_strings.translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        inner = shape.replace(b"()", b"")
        if inner == shape:
            break
        shape = inner
    return b"()" in shape or shape.count(b"(") > limit


_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_usage_body_bytes: int
    body_timeout_seconds: float
    body_idle_seconds: float
    max_json_depth: int


@dataclass(frozen=True)
class Policies:
    """Content-Security-Policy per path; `APP_POLICY` for every other one."""

    exact: dict[str, str] = field(default_factory=dict)

    def for_path(self, path: str) -> str:
        if path in self.exact:
            return self.exact[path]
        if DOCUMENT_PATH.match(path):
            return DOCUMENT_POLICY
        return APP_POLICY


class Refused(Exception):
    """The request is answered at the edge (413, 408, 422) without reaching the application."""

    def __init__(self, status: int, code: str, message: str, field_reason: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field_reason = (
            status,
            code,
            message,
            field_reason,
        )

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field_reason:
            error["fields"] = {"body": self.field_reason}
        # Closing is the point: the rest of the body is never read into memory.
        return JSONResponse({"error": error}, self.status, headers={"Connection": "close"})

    async def answer(self, receive: Receive, send: Send) -> None:
        """The whole answer at once; then, for a 413, a lingering close: what the client still
        sends is read and dropped for a moment before the connection closes. A client that
        writes its whole body before reading (most do) then reads the 413; closed at once, the
        unread bytes would make the kernel reset the connection and lose the answer."""
        response = self.response()
        await send(
            {"type": "http.response.start", "status": self.status, "headers": response.raw_headers}
        )
        linger = self.status == 413
        await send({"type": "http.response.body", "body": response.body, "more_body": linger})
        if linger:
            await _drop_rest(receive)
            await send({"type": "http.response.body", "body": b"", "more_body": False})


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        limits: Limits,
        policies: Policies,
        on_unexpected: Callable[[Request, Exception], Awaitable[Response]],
    ) -> None:
        self.app, self.limits, self.policies = app, limits, policies
        self.on_unexpected = on_unexpected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        policy = self.policies.for_path(scope["path"])

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = policy
                for name, value in COMMON_HEADERS.items():
                    headers[name] = value
            await send(message)

        try:
            body = await self.read_body(scope, receive)
        except Refused as refused:
            await refused.answer(receive, send_secured)
            return
        if body is None:  # the client left while sending
            return
        try:
            await self.app(scope, _replay(body, receive), send_secured)
        except Exception as exc:
            # Past the application's handlers (a 500): answered here so that it carries the
            # headers too, then raised on for the server's log, as Starlette does.
            if not started:
                response = await self.on_unexpected(Request(scope), exc)
                await response(scope, receive, send_secured)
            raise

    def _limit(self, scope: Scope) -> int:
        if scope["method"] == "POST" and scope["path"] in USAGE_PUSH_PATHS:
            return self.limits.max_usage_body_bytes
        return self.limits.max_body_bytes

    async def read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body within the limits (b"" when there is none), or None when the client
        disconnected; `Refused` otherwise."""
        limit = self._limit(scope)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        if declared in (None, b"0") and b"transfer-encoding" not in headers:
            return b""
        chunks, size = [], 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.body_timeout_seconds
        while True:
            wait = min(self.limits.body_idle_seconds, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                raise Refused(
                    408,
                    "request_timeout",
                    f"the request body did not arrive in time: all of it within"
                    f" {self.limits.body_timeout_seconds:g} s, no pause longer than"
                    f" {self.limits.body_idle_seconds:g} s",
                ) from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        depth = self.limits.max_json_depth
        if (
            limit == self.limits.max_body_bytes
            and _is_json(headers)
            and json_depth_exceeds(body, depth)
        ):
            raise Refused(422, "validation_failed", TOO_DEEP, too_deep_reason(depth))
        return body


TOO_DEEP = "the request body is nested too deeply"


def too_deep_reason(depth: int) -> str:
    return f"at most {depth} levels of nested objects and lists"


LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024 * 1024
"""A lingering close drops at most this much for at most that long: its bytes are never kept."""


async def _drop_rest(receive: Receive) -> None:
    loop = asyncio.get_running_loop()
    deadline, dropped = loop.time() + LINGER_SECONDS, 0
    while dropped < LINGER_BYTES and (left := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            return
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return
        dropped += len(message.get("body", b""))


def _too_large(limit: int) -> Refused:
    return Refused(413, "too_large", f"the request body is larger than {limit} bytes")


def _is_json(headers: dict[bytes, bytes]) -> bool:
    """JSON, or no type given (FastAPI and the usage routes read those as JSON too)."""
    kind = headers.get(b"content-type", b"").lower()
    return not kind or b"json" in kind


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read here as one message, then the client's own events (its disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def install(
    app: FastAPI,
    settings: GatewaySettings,
    on_unexpected: Callable[[Request, Exception], Awaitable[Response]],
) -> None:
    """The edge as the outermost middleware (call last, after every other middleware)."""
    policies: dict[str, str] = {}
    if app.docs_url and app.openapi_url:
        html = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        ).body
        policies[app.docs_url] = docs_policy(bytes(html).decode())
    if app.docs_url and app.swagger_ui_oauth2_redirect_url:
        redirect = bytes(get_swagger_ui_oauth2_redirect_html().body).decode()
        policies[app.swagger_ui_oauth2_redirect_url] = docs_policy(redirect)
    if app.redoc_url and app.openapi_url:
        redoc = get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc").body
        # the Google Fonts stylesheet it links loads its font files from this host
        policies[app.redoc_url] = docs_policy(bytes(redoc).decode(), ("https://fonts.gstatic.com",))
    app.add_middleware(
        Edge,
        limits=Limits(
            max_body_bytes=settings.max_body_bytes,
            max_usage_body_bytes=settings.max_usage_body_bytes,
            body_timeout_seconds=settings.body_timeout_seconds,
            body_idle_seconds=settings.body_idle_seconds,
            max_json_depth=settings.max_json_depth,
        ),
        policies=Policies(policies),
        on_unexpected=on_unexpected,
    )
