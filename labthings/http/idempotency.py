"""`Idempotency-Key` on a POST, and replies that hand back an existing invocation.

The `idempotency` feature. The request header (IETF httpapi draft "The Idempotency-Key
HTTP Header Field") is a Structured Field string, `Idempotency-Key: "8e03978e-..."`; a
bare token (`Idempotency-Key: 8e03978e-...`, as many clients send it) names the same
key, since it cannot be read as anything else. An empty, malformed or repeated header, or
a key over `MAX_KEY_LENGTH` characters, is a 400 that says why.

A reply that hands back an existing invocation (the key was seen before, or the
action's `dedupe` or `cache_for` applied) is `200` instead of `201`, with the same
`Location`, the header `LabThings-Reused: idempotency-key|dedupe|cache`, and a link
`{"rel": "reused", "href": <the record>, "reason": ...}` in the record's `links`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest

from labthings.core.describe.operations import Target, add_response, problem_response
from labthings.core.tasks.idempotency import HEADER
from labthings.core.tasks.reuse import Reuse, reuse_note
from labthings.core.things.actions import ActionAffordance
from labthings.http.requests import header_values

__all__ = [
    "HEADER",
    "MAX_KEY_LENGTH",
    "PATTERN",
    "REUSED_HEADER",
    "document",
    "idempotency_key",
    "parse_key",
    "reused_link",
]

MAX_KEY_LENGTH = 255
REUSED_HEADER = "LabThings-Reused"

_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_QCHAR = r'[\x20\x21\x23-\x5B\x5D-\x7E]|\\["\\]'
_BARE_ITEM = (
    rf'-?[0-9]{{1,15}}(?:\.[0-9]{{1,3}})?|"(?:{_QCHAR})*"|[A-Za-z*][{_TCHAR}:/]*'
    r"|:[A-Za-z0-9+/=]*:|\?[01]"
)
PATTERN = (
    rf'^[ \t]*(?:"((?:{_QCHAR}){{1,{MAX_KEY_LENGTH}}})"|([{_TCHAR}:/]{{1,{MAX_KEY_LENGTH}}}))'
    rf"(?:;[ ]*[a-z*][a-z0-9_.*-]*(?:=(?:{_BARE_ITEM}))?)*[ \t]*$"
)
"""What the header may hold, for the parser and the OpenAPI document alike: a key as an
RFC 8941 sf-string (group 1, escapes kept) or bare token characters, `:` and `/` (group
2), then any parameters (which mean nothing here and are ignored)."""
_KEY = re.compile(PATTERN)
_ANY_LENGTH = re.compile(PATTERN.replace(f"{{1,{MAX_KEY_LENGTH}}}", "+"))
_ESCAPE = re.compile(r"\\(.)")
_EXAMPLE = f'e.g. {HEADER}: "8e03978e-40d5-43e8-bc93-6894a57f9324"'


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, None without one; `BadRequest` saying why if it is
    not one key."""
    values = header_values(request, HEADER)
    # WSGI servers join repeated headers with commas, as a list would be written.
    return parse_key(values[0]) if values else None


def parse_key(value: str) -> str:
    """The key in a header value (see `PATTERN`); `BadRequest` saying why if there is none."""
    match = _KEY.fullmatch(value)
    if match is not None:
        quoted, bare = match.groups()
        return bare if quoted is None else _ESCAPE.sub(r"\1", quoted)
    text = value.strip(" \t")
    if text in ("", '""'):
        raise BadRequest(
            f"the {HEADER} header is empty (a header that is not ASCII arrives empty);"
            f" send a unique key ({_EXAMPLE})"
        )
    if _ANY_LENGTH.fullmatch(value):
        raise BadRequest(f"the {HEADER} is too long: at most {MAX_KEY_LENGTH} characters")
    if "," in text:
        raise BadRequest(f"send one {HEADER}, not a list")
    raise BadRequest(
        f"the {HEADER} header must be a quoted string of printable ASCII characters ({_EXAMPLE})"
    )


def reused_link(reuse: Reuse, href: str) -> dict[str, str]:
    """The link a reply that reuses an invocation adds to the record's `links`."""
    return {"rel": "reused", "href": href, "reason": reuse.value}


def document(operation: dict[str, Any], target: Target) -> None:
    """The `Idempotency-Key` header, the `200` of a reused invocation and the `409`."""
    operation.setdefault("parameters", []).append(
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": f"A unique key for this request, as a quoted string ({_EXAMPLE};"
            f" at most {MAX_KEY_LENGTH} characters). Sending the same key again with the"
            " same body returns the invocation the first request started (`200`) instead"
            " of starting another; with another body or action it is a `422`. Keys are"
            " kept for the server's `idempotency_keys_for` (24 h by default), per access"
            " token.",
            "schema": {"type": "string", "pattern": PATTERN},
        }
    )
    responses = operation["responses"]
    reused = copy.deepcopy(responses["201"])
    note = reuse_note(target.of(ActionAffordance))
    reused["description"] = (
        "An existing invocation, handed back instead of starting another: the same"
        f" {HEADER} was sent before" + (f". {note}" if note else ".") + " Its `Location` is"
        f" the one the first reply gave; `{REUSED_HEADER}` says why, as does the link"
        ' `{"rel": "reused", "reason": ...}` in its `links`.'
    )
    reused["headers"][REUSED_HEADER] = {
        "description": "Why an existing invocation was handed back.",
        "schema": {"type": "string", "enum": [reuse.value for reuse in Reuse]},
    }
    add_response(responses, "200", reused)
    add_response(
        responses,
        "409",
        problem_response(
            f"The first request with this {HEADER} is still being started; try again."
        ),
    )
    for status, extra in (
        ("400", f"Or the {HEADER} is empty, malformed, repeated or too long."),
        ("422", f"Or the {HEADER} was sent before with another body or action."),
    ):
        if status in responses:
            responses[status]["description"] += f" {extra}"
