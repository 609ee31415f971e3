"""The HTTP routes of a LabThing: thin views over the registry and the task runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, redirect, request
from flask.views import MethodView
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from labthings.core.describe.td import ThingDescriptionBuilder
from labthings.core.live.hub import EventHub
from labthings.core.settings import Settings
from labthings.core.tasks.finished import Invocation
from labthings.core.tasks.runner import TaskRunner
from labthings.core.things.registry import ThingRegistry
from labthings.http.etags import (
    not_modified_if_matching,
    record_etag,
    version_in_etag,
    with_content_etag,
)
from labthings.http.records import public_record, record_href, server_root
from labthings.http.requests import (
    NO_BODY,
    Preferences,
    json_body,
    parse_list_query,
    parse_seconds,
)
from labthings.http.responses import json_response
from labthings.http.streams import register_stream_views
from labthings.http.ui import prefers_html

__all__ = ["register_views"]

RETRY_AFTER_SECONDS = "1"


def register_views(
    app: Flask,
    *,
    registry: ThingRegistry,
    runner: TaskRunner,
    hub: EventHub,
    settings: Settings,
    index: Callable[[str], dict[str, Any]],
) -> None:
    """Add every route of the HTTP contract to `app`, event streams included."""
    builders = {entry.name: ThingDescriptionBuilder(entry) for entry in registry}
    app.add_url_rule("/", view_func=IndexView.as_view("index", index=index))
    app.add_url_rule(
        "/<thing>/",
        view_func=ThingView.as_view("thing", registry=registry, builders=builders),
        strict_slashes=False,  # /<thing> serves the TD too; its hrefs resolve against `base`
    )
    app.add_url_rule(
        "/<thing>/properties/<name>",
        view_func=PropertyView.as_view("property", registry=registry, settings=settings),
    )
    app.add_url_rule(
        "/<thing>/actions/<name>",
        view_func=ActionView.as_view("action", registry=registry, runner=runner, settings=settings),
    )
    app.add_url_rule(
        "/actions",
        view_func=InvocationsView.as_view("invocations", runner=runner, settings=settings),
    )
    app.add_url_rule(
        "/actions/<task_id>",
        view_func=InvocationView.as_view("invocation", runner=runner, settings=settings),
    )
    register_stream_views(app, registry=registry, hub=hub, runner=runner, settings=settings)


def _record_response(task: Invocation, status: int, headers: dict[str, str]) -> Response:
    version, record = task.versioned_snapshot()
    public_record(record, server_root())
    if record["status"] in ("pending", "running"):
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    headers["ETag"] = record_etag(task, version)
    return json_response(record, status, headers=headers)


def _list_response(runner: TaskRunner, settings: Settings, **fixed: str) -> Response:
    query = parse_list_query(request.args, settings)
    page = runner.page(
        thing=fixed.get("thing", query.thing),
        action=fixed.get("action", query.action),
        statuses=query.statuses,
        limit=query.limit,
        before=query.before,
    )
    root = server_root()
    records = [public_record(record, root) for record in page.records]
    headers = {}
    if page.next_cursor is not None:
        args = [(key, value) for key, value in request.args.items(multi=True) if key != "cursor"]
        args.append(("cursor", str(page.next_cursor)))
        headers["Link"] = f'<{request.base_url}?{urlencode(args)}>; rel="next"'
    return json_response(records, headers=headers)


class IndexView(MethodView):
    """`GET /`: the server's title, its Things and links to the rest."""

    def __init__(self, index: Callable[[str], dict[str, Any]]) -> None:
        self.index = index

    def get(self) -> BaseResponse:
        if prefers_html(request):
            return redirect("ui/", code=303)  # relative: works behind a path prefix too
        return json_response(self.index(server_root()))


class ThingView(MethodView):
    """`GET /<thing>/`: the Thing Description."""

    def __init__(
        self, registry: ThingRegistry, builders: dict[str, ThingDescriptionBuilder]
    ) -> None:
        self.registry = registry
        self.builders = builders

    def get(self, thing: str) -> Response:
        entry = self.registry.get(thing)
        return json_response(
            self.builders[entry.name].document(server_root()), mimetype="application/td+json"
        )


class PropertyView(MethodView):
    """`GET`/`PUT /<thing>/properties/<name>`: read or write one value (a bare JSON body)."""

    def __init__(self, registry: ThingRegistry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings

    def get(self, thing: str, name: str) -> Response:
        response = json_response(self.registry.get(thing).read_property(name))
        return not_modified_if_matching(with_content_etag(response))

    def options(self, thing: str, name: str) -> Response:
        readonly = self.registry.get(thing).property(name).readonly
        allowed = "GET, HEAD, OPTIONS" if readonly else "GET, HEAD, OPTIONS, PUT"
        return Response(status=204, headers={"Allow": allowed})

    def put(self, thing: str, name: str) -> Response:
        entry = self.registry.get(thing)
        entry.writable_property(name)  # 404 or 405 before looking at the body
        value = json_body(request)
        if value is NO_BODY:
            raise BadRequest('send the new value as a JSON body, e.g. 1.5 or "text"')
        return json_response(entry.write_property(name, value, self.settings.property_lock_timeout))


class ActionView(MethodView):
    """`POST /<thing>/actions/<name>` starts an invocation; `GET` lists its invocations."""

    def __init__(self, registry: ThingRegistry, runner: TaskRunner, settings: Settings) -> None:
        self.registry = registry
        self.runner = runner
        self.settings = settings

    def post(self, thing: str, name: str) -> Response:
        entry = self.registry.get(thing)
        affordance = entry.action(name)
        body = json_body(request)
        preferences = Preferences.parse(
            request.headers.getlist("Prefer"), affordance.wait, self.settings.max_wait
        )
        task = self.runner.invoke(entry, name, {} if body is NO_BODY else body)
        if preferences.wait > 0:
            task.wait(preferences.wait)
        headers = {"Location": record_href(server_root(), task.id)}
        if preferences.applied:
            headers["Preference-Applied"] = preferences.applied
        return _record_response(task, 201, headers)

    def get(self, thing: str, name: str) -> Response:
        entry = self.registry.get(thing)
        affordance = entry.action(name)
        return _list_response(self.runner, self.settings, thing=entry.name, action=affordance.name)


class InvocationsView(MethodView):
    """`GET /actions`: every invocation, newest first, filtered and paginated."""

    def __init__(self, runner: TaskRunner, settings: Settings) -> None:
        self.runner = runner
        self.settings = settings

    def get(self) -> Response:
        return _list_response(self.runner, self.settings)


class InvocationView(MethodView):
    """`GET /actions/<id>` reads one invocation; `DELETE` cancels it."""

    def __init__(self, runner: TaskRunner, settings: Settings) -> None:
        self.runner = runner
        self.settings = settings

    def get(self, task_id: str) -> Response:
        """The record; with `?wait=N` or `Prefer: wait=N`, first wait up to N s for a change.

        "A change" is one from the version named by `If-None-Match`, else from the
        record as it was when the request arrived. An unchanged record is a 304.
        """
        task = self.runner.get(task_id)
        wait = parse_seconds(request.args, "wait", 0.0, self.settings.max_wait)
        if "wait" not in request.args:
            wait = Preferences.parse(
                request.headers.getlist("Prefer"), 0.0, self.settings.max_wait
            ).wait
        version = task.version
        for tag in request.if_none_match:
            known = version_in_etag(task, tag)
            if known is not None:
                version = known
        if wait > 0 and not task.finished:
            task.wait_for_change(version, wait)
        response = _record_response(task, 200, {})
        return not_modified_if_matching(response)

    def delete(self, task_id: str) -> Response:
        timeout = parse_seconds(
            request.args, "timeout", self.settings.cancel_wait, self.settings.max_cancel_wait
        )
        task, ended = self.runner.cancel(task_id, timeout)
        return _record_response(task, 200 if ended else 202, {})
