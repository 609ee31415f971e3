"""What the views of one server work with, passed to each view when it is made."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask.views import MethodView

from labthings.core.describe.td import ThingDescriptionBuilder
from labthings.core.live.hub import EventHub
from labthings.core.settings import Settings
from labthings.core.tasks.reuse import InvocationReuse
from labthings.core.tasks.runner import TaskRunner
from labthings.core.things.registry import ThingRegistry

__all__ = ["ServiceView", "Services"]


@dataclass(frozen=True)
class Services:
    """The collaborators of every view: no view looks anything up globally."""

    registry: ThingRegistry
    runner: TaskRunner
    reuse: InvocationReuse
    """Starts invocations for POSTs, or hands back one a request may have."""
    hub: EventHub
    settings: Settings
    index: Callable[[str], dict[str, Any]]
    """The `GET /` document for a server root."""
    introduction: Callable[[str], dict[str, Any]]
    """The server's own TD (`GET /.well-known/wot`) for a server root."""
    descriptions: Mapping[str, ThingDescriptionBuilder]
    """Each Thing's TD builder, by Thing name."""
    openapi: dict[str, Any]
    """The OpenAPI document, built once, for when no token is needed."""
    secured: Callable[[], bool] = lambda: False
    """Whether requests need an access token now."""
    secured_openapi: dict[str, Any] | None = None
    """The OpenAPI document for when they do (bearer security, 401 and 403)."""

    def current_openapi(self) -> dict[str, Any]:
        """The OpenAPI document that says whether requests need a token now."""
        if self.secured_openapi is not None and self.secured():
            return self.secured_openapi
        return self.openapi


class ServiceView(MethodView):
    """A view made with the server's `Services`: one instance serves every request, so
    a view keeps no state of its own besides them."""

    init_every_request = False

    def __init__(self, services: Services) -> None:
        self.services = services
