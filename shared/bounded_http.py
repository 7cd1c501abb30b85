"""uvicorn's httptools protocol with a bound on each request's line and headers.

httptools (llhttp, in C) parses a request at a fraction of h11's cost: at the gateway, h11 took
about a sixth of the process's CPU per request. But httptools keeps whatever headers arrive, of
any size, until they end. This protocol counts the bytes of the request's head as they arrive
and answers 431 once they pass the limit (what follows is read and dropped until the connection
closes), so a client cannot make the server hold more than the limit and one read."""

from __future__ import annotations

import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 16 * 1024
"""The request line and headers of one request: a bearer token and the usual headers take well
under 2 KiB."""

LINGER_SECONDS = 2.0
"""How long a refused connection is read and dropped before it closes."""
_HEADER_OVERHEAD = 4
"""`: ` and CRLF around each header, which the parser's callbacks leave out."""


def _refusal(limit: int) -> bytes:
    body = json.dumps(
        {
            "error": {
                "code": "headers_too_large",
                "message": f"the request line and headers are larger than {limit} bytes",
            }
        }
    ).encode()
    head = [
        b"HTTP/1.1 431 Request Header Fields Too Large",
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"x-content-type-options: nosniff",
        b"cache-control: no-store",
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` refusing a request whose line and headers exceed `MAX_HEADER_BYTES`
    (431, then closed)."""

    max_head_bytes = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        """uvicorn's own, with the head counted: the bytes read while a head is incomplete
        count against it (a read may also hold a body: the exact size is checked when the head
        ends)."""
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refused:
                return  # the head was too large: already answered
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        exact = len(self.url) + sum(len(n) + len(v) + _HEADER_OVERHEAD for n, v in self.headers)
        if exact > self.max_head_bytes:
            self._refuse()
            # stops the parser: feed_data raises, and data_received sees the refusal
            raise _HeadTooLarge
        super().on_headers_complete()

    def _refuse(self) -> None:
        """Answer 431, then a lingering close: the answer is followed by the end of our side
        of the stream, what the client still sends is read and dropped, and the connection
        closes a moment later. Closed at once with its bytes unread, the kernel would reset
        the connection and the client could lose the answer."""
        self._refused = True
        if self.transport.is_closing():
            return
        self.transport.write(_refusal(self.max_head_bytes))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a refused request."""
