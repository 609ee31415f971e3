"""`/docs/`: Swagger UI from the swagger-ui-bundle package, and the OpenAPI document.

Swagger UI's files come from the installed package (nothing is vendored here and
nothing is fetched from the internet), so the docs work on an offline lab PC.
"""

from __future__ import annotations

import swagger_ui_bundle
from flask import Response, send_from_directory

from labthings.http.auth import BEARER_SCHEME
from labthings.http.responses import json_response
from labthings.http.services import ServiceView

__all__ = ["DocsAsset", "DocsPage", "OpenAPIDocument"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API docs</title>
  <link rel="stylesheet" href="static/swagger-ui.css">
  <style>
    .token-form {{ max-width: 40rem; margin: 2rem auto; font-family: sans-serif; }}
    .token-form input {{ width: 100%; margin: .5rem 0; }}
  </style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="static/swagger-ui-bundle.js"></script>
  <script src="static/swagger-ui-standalone-preset.js"></script>
  <script type="module">
    // The docs use the web page's access token (kept for this browser session); a server
    // that needs one and has none from this session gets the page's token form first.
    import {{ authorize, readable, storedToken }} from "../ui/token.js";

    if (await readable("openapi.json")) {{
      window.ui = SwaggerUIBundle({{
        url: "openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        layout: "StandaloneLayout",
        // The document itself is fetched with the session's token; "Try it out" requests
        // carry what Swagger's Authorize dialog holds, which starts as that token.
        requestInterceptor: (request) => (request.loadSpec ? authorize(request) : request),
        onComplete: () => {{
          document.title = `${{window.ui.specSelectors.info().get("title")}} - API docs`;
          if (storedToken()) window.ui.preauthorizeApiKey("{bearer}", storedToken());
        }},
      }});
    }}
  </script>
</body>
</html>
"""


class DocsPage(ServiceView):
    """`GET /docs/`: Swagger UI around the server's OpenAPI document.

    The page is public (it holds nothing of the lab, not even its title) so that it can
    ask for a token; the document it loads is not.
    """

    def get(self) -> Response:
        return Response(_PAGE.format(bearer=BEARER_SCHEME), mimetype="text/html")


class OpenAPIDocument(ServiceView):
    """`GET /docs/openapi.json`: the OpenAPI document (built once), with the bearer
    security scheme while requests need a token."""

    def get(self) -> Response:
        return json_response(self.services.current_openapi())


class DocsAsset(ServiceView):
    """`GET /docs/static/<file>`: Swagger UI's files from the swagger-ui-bundle package."""

    def get(self, filename: str) -> Response:
        # send_from_directory refuses paths that leave the folder (no traversal).
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)
