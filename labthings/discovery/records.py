"""What a labthings server advertises over DNS-SD, and how a record leads back to it.

Two services, both on the server's HTTP port:

- `_wot._tcp`, W3C WoT Discovery's: TXT `td` is the absolute path of the TD it leads to
  (the server's own, `/.well-known/wot`, which links to each Thing's), `type` is
  `Thing` (the server is described as a Thing made of Things, not as a Thing
  Description Directory, which would need the directory API) and `scheme` is `http`;
- `_labthing._tcp`, python-labthings': TXT `path` is where the server's root is, with
  its `title` and `description`.

Nothing here touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from labthings.core.describe.introduction import WELL_KNOWN_PATH

__all__ = [
    "LABTHING_SERVICE",
    "SERVICE_TYPES",
    "WOT_SERVICE",
    "instance_name",
    "numbered_name",
    "root_path",
    "txt_records",
]

WOT_SERVICE = "_wot._tcp.local."
LABTHING_SERVICE = "_labthing._tcp.local."
SERVICE_TYPES = (WOT_SERVICE, LABTHING_SERVICE)
_LABEL_BYTES = 63  # the most a DNS label holds
_TXT_VALUE_BYTES = 200  # a TXT string holds 255 bytes with its key


def instance_name(title: str, host: str) -> str:
    """The service instance name people see: `<title> on <host>`, within a DNS label
    (63 bytes of UTF-8; the title is shortened, never cut inside a character)."""
    suffix = f" on {host}"
    room = max(_LABEL_BYTES - len(suffix.encode()), 8)
    shortened = title.encode()[:room].decode(errors="ignore").strip() or "labthings"
    return (shortened + suffix).encode()[:_LABEL_BYTES].decode(errors="ignore")


def numbered_name(name: str, number: int) -> str:
    """Instance `name` with `number` added (`Lab on pc (2)`), still within a DNS label."""
    suffix = f" ({number})"
    room = _LABEL_BYTES - len(suffix.encode())
    return name.encode()[:room].decode(errors="ignore").rstrip() + suffix


def txt_records(service: str, title: str, description: str) -> dict[str, str]:
    """The TXT entries of `service` for a server at the root of its host."""
    if service == WOT_SERVICE:
        return {"td": f"/{WELL_KNOWN_PATH}", "type": "Thing", "scheme": "http"}
    return {
        "path": "/",
        "title": _fit(title),
        "description": _fit(description),
    }


def root_path(service: str, txt: Mapping[str, str]) -> str | None:
    """The path of the server's root (ending with '/') that a record leads to, or None
    if the record is not one a labthings client can follow (another scheme, say)."""
    if service == WOT_SERVICE:
        if txt.get("scheme", "http") != "http":
            return None
        td = txt.get("td", "")
        if not td.endswith(WELL_KNOWN_PATH):
            return None  # another kind of WoT Thing: its TD is not a server's
        return td[: -len(WELL_KNOWN_PATH)] or "/"
    path = txt.get("path", "/").strip() or "/"
    path = re.sub(r"^(?!/)", "/", path)
    return path if path.endswith("/") else path + "/"


def _fit(text: str) -> str:
    return text.encode()[:_TXT_VALUE_BYTES].decode(errors="ignore")
