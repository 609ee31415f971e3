"""`/ui/`: the web page (plain HTML, CSS and JavaScript from package files, no build step).

`GET /` redirects a browser (a request that prefers HTML to JSON) here; every other
client gets the JSON index.
"""

from __future__ import annotations

from pathlib import Path

from flask import Request, Response, send_from_directory

from labthings.http.services import ServiceView

__all__ = ["UI_FOLDER", "UiAsset", "UiPage", "prefers_html"]

UI_FOLDER = Path(__file__).parent / "ui"


def prefers_html(request: Request) -> bool:
    """True when the client ranks text/html above JSON (what browsers send)."""
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


class UiPage(ServiceView):
    """`GET /ui/`: the page."""

    def get(self) -> Response:
        return send_from_directory(UI_FOLDER, "index.html", max_age=0)


class UiAsset(ServiceView):
    """`GET /ui/<file>`: its scripts and styles."""

    def get(self, filename: str) -> Response:
        # send_from_directory refuses paths that leave the folder (no traversal).
        return send_from_directory(UI_FOLDER, filename, max_age=0)
