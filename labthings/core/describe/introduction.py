"""The server's own Thing Description, served at `/.well-known/wot` (W3C WoT Discovery).

WoT Discovery's well-known URI, and the `td=` entry of its DNS-SD records, lead a
Discoverer to one TD. A labthings server serves several Things, so that TD describes
the server as a Thing whose `links` list each Thing's TD (`rel: item`, the WoT Profile's
way of naming the Things a Thing is made of), beside the API docs and the OpenAPI
document. A Discoverer fetches it, then follows the links it wants; each Thing's TD
links back to it (`rel: collection`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from labthings.core.describe.td import security_terms, td_context

__all__ = ["WELL_KNOWN_PATH", "server_description"]

WELL_KNOWN_PATH = ".well-known/wot"
"""The WoT Discovery well-known URI, under the server root."""
_TD = "application/td+json"
_NAMESPACE = uuid.UUID("0b6f3c1e-52d4-4a8e-9e71-6d2c8a4f9b13")


def server_description(
    *,
    title: str,
    description: str,
    things: Iterable[tuple[str, str]],
    root: str,
    secured: bool,
) -> dict[str, Any]:
    """The TD introducing a server reached at `root` (ending with '/'): its title, and a
    link to the TD of each of its `things` (pairs of name and title, in order).

    Its `id` is stable for a server title; `security` says whether requests need a token.
    """
    td: dict[str, Any] = {
        "@context": td_context(),
        "id": uuid.uuid5(_NAMESPACE, title).urn,
        "title": title,
    }
    if description:
        td["description"] = description
    td["base"] = root
    td.update(security_terms(secured))
    links: list[dict[str, Any]] = [
        {"rel": "item", "href": f"{root}{name}/", "type": _TD, "title": thing_title}
        for name, thing_title in things
    ]
    links += [
        {"rel": "self", "href": f"{root}{WELL_KNOWN_PATH}", "type": _TD},
        {"rel": "service-doc", "href": f"{root}docs/", "type": "text/html"},
        {"rel": "service-desc", "href": f"{root}docs/openapi.json", "type": "application/json"},
        {"rel": "alternate", "href": f"{root}ui/", "type": "text/html"},
    ]
    td["links"] = links
    return td
