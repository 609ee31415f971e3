"""`/docs/`: Swagger UI from the swagger-ui-bundle package, and the OpenAPI document.

Swagger UI's files come from the installed package (nothing is vendored here and
nothing is fetched from the internet), so the docs work on an offline lab PC.
"""

from __future__ import annotations

import html

import swagger_ui_bundle
from flask import Response, send_from_directory

from labthings.http.responses import json_response
from labthings.http.services import ServiceView

__all__ = ["DocsAsset", "DocsPage", "OpenAPIDocument"]

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


class DocsPage(ServiceView):
    """`GET /docs/`: Swagger UI around the server's OpenAPI document."""

    def get(self) -> Response:
        title = html.escape(str(self.services.openapi.get("info", {}).get("title", "")))
        return Response(_PAGE.format(title=title), mimetype="text/html")


class OpenAPIDocument(ServiceView):
    """`GET /docs/openapi.json`: the OpenAPI document (built once)."""

    def get(self) -> Response:
        return json_response(self.services.openapi)


class DocsAsset(ServiceView):
    """`GET /docs/static/<file>`: Swagger UI's files from the swagger-ui-bundle package."""

    def get(self, filename: str) -> Response:
        # send_from_directory refuses paths that leave the folder (no traversal).
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)
