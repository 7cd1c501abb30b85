"""The web UI: the login page at `/`, the Invoices page at `/invoices` and the Usage page at
`/usage` (plain HTML and a little JavaScript over the public API; the token stays in the
browser's session storage).

The Usage page draws its charts with Chart.js (MIT), vendored unchanged in `web/vendor/chartjs/`
and served from here: the Content-Security-Policy's `script-src 'self'` holds (Chart.js needs no
eval), and nothing is fetched at run time.

The icons are Tabler Icons (MIT), the SVG files the pages use vendored in `web/icons/`: they are
put into the page once as an inline sprite of `<symbol>`s, which the script draws with `<use>`.
Inline SVG runs no code, so the Content-Security-Policy stays as it is, nothing is fetched at run
time, and the icons take the text colour (`currentColor`) of the button they are in."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
_WEB = Path(__file__).parent.parent / "web"
_SVG = "http://www.w3.org/2000/svg"
_KEPT = ("viewBox", "fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin")
ET.register_namespace("", _SVG)


def _symbol(path: Path) -> str:
    """One icon file as `<symbol id="i-NAME">`, its drawing attributes kept."""
    svg = ET.fromstring(path.read_text())
    attrs = "".join(f' {k}="{svg.get(k)}"' for k in _KEPT if svg.get(k) is not None)
    # Children serialize with the SVG namespace declared on each: dropped, the sprite has it.
    inner = "".join(ET.tostring(child, encoding="unicode").strip() for child in svg)
    inner = inner.replace(f' xmlns="{_SVG}"', "")
    return f'<symbol id="i-{path.stem}"{attrs}>{inner}</symbol>'


def icon_sprite(folder: Path = _WEB / "icons") -> str:
    symbols = "".join(_symbol(p) for p in sorted(folder.glob("*.svg")))
    return (
        f'<svg xmlns="{_SVG}" aria-hidden="true" focusable="false" width="0" height="0"'
        f' style="position:absolute;overflow:hidden">{symbols}</svg>'
    )


def _page(name: str) -> str:
    return (_WEB / name).read_text().replace("<!-- icons -->", icon_sprite(), 1)


_LOGIN = _page("login.html")
_INVOICES = _page("invoices.html")
_USAGE = _page("usage.html")
_SCRIPT = (_WEB / "invoices.js").read_text()
_USAGE_SCRIPT = (_WEB / "usage.js").read_text()
_LOGIN_SCRIPT = (_WEB / "login.js").read_text()
_CHART_JS = (_WEB / "vendor" / "chartjs" / "chart.umd.min.js").read_text()


@router.get("/", response_class=HTMLResponse)
async def login_page() -> str:
    return _LOGIN


@router.get("/invoices", response_class=HTMLResponse)
async def invoices_page() -> str:
    return _INVOICES


@router.get("/usage", response_class=HTMLResponse)
async def usage_page() -> str:
    return _USAGE


@router.get("/web/login.js")
async def login_script() -> Response:
    return Response(_LOGIN_SCRIPT, media_type="text/javascript")


@router.get("/web/invoices.js")
async def invoices_script() -> Response:
    return Response(_SCRIPT, media_type="text/javascript")


@router.get("/web/usage.js")
async def usage_script() -> Response:
    return Response(_USAGE_SCRIPT, media_type="text/javascript")


@router.get("/web/vendor/chart.umd.min.js")
async def chart_script() -> Response:
    return Response(_CHART_JS, media_type="text/javascript")
