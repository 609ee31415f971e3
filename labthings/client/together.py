"""`labthings call` over several servers (`--on URL`, `--also URL THING ACTION ...`):
the calls are checked, then started at once through a `Lab`, each shown by a bar of its
own (or lines), and the command exits with the worst of their statuses."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from labthings.client.connection import Reconnect
from labthings.client.errors import WaitTimeout
from labthings.client.exits import UsageError, exit_status, worst_status
from labthings.client.group import Group, Outcome
from labthings.client.invocation import Update
from labthings.client.many import Lab, server_name
from labthings.client.progress import Progress, progress_display
from labthings.client.shell import (
    CANCEL_WAIT,
    EXIT_CANCELLED,
    EXIT_COMPLETED,
    action_arguments,
    print_result,
)

__all__ = ["call_together"]

_Call = tuple[str, str, str, dict[str, Any]]
"""(URL, thing, action, arguments)."""


def calls(arguments: argparse.Namespace) -> list[_Call]:
    """The calls of the command line: the first, the same on each `--on` server, and
    each `--also`."""
    given = action_arguments(arguments.arguments)
    first = (arguments.url, arguments.thing, arguments.action, given)
    found = [first] + [(url, *first[1:]) for url in arguments.on]
    for also in arguments.also:
        if len(also) < 3:
            raise UsageError(
                f"--also takes URL THING ACTION [NAME=VALUE ...], not {' '.join(also)!r}"
            )
        url, thing, action, *pairs = also
        found.append((url, thing, action, action_arguments(pairs)))
    return found


def call_together(arguments: argparse.Namespace) -> int:
    """Start every call at once, show their progress until all have ended, print each
    output (or each final record, with --json), and return the worst exit status."""
    planned = calls(arguments)
    reconnect = Reconnect(patience=arguments.patience)
    try:
        lab = Lab.from_urls([url for url, *_ in planned], arguments.token, reconnect=reconnect)
    except ValueError as error:
        raise UsageError(str(error)) from None
    with lab:
        started = [
            (f"{server_name(url)}/{thing}", action, given) for url, thing, action, given in planned
        ]
        with lab.start(started) as group:
            displays = {} if arguments.json else _displays(group)

            def show(which: str, update: Update) -> None:
                if which in displays:
                    displays[which].show(update)

            cancelled = False
            try:
                outcomes = group.wait(arguments.timeout, show)
            except KeyboardInterrupt:
                cancelled = True
                outcomes = _cancel(group, show)
            finally:
                for display in displays.values():
                    display.close()
    return _report(outcomes, arguments.json, cancelled)


def _displays(group: Group) -> dict[str, Progress]:
    """A display per member: bars stacked in the group's order on a terminal."""
    return {
        which: progress_display(which, sys.stderr, position)
        for position, which in enumerate(group.which)
    }


def _cancel(group: Group, show: Any) -> dict[str, Outcome]:
    """Ctrl-C: cancel every member still running and wait (bounded) to hear they stopped;
    a second Ctrl-C stops waiting."""
    print("labthings: cancelling", file=sys.stderr, flush=True)
    group.cancel()
    try:
        return group.wait(CANCEL_WAIT, show)
    except KeyboardInterrupt:
        print("labthings: stopped waiting for the cancel", file=sys.stderr, flush=True)
        return group.wait(0)


def _report(outcomes: dict[str, Outcome], as_json: bool, cancelled: bool) -> int:
    """Print each output (stdout) or error (stderr); the worst status of all."""
    statuses = []
    for which, outcome in outcomes.items():
        error = outcome.error
        if error is None:
            statuses.append(EXIT_COMPLETED)
            if not as_json:
                print(f"{which}: {_shown(outcome.output)}", flush=True)
            continue
        if cancelled and isinstance(error, WaitTimeout):
            statuses.append(EXIT_CANCELLED)  # asked to stop, not heard to have stopped
        else:
            statuses.append(exit_status(error))
        print(f"labthings: {which}: {error}", file=sys.stderr, flush=True)
    if as_json:
        print_result({which: outcome.record for which, outcome in outcomes.items()}, True)
    return worst_status(statuses)


def _shown(output: Any) -> str:
    """An output on one line: JSON, or the size of a file."""
    if isinstance(output, bytes):
        return f"{len(output)} bytes"
    return json.dumps(output)
