"""The web UI's entry: the login page at `/` (the Invoices page arrives with its issue)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
_LOGIN = (Path(__file__).parent.parent / "web" / "login.html").read_text()


@router.get("/", response_class=HTMLResponse)
async def login_page() -> str:
    return _LOGIN
