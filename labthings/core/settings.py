"""Settings of a labthings server, with the defaults a lab PC wants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from labthings.core.errors import ConfigurationError

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Every bound the server enforces; pass overrides as keywords to `LabThing`.

    Times are in seconds, sizes in bytes.
    """

    max_wait: float = 30.0
    """The cap on `Prefer: wait=N` for a POST."""
    sync_wait: float = 5.0
    """How long a synchronous POST (`?sync=true`, the TD's first invokeaction form) waits
    for its action to end before answering with the record instead; capped by
    `max_wait`. Short, so that a queued or long action never looks like a hung request."""
    cancel_wait: float = 1.0
    """How long DELETE waits for a task to stop when no `?timeout=` is given."""
    max_cancel_wait: float = 30.0
    """The cap on DELETE's `?timeout=`."""
    property_lock_timeout: float = 1.0
    """How long a property write waits for the instrument lock before a 409."""
    history_max_count: int = 1000
    """Finished invocations kept; older ones are evicted (running ones never are). Past
    it, the oldest go together, down to a fiftieth below it."""
    history_max_age: float = 24 * 3600.0
    """Finished invocations older than this are evicted."""
    history_max_bytes: int = 1024**3
    """Finished records and their blobs beyond this many bytes are evicted, oldest first."""
    blob_threshold: int = 64 * 1024
    """Outputs whose JSON is longer than this are kept as files and served by link."""
    task_log_max: int = 1000
    """Log entries kept per invocation (the oldest drop off)."""
    list_default_limit: int = 100
    """Records per page of a list when no `?limit=` is given."""
    list_max_limit: int = 1000
    """The largest `?limit=` accepted."""
    max_body_bytes: int = 1024 * 1024
    """Request bodies larger than this get 413."""
    max_json_depth: int = 32
    """Arrays and objects nested deeper than this in a body get 400."""
    max_pending_per_thing: int = 1000
    """Invocations of one Thing waiting for its instrument lock; past it a POST is 503."""
    max_pending: int = 5000
    """Invocations waiting in all; past it a POST is 503."""
    shutdown_wait: float = 5.0
    """How long a graceful shutdown waits for cancelled tasks before closing Things."""
    sse_heartbeat: float = 15.0
    """Seconds between keep-alive comments on an idle event stream."""
    event_replay: int = 1000
    """Events kept for `Last-Event-ID` resumption."""
    max_streams: int = 500
    """Event streams open at once; past it a new stream is 503 with Retry-After."""
    event_queue: int = 256
    """Events queued per watcher; a slower watcher loses the oldest and is told."""
    program_folder_keep: float = 7 * 24 * 3600.0
    """External programs' working folders are removed this long after their last use."""
    idempotency_keys_for: float = 24 * 3600.0
    """How long an `Idempotency-Key` is remembered; a repeat after that starts anew."""
    compute_lost_after: float = 30.0
    """A compute action running on a Celery worker that has sent no heartbeat for this
    long (the worker was killed, or its machine lost) ends in `error`; so does one whose
    result backend has not answered for this long."""

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """These settings with some replaced; ConfigurationError names an unknown one."""
        known = {spec.name for spec in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s) {', '.join(unknown)}; "
                f"the settings are: {', '.join(sorted(known))}"
            )
        return replace(self, **overrides) if overrides else self

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(f"setting {spec.name} must be a number >= 0")
        if self.sse_heartbeat <= 0 or self.event_queue < 1:
            raise ConfigurationError("need sse_heartbeat > 0 and event_queue >= 1")
        if self.list_default_limit < 1 or self.list_max_limit < self.list_default_limit:
            raise ConfigurationError("need 1 <= list_default_limit <= list_max_limit")
