"""The bodies of the client's commands: `call`, `get`, `set`, `watch`, `describe`.

Each takes the parsed command line, prints its result on stdout (JSON with `--json`)
and what happens meanwhile on stderr, and returns the exit status; a `ClientError`
raised here is turned into a message and a status by `labthings.client.cli`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from labthings.client.connection import Reconnect
from labthings.client.errors import InvocationCancelled, InvocationError, WaitTimeout
from labthings.client.exits import UsageError
from labthings.client.invocation import Invocation
from labthings.client.lab import LabClient
from labthings.client.progress import Progress, progress_display
from labthings.client.shell import (
    CANCEL_WAIT,
    EXIT_CANCELLED,
    EXIT_COMPLETED,
    action_arguments,
    parse_value,
    print_result,
)
from labthings.client.summary import lab_summary, render
from labthings.client.together import call_together
from labthings.client.watching import watch

__all__ = ["COMMANDS", "UsageError", "parse_value"]


def _lab(arguments: argparse.Namespace) -> LabClient:
    patience = vars(arguments).get("patience")
    reconnect = None if patience is None else Reconnect(patience=patience)
    return LabClient.from_url(arguments.url, arguments.token, reconnect=reconnect)


def call(arguments: argparse.Namespace) -> int:
    """Start an action, show its progress until it ends, print its output; with `--on`
    or `--also`, several at once (`labthings.client.together`)."""
    if arguments.on or arguments.also:
        return call_together(arguments)
    given = action_arguments(arguments.arguments)
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
            print_result(invocation.record, True)
        raise
    print_result(invocation.record if as_json else output, as_json)
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
            print_result(invocation.record, True)
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
        print_result(lab.thing(arguments.thing).read_property(arguments.property), arguments.json)
    return EXIT_COMPLETED


def set_(arguments: argparse.Namespace) -> int:
    """Write a property; print the value the server read back, if it sent one."""
    with _lab(arguments) as lab:
        thing = lab.thing(arguments.thing)
        answer = thing.write_property(arguments.property, parse_value(arguments.value))
        if answer is not None:
            print_result(answer, arguments.json)
    return EXIT_COMPLETED


def describe(arguments: argparse.Namespace) -> int:
    """Print what the server offers: Things, properties (with values), actions, events."""
    with _lab(arguments) as lab:
        summary = lab_summary(lab, arguments.things or None)
    if arguments.json:
        print_result(summary, True)
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
