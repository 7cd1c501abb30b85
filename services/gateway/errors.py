"""Errors only the gateway raises (the one translation of every error is `shared.http_errors`)."""

from __future__ import annotations

from shared.errors import BillPortError


class Busy(BillPortError):
    """Try again shortly: the system is catching up (HTTP 429 with Retry-After)."""

    code = "busy"
    http_status = 429

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        retry_after_seconds: int = 1,
    ) -> None:
        super().__init__(message, fields=fields)
        self.retry_after_seconds = retry_after_seconds
