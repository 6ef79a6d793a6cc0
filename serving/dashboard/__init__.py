"""The manager dashboard: a static page served by the scoring service itself.

The page (``GET /dashboard``, no key needed to load it) asks for the API key, keeps it in the
tab's ``sessionStorage`` (never in a URL) and sends it as ``Authorization: Bearer`` to
``GET /dashboard/ranking``.  Its scripts and Plotly (from the installed ``plotly`` package, so
nothing is fetched from the internet) are under ``/dashboard/static/``.

Example:
    >>> b"<html" in page()
    True
"""

from __future__ import annotations

from pathlib import Path

import plotly
from starlette.responses import FileResponse
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def page() -> bytes:
    """The dashboard's HTML."""
    return (STATIC / "index.html").read_bytes()


def static_files() -> Router:
    """The ASGI app behind ``/dashboard/static/``: the page's assets and Plotly."""

    async def plotly_js(_request: object) -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    return Router(routes=[Route("/plotly.min.js", plotly_js),
                          Mount("/", StaticFiles(directory=STATIC))])
