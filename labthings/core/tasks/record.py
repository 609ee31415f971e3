"""The invocation record, defined once: its fields, their schema, and who sees which.

`RECORD_FIELDS` is the single list of what a record holds. The snapshot a client reads,
the light `update` that live streams carry, the `href`/`links` added for a client's
server root, and the OpenAPI schema are all made from it, so a new field is one entry
here and nowhere else.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labthings.core.jsonvalues import clean_text, json_text, now_utc
from labthings.core.tasks.progress import RemainingEstimate

__all__ = [
    "FINISHED",
    "LOG_ENTRY_SCHEMA",
    "ListedRecord",
    "RECORD_FIELDS",
    "RecordField",
    "TaskState",
    "TaskStatus",
    "linked_text",
    "live_update",
    "log_entry",
    "record_href",
    "record_schema",
    "restored_state",
    "snapshot",
    "with_links",
]


class TaskStatus(str, enum.Enum):
    """Where an invocation is in its life; the last three are final."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"


FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.ERROR})


@dataclass(eq=False)
class TaskState:
    """Everything a record is made from; the owning TaskThread guards it with its lock."""

    id: str
    thing: str
    action: str
    input: dict[str, Any]
    log: deque[dict[str, Any]]
    status: TaskStatus = TaskStatus.PENDING
    progress: int | None = None
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: dict[str, Any] | None = None
    cancel_requested: bool = False
    time_requested: datetime = field(default_factory=now_utc)
    time_started: datetime | None = None
    time_completed: datetime | None = None
    requested_by: str | None = None
    output_media_type: str | None = None
    remaining: RemainingEstimate = field(default_factory=RemainingEstimate)
    checks: int | None = None
    """Checks made of a remote job (None: not a remote job)."""
    next_check: datetime | None = None
    """When a remote job's next check is due."""


@dataclass(frozen=True)
class RecordField:
    """One member of the record: its name, OpenAPI schema and how to read it.

    `read` returns a fresh JSON value (containers copied), so a record never shares
    mutable state with the task. `live` fields also travel in `update` events.
    """

    name: str
    schema: dict[str, Any]
    read: Callable[[TaskState], Any]
    live: bool = False
    required: bool = True


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {**_TIME, "nullable": True}

RECORD_FIELDS: tuple[RecordField, ...] = (
    RecordField("id", {"type": "string"}, lambda s: s.id, live=True),
    RecordField("action", {"type": "string"}, lambda s: s.action, live=True),
    RecordField("thing", {"type": "string"}, lambda s: s.thing, live=True),
    RecordField(
        "status",
        {"type": "string", "enum": [status.value for status in TaskStatus]},
        lambda s: s.status.value,
        live=True,
    ),
    RecordField(
        "progress",
        {"type": "integer", "minimum": 0, "maximum": 100, "nullable": True},
        lambda s: s.progress,
        live=True,
    ),
    RecordField("message", {"type": "string", "nullable": True}, lambda s: s.message, live=True),
    RecordField(
        "estimatedRemaining",
        {
            "type": "number",
            "minimum": 0,
            "nullable": True,
            "description": "Seconds left, as of the last progress report: the action's"
            " figure, or one estimated from the progress rate; null if unknown or finished.",
        },
        lambda s: None if s.status in FINISHED else s.remaining.seconds,
        live=True,
    ),
    RecordField("cancelRequested", {"type": "boolean"}, lambda s: s.cancel_requested, live=True),
    RecordField("data", {"type": "object"}, lambda s: dict(s.data), live=True),
    RecordField(
        "checks",
        {
            "type": "integer",
            "minimum": 0,
            "nullable": True,
            "description": "Checks made so far of a remote job; null for other actions.",
        },
        lambda s: s.checks,
        live=True,
    ),
    RecordField(
        "nextCheck",
        {**_NULLABLE_TIME, "description": "When a remote job's next check is due, or null."},
        lambda s: None if s.status in FINISHED else _iso(s.next_check),
        live=True,
    ),
    RecordField("input", {"type": "object"}, lambda s: dict(s.input)),
    RecordField("output", {"nullable": True}, lambda s: s.output),
    RecordField(
        "outputMediaType",
        {
            "type": "string",
            "nullable": True,
            "description": "null when `output` holds the result; else the result is served"
            " with this media type at the `output` link (large or binary results)",
        },
        lambda s: s.output_media_type,
    ),
    RecordField(
        "error",
        {"allOf": [_ref("Problem")], "nullable": True},
        lambda s: None if s.error is None else dict(s.error),
    ),
    RecordField("log", {"type": "array", "items": _ref("LogEntry")}, lambda s: list(s.log)),
    RecordField("timeRequested", _TIME, lambda s: s.time_requested.isoformat()),
    RecordField("timeStarted", _NULLABLE_TIME, lambda s: _iso(s.time_started)),
    RecordField("timeCompleted", _NULLABLE_TIME, lambda s: _iso(s.time_completed)),
    RecordField(
        "requestedBy",
        {"type": "string", "nullable": True, "description": "The access token's name, or null."},
        lambda s: s.requested_by,
    ),
)

_LINK_SCHEMAS: dict[str, dict[str, Any]] = {
    "href": {"type": "string", "format": "uri"},
    "links": {"type": "array", "items": _ref("Link")},
}
"""Members added for the client's server root (`with_links`), not stored."""

LOG_ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "levelname": {"type": "string"},
        "levelno": {"type": "integer"},
        "message": {"type": "string"},
        "created": _TIME,
        "logger": {"type": "string"},
    },
}


def snapshot(state: TaskState) -> dict[str, Any]:
    """The whole record as a new dict of JSON values (no `href`/`links`)."""
    return {spec.name: spec.read(state) for spec in RECORD_FIELDS}


def restored_state(record: Mapping[str, Any], log_limit: int) -> TaskState:
    """The state of an unfinished invocation from its stored `record` (a snapshot), to go
    on with it after a restart; its status is `running`."""

    def moment(name: str) -> datetime | None:
        value = record.get(name)
        return None if value is None else datetime.fromisoformat(value)

    return TaskState(
        id=record["id"],
        thing=record["thing"],
        action=record["action"],
        input=dict(record.get("input") or {}),
        log=deque(record.get("log") or [], maxlen=log_limit),
        status=TaskStatus.RUNNING,
        progress=record.get("progress"),
        message=record.get("message"),
        data=dict(record.get("data") or {}),
        cancel_requested=bool(record.get("cancelRequested")),
        time_requested=moment("timeRequested") or now_utc(),
        time_started=moment("timeStarted") or now_utc(),
        requested_by=record.get("requestedBy"),
        remaining=RemainingEstimate(record.get("estimatedRemaining")),
        checks=record.get("checks"),
        next_check=moment("nextCheck"),
    )


def live_update(state: TaskState) -> dict[str, Any]:
    """The light view sent in `update` events: status, progress, message, time remaining,
    data and a remote job's checks."""
    return {spec.name: spec.read(state) for spec in RECORD_FIELDS if spec.live}


def record_href(root: str, task_id: str) -> str:
    """The absolute URL of one invocation; `root` is the server root, ending with '/'."""
    return f"{root}actions/{task_id}"


def with_links(record: Mapping[str, Any], root: str) -> dict[str, Any]:
    """A copy of `record` with its absolute `href` and `links` for a server at `root`."""
    return {**record, **_link_members(ListedRecord.of(record, ""), root)}


def linked_text(listed: ListedRecord, root: str) -> str:
    """The JSON text of `with_links` of a stored record, spliced without decoding it.

    A listing of large records (outputs of 10 kB, say) costs a copy, not a parse and a
    re-encoding.
    """
    members = json_text(_link_members(listed, root))
    return f"{listed.text[:-1]},{members[1:]}"


def _link_members(listed: ListedRecord, root: str) -> dict[str, Any]:
    href = record_href(root, listed.id)
    links = [
        {"rel": "self", "href": href},
        {"rel": "thing", "href": f"{root}{listed.thing}/"},
        {"rel": "invocations", "href": f"{root}{listed.thing}/actions/{listed.action}"},
        # RFC 5989's relation for "a resource that can be used to monitor changes".
        {"rel": "monitor", "href": f"{href}/events", "type": "text/event-stream"},
    ]
    if listed.output_media_type:
        links.append({"rel": "output", "href": f"{href}/output", "type": listed.output_media_type})
    return {"href": href, "links": links}


@dataclass(frozen=True)
class ListedRecord:
    """A record as listings carry it: its JSON text and what its links are made from."""

    id: str
    thing: str
    action: str
    output_media_type: str | None
    text: str

    @classmethod
    def of(cls, record: Mapping[str, Any], text: str) -> ListedRecord:
        """The listing form of `record`, whose JSON text is `text`."""
        return cls(
            record["id"], record["thing"], record["action"], record.get("outputMediaType"), text
        )


def record_schema() -> dict[str, Any]:
    """The OpenAPI 3.0 schema of the record as clients receive it."""
    properties = {spec.name: spec.schema for spec in RECORD_FIELDS}
    properties.update(_LINK_SCHEMAS)
    required = [spec.name for spec in RECORD_FIELDS if spec.required]
    return {
        "type": "object",
        "description": "One invocation of an action, as it stands.",
        "properties": properties,
        "required": required + list(_LINK_SCHEMAS),
    }


def log_entry(record: logging.LogRecord) -> dict[str, Any]:
    """A log record as the JSON entry kept in a task's `log`."""
    return {
        "levelname": record.levelname,
        "levelno": record.levelno,
        "message": clean_text(record.getMessage()),
        "created": datetime.fromtimestamp(record.created, tz=now_utc().tzinfo).isoformat(),
        "logger": clean_text(record.name),
    }
