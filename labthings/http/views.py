"""The views of the index, Thing Descriptions, properties, actions and invocations.

Each request walks forward: it looks its Thing and affordance up once, works out the
server root once, and builds the record it answers with once.
"""

from __future__ import annotations

from flask import Request, Response, redirect, request, send_file
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from labthings.core.errors import NotFoundError
from labthings.core.settings import Settings
from labthings.core.tasks.finished import Invocation
from labthings.core.tasks.record import FINISHED, TaskStatus, linked_text, record_href, with_links
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import NOT_READ, ThingEntry
from labthings.http.bodies import NO_BODY, json_body
from labthings.http.etags import not_modified_if_matching, record_etag, with_content_etag
from labthings.http.idempotency import REUSED_HEADER, idempotency_key, reused_link
from labthings.http.longpoll import wait_for_change
from labthings.http.pagination import next_page_link, parse_list_query
from labthings.http.prefer import Preferences
from labthings.http.requests import header_values, parse_seconds, server_root
from labthings.http.responses import json_response
from labthings.http.services import Services, ServiceView
from labthings.http.synchronous import output_response, wants_output
from labthings.http.ui import prefers_html

__all__ = [
    "ActionView",
    "IndexView",
    "IntroductionView",
    "InvocationView",
    "InvocationsView",
    "OutputView",
    "PropertyView",
    "ThingView",
    "property_read_response",
    "property_write_response",
]

RETRY_AFTER_SECONDS = "1"


def _record_response(
    task: Invocation,
    root: str,
    status: int,
    headers: dict[str, str] | None = None,
    links: list[dict[str, str]] | None = None,
) -> Response:
    """The record of `task` as it stands, with its ETag (and Retry-After if unfinished);
    `links` are added to its own."""
    headers = dict(headers or {})
    stored = task.final_listing
    if stored is not None and not links:  # the stored text, spliced: no copy, no encoding
        headers["ETag"] = record_etag(task, task.version)
        return Response(linked_text(stored, root), status, headers, mimetype="application/json")
    version, record = task.versioned_snapshot()
    if task.status not in FINISHED:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    headers["ETag"] = record_etag(task, version)
    linked = with_links(record, root)
    if links:
        linked["links"] += links
    return json_response(linked, status, headers=headers)


def _list_response(services: Services, **fixed: str) -> Response:
    """A page of records matching the query, with `fixed` filters overriding it."""
    query = parse_list_query(request.args, services.settings)
    page = services.runner.page(
        thing=fixed.get("thing", query.thing),
        action=fixed.get("action", query.action),
        statuses=query.statuses,
        limit=query.limit,
        before=query.before,
    )
    root = server_root(request)
    body = "[" + ",".join(linked_text(item, root) for item in page.listed) + "]"
    headers = {}
    if page.next_cursor is not None:
        headers["Link"] = next_page_link(request, page.next_cursor)
    return Response(body, headers=headers, mimetype="application/json")


class IndexView(ServiceView):
    """`GET /`: the server's title, its Things and links to the rest."""

    def get(self) -> BaseResponse:
        if prefers_html(request):
            return redirect("ui/", code=303)  # relative: works behind a path prefix too
        return json_response(self.services.index(server_root(request)))


class IntroductionView(ServiceView):
    """`GET /.well-known/wot`: the server's own TD, linking to each Thing's (WoT Discovery)."""

    def get(self) -> Response:
        document = self.services.introduction(server_root(request))
        return json_response(document, mimetype="application/td+json")


class ThingView(ServiceView):
    """`GET /<thing>/`: the Thing Description."""

    def get(self, thing: str) -> Response:
        entry = self.services.registry.get(thing)
        document = self.services.descriptions[entry.name].document(server_root(request))
        return json_response(document, mimetype="application/td+json")


class PropertyView(ServiceView):
    """`GET`/`PUT /<thing>/properties/<name>`: read or write one value (a bare JSON body).

    Reads never long-poll: watch `/<thing>/properties/<name>/events` for changes.
    """

    def get(self, thing: str, name: str) -> Response:
        entry = self.services.registry.get(thing)
        response = property_read_response(entry, entry.affordance(name, PropertyAffordance))
        return not_modified_if_matching(response)

    def options(self, thing: str, name: str) -> Response:
        affordance = self.services.registry.get(thing).affordance(name, PropertyAffordance)
        allowed = "GET, HEAD, OPTIONS" if affordance.readonly else "GET, HEAD, OPTIONS, PUT"
        return Response(status=204, headers={"Allow": allowed})

    def put(self, thing: str, name: str) -> Response:
        entry = self.services.registry.get(thing)
        affordance = entry.affordance(name, PropertyAffordance)
        return property_write_response(request, entry, affordance, self.services.settings)


def property_read_response(entry: ThingEntry, affordance: PropertyAffordance) -> Response:
    """`GET` of a property: its value as JSON, with an ETag of its content."""
    return with_content_etag(json_response(entry.read_property(affordance)))


def property_write_response(
    request: Request, entry: ThingEntry, affordance: PropertyAffordance, settings: Settings
) -> Response:
    """`PUT` of a property: the request's JSON body written, and the value read back
    (`204` if reading it back failed: the write must not look refused)."""
    entry.check_writable(affordance)  # 404 or 405 before looking at the body
    value = json_body(request, settings.max_json_depth, affordance.name)
    if value is NO_BODY:
        raise BadRequest('send the new value as a JSON body, e.g. 1.5 or "text"')
    written = entry.write_property(affordance, value, settings.property_lock_timeout)
    if written is NOT_READ:
        return Response(status=204)
    return json_response(written)


class ActionView(ServiceView):
    """`POST /<thing>/actions/<name>` starts an invocation; `GET` lists its invocations.

    With `?sync=true` the POST answers with the output once the invocation ends
    (`synchronous.py`), or as without it if it is still running at `sync_wait` or the
    request states a `Prefer` (`wait=N`, `respond-async`).
    """

    def post(self, thing: str, name: str) -> BaseResponse:
        services = self.services
        entry = services.registry.get(thing)
        affordance = entry.affordance(name, ActionAffordance)
        key = idempotency_key(request)
        synchronous = wants_output(request.args)
        body = json_body(request, services.settings.max_json_depth)
        preferences = Preferences.parse(
            header_values(request, "Prefer"), affordance.wait, services.settings.max_wait
        )
        invoked = services.reuse.invoke(
            entry,
            affordance,
            {} if body is NO_BODY else body,
            requested_by=request.remote_user,
            key=key,
        )
        task = invoked.invocation
        root = server_root(request)
        # A client stating a `Prefer` (a labthings client following progress) gets the
        # record even from the synchronous form.
        if synchronous and preferences.applied is None:
            settings = services.settings
            if task.wait(min(settings.sync_wait, settings.max_wait)):
                response = output_response(task, affordance, services.runner, root)
                if invoked.reused is not None:
                    response.headers[REUSED_HEADER] = invoked.reused.value
                return response
        elif preferences.wait > 0:
            task.wait(preferences.wait)
        href = record_href(root, task.id)
        headers = {"Location": href}
        if preferences.applied:
            headers["Preference-Applied"] = preferences.applied
        if invoked.reused is None:
            return _record_response(task, root, 201, headers)
        headers[REUSED_HEADER] = invoked.reused.value
        return _record_response(task, root, 200, headers, [reused_link(invoked.reused, href)])

    def get(self, thing: str, name: str) -> Response:
        entry = self.services.registry.get(thing)
        affordance = entry.affordance(name, ActionAffordance)
        return _list_response(self.services, thing=entry.name, action=affordance.name)


class InvocationsView(ServiceView):
    """`GET /actions`: every invocation, newest first, filtered and paginated."""

    def get(self) -> Response:
        return _list_response(self.services)


class OutputView(ServiceView):
    """`GET /actions/<id>/output`: a completed invocation's output, as a file of its media
    type (a blob) or as JSON."""

    def get(self, id: str) -> BaseResponse:
        task = self.services.runner.get(id)
        if task.status is not TaskStatus.COMPLETED:
            raise NotFoundError(f"invocation {id} has no output: it is {task.status.value}")
        found = self.services.runner.output_file(task.id)
        if found is None:
            return json_response(task.snapshot()["output"])
        path, media_type = found
        return send_file(path, mimetype=media_type, conditional=True, etag=True, max_age=0)


class InvocationView(ServiceView):
    """`GET /actions/<id>` reads one invocation (long-polled if asked); `DELETE` cancels it."""

    def get(self, id: str) -> Response:
        task = self.services.runner.get(id)
        wait_for_change(task, request, self.services.settings)
        return not_modified_if_matching(_record_response(task, server_root(request), 200))

    def delete(self, id: str) -> Response:
        settings = self.services.settings
        timeout = parse_seconds(
            request.args, "timeout", settings.cancel_wait, settings.max_cancel_wait
        )
        task, ended = self.services.runner.cancel(id, timeout)
        return _record_response(task, server_root(request), 200 if ended else 202)
