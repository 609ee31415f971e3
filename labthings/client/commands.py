"""The bodies of the client's commands: `call`, `get`, `set`, `watch`, `describe`.

Each takes the parsed command line, prints its result on stdout (JSON with `--json`)
and what happens meanwhile on stderr, and returns the exit status; a `ClientError`
raised here is turned into a message and a status by `labthings.client.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from labthings.client.errors import (
    ClientError,
    InvocationCancelled,
    InvocationError,
    WaitTimeout,
)
from labthings.client.invocation import Invocation
from labthings.client.lab import LabClient
from labthings.client.progress import Progress, progress_display
from labthings.client.summary import lab_summary, render
from labthings.client.thing import ThingClient

__all__ = ["COMMANDS", "UsageError", "parse_value"]

EXIT_COMPLETED = 0
EXIT_CANCELLED = 3
CANCEL_WAIT = 10.0
"""How long `call` waits, after Ctrl-C, for the server to say the task has stopped."""


class UsageError(ClientError):
    """The command line does not make sense (checked before anything is sent)."""


def parse_value(text: str) -> Any:
    """A command-line value: JSON if it parses as JSON (`3`, `true`, `[1, 2]`,
    `"quoted"`), else the text itself (`hello`). `NaN` and `Infinity` stay text."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        return text


def _arguments(pairs: list[str]) -> dict[str, Any]:
    arguments = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise UsageError(f"action arguments are NAME=VALUE, not {pair!r}")
        arguments[name] = parse_value(text)
    return arguments


def _print(value: Any, as_json: bool) -> None:
    """A result on stdout: JSON (one line with --json, indented otherwise); for people a
    string as it is, and bytes (a file output) as they are."""
    if isinstance(value, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()
    elif isinstance(value, str) and not as_json:
        print(value, flush=True)
    else:
        print(json.dumps(value, indent=None if as_json else 2), flush=True)


def _lab(arguments: argparse.Namespace) -> LabClient:
    return LabClient.from_url(arguments.url, arguments.token)


def call(arguments: argparse.Namespace) -> int:
    """Start an action, show its progress until it ends, print its output."""
    given = _arguments(arguments.arguments)
    with _lab(arguments) as lab:
        thing = lab.thing(arguments.thing)
        thing.td.affordance("actions", arguments.action)  # an unknown action: a usage error
        display = (
            None
            if arguments.json
            else progress_display(f"{arguments.thing}.{arguments.action}", sys.stderr)
        )
        invocation: Invocation | None = None
        try:
            invocation = thing.invoke(arguments.action, **given)
            for update in invocation.updates(arguments.timeout):
                if display is not None:
                    display.show(update)
        except KeyboardInterrupt:
            _close(display)
            return _cancel(invocation, arguments.json)
        except WaitTimeout:
            _close(display)
            raise
        _close(display)
        return _finish(invocation, arguments.json)


def _close(display: Progress | None) -> None:
    if display is not None:
        display.close()


def _finish(invocation: Invocation, as_json: bool) -> int:
    try:
        output = invocation.wait()
    except InvocationError:
        if as_json:
            _print(invocation.record, True)
        raise
    _print(invocation.record if as_json else output, as_json)
    return EXIT_COMPLETED


def _cancel(invocation: Invocation | None, as_json: bool) -> int:
    """Ctrl-C: cancel the task on the server and wait (bounded) to hear that it stopped."""
    if invocation is None:
        print("labthings: interrupted before the action started", file=sys.stderr)
        return EXIT_CANCELLED
    print(f"labthings: cancelling {invocation.url or invocation.action}", file=sys.stderr)
    try:
        invocation.cancel()
        invocation.wait(CANCEL_WAIT)
    except InvocationCancelled:
        if as_json:
            _print(invocation.record, True)
        print("labthings: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except WaitTimeout:
        print(
            f"labthings: asked it to stop; still {invocation.status} after {CANCEL_WAIT:g} s",
            file=sys.stderr,
        )
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print("labthings: stopped waiting for the cancel", file=sys.stderr)
        return EXIT_CANCELLED
    print("labthings: it ended before the cancel arrived", file=sys.stderr)
    return _finish(invocation, as_json)


def get(arguments: argparse.Namespace) -> int:
    """Print a property's value."""
    with _lab(arguments) as lab:
        _print(lab.thing(arguments.thing).read_property(arguments.property), arguments.json)
    return EXIT_COMPLETED


def set_(arguments: argparse.Namespace) -> int:
    """Write a property; print the value the server read back, if it sent one."""
    with _lab(arguments) as lab:
        thing = lab.thing(arguments.thing)
        answer = thing.write_property(arguments.property, parse_value(arguments.value))
        if answer is not None:
            _print(answer, arguments.json)
    return EXIT_COMPLETED


def watch(arguments: argparse.Namespace) -> int:
    """Print property changes and events as lines until Ctrl-C."""
    with _lab(arguments) as lab:
        thing = lab.thing(arguments.thing)
        properties, events = _watched(thing, arguments.property, arguments.event)
        lock = threading.Lock()
        failed: list[BaseException] = []
        ended = threading.Event()

        def emitter(kind: str, name: str) -> Callable[[Any], None]:
            def emit(value: Any) -> None:
                with lock:
                    print(_watch_line(arguments, kind, name, value), flush=True)

            return emit

        def fail(error: BaseException) -> None:
            failed.append(error)
            ended.set()

        streams = [
            thing.observe_property(name).start(emitter("property", name), fail)
            for name in properties
        ] + [thing.subscribe_event(name).start(emitter("event", name), fail) for name in events]
        try:
            ended.wait()
        except KeyboardInterrupt:
            return EXIT_COMPLETED
        finally:
            for stream in streams:
                stream.close()
        raise failed[0]


def _watched(
    thing: ThingClient, properties: list[str], events: list[str]
) -> tuple[list[str], list[str]]:
    """What to watch: those named, or every observable property and every event."""
    td = thing.td
    for name in properties:
        td.affordance("properties", name).form("observeproperty")
    for name in events:
        td.affordance("events", name).form("subscribeevent")
    if not properties and not events:
        properties = [n for n, a in td.properties.items() if a.offers("observeproperty")]
        events = [n for n, a in td.events.items() if a.offers("subscribeevent")]
    if not properties and not events:
        raise UsageError(f"{td.title} has nothing to watch (no observable property, no event)")
    return properties, events


def _watch_line(arguments: argparse.Namespace, kind: str, name: str, value: Any) -> str:
    now = datetime.now().astimezone()
    if arguments.json:
        key = "value" if kind == "property" else "data"
        record = {"time": now.isoformat(), "thing": arguments.thing, kind: name, key: value}
        return json.dumps(record)
    separator = " =" if kind == "property" else ":"
    return f"{now:%H:%M:%S} {kind} {name}{separator} {json.dumps(value)}"


def describe(arguments: argparse.Namespace) -> int:
    """Print what the server offers: Things, properties (with values), actions, events."""
    with _lab(arguments) as lab:
        summary = lab_summary(lab, arguments.things or None)
    if arguments.json:
        _print(summary, True)
    else:
        print("\n".join(render(summary)), flush=True)
    return EXIT_COMPLETED


COMMANDS: Mapping[str, Any] = {
    "call": call,
    "get": get,
    "set": set_,
    "watch": watch,
    "describe": describe,
}
"""Each command's function (the parsed command line -> exit status)."""
