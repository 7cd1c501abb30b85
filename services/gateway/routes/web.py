"""The web UI: the login page at `/` and the Invoices page at `/invoices` (plain HTML and a
little JavaScript over the public API; the token stays in the browser's session storage)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
_WEB = Path(__file__).parent.parent / "web"
_LOGIN = (_WEB / "login.html").read_text()
_INVOICES = (_WEB / "invoices.html").read_text()
_SCRIPT = (_WEB / "invoices.js").read_text()
_LOGIN_SCRIPT = (_WEB / "login.js").read_text()


@router.get("/", response_class=HTMLResponse)
async def login_page() -> str:
    return _LOGIN


@router.get("/invoices", response_class=HTMLResponse)
async def invoices_page() -> str:
    return _INVOICES


@router.get("/web/login.js")
async def login_script() -> Response:
    return Response(_LOGIN_SCRIPT, media_type="text/javascript")


@router.get("/web/invoices.js")
async def invoices_script() -> Response:
    return Response(_SCRIPT, media_type="text/javascript")
