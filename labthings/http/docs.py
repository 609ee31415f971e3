"""`/docs/`: Swagger UI from the swagger-ui-bundle package, and the OpenAPI document.

Swagger UI's files come from the installed package (nothing is vendored here and
nothing is fetched from the internet), so the docs work on an offline lab PC.
"""

from __future__ import annotations

import html
from typing import Any

import swagger_ui_bundle
from flask import Blueprint, Response, send_from_directory

from labthings.http.responses import json_response

__all__ = ["docs_blueprint"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} - API docs</title>
  <link rel="stylesheet" href="static/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="static/swagger-ui-bundle.js"></script>
  <script src="static/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    }});
  </script>
</body>
</html>
"""


def docs_blueprint(openapi: dict[str, Any]) -> Blueprint:
    """The `/docs/` routes serving `openapi` (built once) and Swagger UI around it."""
    blueprint = Blueprint("docs", __name__, url_prefix="/docs")
    page = _PAGE.format(title=html.escape(str(openapi.get("info", {}).get("title", ""))))

    @blueprint.get("/")
    def swagger_ui() -> Response:
        return Response(page, mimetype="text/html")

    @blueprint.get("/openapi.json")
    def openapi_document() -> Response:
        return json_response(openapi)

    @blueprint.get("/static/<path:filename>")
    def static_file(filename: str) -> Response:
        # send_from_directory refuses paths that leave the folder (no traversal).
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)

    return blueprint
