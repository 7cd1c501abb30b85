"""A document a service rendered, answered as a download with its file name."""

from __future__ import annotations

from fastapi.responses import Response

from shared.internal_client import Answer

MEDIA = {"pdf": "application/pdf", "xml": "application/xml"}


def download(made: Answer, name: str, kind: str) -> Response:
    """`made`'s body as `<name>.<kind>` (kind: pdf or xml)."""
    return Response(
        made.content,
        media_type=MEDIA[kind],
        headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'},
    )
