"""A small Server-Sent Events reader for tests (bounded by a deadline)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Message:
    """One SSE message: its event name, id (or None) and decoded JSON data."""

    event: str
    id: str | None
    data: Any


def messages(response: requests.Response) -> Iterator[Message]:
    """Parse a streaming response into messages (comments and `retry:` skipped)."""
    event, event_id, data = "message", None, []
    for raw in response.iter_lines(decode_unicode=True):
        line = raw or ""
        if not line:
            if data:
                yield Message(event, event_id, json.loads("\n".join(data)))
            event, event_id, data = "message", None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def collect(
    url: str,
    until: Callable[[Message], bool],
    *,
    timeout: float = 10,
    headers: dict[str, str] | None = None,
    on_open: Callable[[], None] | None = None,
) -> list[Message]:
    """Messages from `url` up to and including the first for which `until` is true."""
    deadline = time.monotonic() + timeout
    got: list[Message] = []
    with requests.get(url, stream=True, timeout=(5, timeout), headers=headers or {}) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        if on_open is not None:
            on_open()
        for message in messages(response):
            got.append(message)
            if until(message):
                return got
            assert time.monotonic() < deadline, f"stream too slow; got {got}"
    raise AssertionError(f"the stream ended first; got {got}")
