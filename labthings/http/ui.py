"""`/ui/`: the web page (plain HTML, CSS and JavaScript from package files, no build step).

`GET /` redirects a browser (a request that prefers HTML to JSON) here; every other
client gets the JSON index.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Request, Response, send_from_directory

__all__ = ["UI_FOLDER", "prefers_html", "ui_blueprint"]

UI_FOLDER = Path(__file__).parent / "ui"


def prefers_html(request: Request) -> bool:
    """True when the client ranks text/html above JSON (what browsers send)."""
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


def ui_blueprint() -> Blueprint:
    """The routes serving the page and its assets."""
    blueprint = Blueprint("ui", __name__, url_prefix="/ui")

    @blueprint.get("/")
    def page() -> Response:
        return send_from_directory(UI_FOLDER, "index.html", max_age=0)

    @blueprint.get("/<path:filename>")
    def asset(filename: str) -> Response:
        # send_from_directory refuses paths that leave the folder (no traversal).
        return send_from_directory(UI_FOLDER, filename, max_age=0)

    return blueprint
