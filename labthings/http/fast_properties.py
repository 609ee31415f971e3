"""`PropertyFastPath`: plain property reads and writes, answered without Flask's machinery.

Reading and writing properties is most of what a lab's dashboards and scripts send, and
Flask spends most of such a request on itself: a request context pushed and popped, the
URL matched against every route, hooks looked up, the response converted. A request
this class recognises exactly is answered by the same code as the Flask view (`views.py`
`property_read_response`, `property_write_response`), after the same checks (`security.py`
`RequestChecks`: Host, origin, token), with the same CORS headers, and its errors become
the same problems (`problems.py` `error_response`). Everything else goes to the app.

Recognised: `GET` (without `If-None-Match`) or `PUT` (with a `Content-Length`) of
`/<thing>/properties/<name>` for a property this server has, without a query. Anything
added to the app after it was built (a hook, an error handler) sends every request to
the app, so that nothing it adds is skipped. The tests compare its answers to the app's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, Request, Response

from labthings.core.describe.openapi import expand
from labthings.core.describe.routes import ROUTES
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingEntry
from labthings.http.problems import ErrorStatuses, error_response
from labthings.http.security import RequestChecks
from labthings.http.services import Services
from labthings.http.views import property_read_response, property_write_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["PropertyFastPath"]

_ENDPOINT = "property"


class PropertyFastPath:
    """WSGI: the app, with plain property reads and writes answered directly (see the
    module). `flask` is the app's own WSGI callable, which serves everything else."""

    def __init__(
        self, app: Flask, services: Services, checks: RequestChecks, statuses: ErrorStatuses
    ) -> None:
        self.flask: WSGIApplication = app.wsgi_app
        self._app = app
        self._services = services
        self._checks = checks
        self._statuses = statuses
        self._hooks = _extensions(app)
        self._rule = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == _ENDPOINT)
        route = next(route for route in ROUTES if route.endpoint == _ENDPOINT)
        self._targets: dict[str, tuple[ThingEntry, PropertyAffordance]] = {
            # WSGI gives a path's bytes as Latin-1 characters, which only ASCII paths
            # spell the same: any other is left to the app's decoding.
            path: (target.thing, target.of(PropertyAffordance))
            for path, target in expand(route, services.registry, services.settings)
            if path.isascii()
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = self._targets.get(environ.get("PATH_INFO", ""))
        if target is None or not self._plain(environ) or _extensions(self._app) != self._hooks:
            return self.flask(environ, start_response)
        request = Request(environ)
        request.url_rule = self._rule  # what the app's URL matching would have found
        try:
            refusal = self._checks.refusal(request)
            response = self._answer(request, *target) if refusal is None else refusal
        except Exception as error:  # noqa: BLE001 - every error is a problem, as in the app
            response = error_response(error, self._statuses)
        return self._checks.finish(response, environ)(environ, start_response)

    def _answer(
        self, request: Request, entry: ThingEntry, affordance: PropertyAffordance
    ) -> Response:
        if request.environ["REQUEST_METHOD"] == "GET":
            return property_read_response(entry, affordance)
        return property_write_response(request, entry, affordance, self._services.settings)

    def _plain(self, environ: WSGIEnvironment) -> bool:
        """Whether the request is one this class answers (see the module)."""
        if environ.get("QUERY_STRING"):
            return False
        method = environ["REQUEST_METHOD"]
        if method == "GET":
            return "HTTP_IF_NONE_MATCH" not in environ
        if method != "PUT":
            return False
        length = environ.get("CONTENT_LENGTH", "")
        return length.isdigit() and 0 < int(length) <= self._services.settings.max_body_bytes


def _extensions(app: Flask) -> tuple[int, ...]:
    """How many hooks and error handlers the app has for all its routes."""
    registries = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.url_value_preprocessors,
    )
    handlers = app.error_handler_spec.get(None, {})
    return (
        *(len(registry.get(None, ())) for registry in registries),
        *(len(by_class) for by_class in handlers.values()),
        len(handlers),
    )
