"""`Last-Event-ID`: only an id this server run could have sent resumes a stream."""

from __future__ import annotations

import pytest
from flask import Flask

from labthings.core.live.hub import EventHub
from labthings.http.sse import last_event_id


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("{epoch}.12", (12, False)),
        ("{epoch}.1" + "0" * 5000, (None, True)),  # more digits than int() takes
        ("{epoch}.\u00b2", (None, True)),  # a digit to str.isdigit, not to int()
        ("{epoch}.-3", (None, True)),
        ("another-run.12", (None, True)),
        ("", (None, False)),
    ],
)
def test_last_event_id(sent: str, expected: tuple[int | None, bool]) -> None:
    hub = EventHub()
    header = sent.format(epoch=hub.epoch)
    headers = {"Last-Event-ID": header} if header else {}
    with Flask(__name__).test_request_context(headers=headers) as context:
        assert last_event_id(context.request, hub) == expected
