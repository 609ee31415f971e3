"""`labthings watch`: a line for each property change and event of one Thing, or of
several on several servers (`--on`, `--also`) merged as they come, each line then
starting with the Thing's `SERVER/THING`."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labthings.client.connection import Reconnect
from labthings.client.errors import ClientError
from labthings.client.exits import UsageError, exit_status, worst_status
from labthings.client.lab import LabClient
from labthings.client.many import Lab, server_name
from labthings.client.shell import EXIT_COMPLETED
from labthings.client.streams import EventStream
from labthings.client.thing import ThingClient

__all__ = ["watch"]


@dataclass
class _Watched:
    """One Thing watched: its name, its server's (None when it is the only Thing), its
    client or the error that kept it from being had, and its streams."""

    name: str
    server: str | None
    thing: ThingClient | ClientError
    properties: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    streams: list[EventStream] = field(default_factory=list)


def watch(arguments: argparse.Namespace) -> int:
    """Print property changes and events as lines until Ctrl-C (or until every server
    watched has gone away)."""
    reconnect = Reconnect(patience=arguments.patience)
    targets = [(arguments.url, arguments.thing)]
    targets += [(url, arguments.thing) for url in arguments.on]
    targets += [(url, thing) for url, thing in arguments.also]
    if len(targets) == 1:
        with LabClient.from_url(arguments.url, arguments.token, reconnect=reconnect) as one:
            only = _Watched(arguments.thing, None, one.thing(arguments.thing))
            return _watch(arguments, [only])
    try:
        lab = Lab.from_urls([url for url, _ in targets], arguments.token, reconnect=reconnect)
    except ValueError as error:
        raise UsageError(str(error)) from None
    with lab:
        watched = []
        for url, name in dict.fromkeys(targets):
            server = server_name(url)
            try:
                client: ThingClient | ClientError = lab.thing(f"{server}/{name}")
            except ClientError as error:
                if exit_status(error) == 2:  # a usage error stops all before anything starts
                    raise
                client = error
            watched.append(_Watched(name, server, client))
        return _watch(arguments, watched)


def _watch(arguments: argparse.Namespace, watched: list[_Watched]) -> int:
    """Follow every stream of every Thing watched. A Thing whose stream fails is closed
    and reported; the watch ends when none is left (one Thing alone: its error is
    raised), or at Ctrl-C."""
    for target in watched:
        if isinstance(target.thing, ThingClient):
            target.properties, target.events = _watched(
                target.thing, arguments.property, arguments.event
            )
    lock = threading.Lock()
    failed: dict[int, ClientError] = {}
    ended = threading.Event()

    def emitter(target: _Watched, kind: str, name: str) -> Callable[[Any], None]:
        def emit(value: Any) -> None:
            with lock:
                print(_watch_line(arguments, target, kind, name, value), flush=True)

        return emit

    def failer(index: int) -> Callable[[BaseException], None]:
        def fail(error: BaseException) -> None:
            with lock:
                if index in failed or not isinstance(error, ClientError):
                    return
                failed[index] = error
                target = watched[index]
                if target.server is not None:
                    print(f"labthings: {_which(target)}: {error}", file=sys.stderr, flush=True)
                if len(failed) == len(watched):
                    ended.set()
            for stream in target.streams:
                stream.close()

        return fail

    for index, target in enumerate(watched):
        thing = target.thing
        fail = failer(index)
        if not isinstance(thing, ThingClient):
            fail(thing)
            continue
        target.streams += [
            thing.observe_property(name).start(emitter(target, "property", name), fail)
            for name in target.properties
        ]
        target.streams += [
            thing.subscribe_event(name).start(emitter(target, "event", name), fail)
            for name in target.events
        ]
    try:
        ended.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for target in watched:
            for stream in target.streams:
                stream.close()
    if len(watched) == 1 and failed:
        raise failed[0]
    return worst_status([EXIT_COMPLETED, *(exit_status(error) for error in failed.values())])


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


def _watch_line(
    arguments: argparse.Namespace, target: _Watched, kind: str, name: str, value: Any
) -> str:
    now = datetime.now().astimezone()
    if arguments.json:
        record: dict[str, Any] = {"time": now.isoformat()}
        if target.server is not None:
            record["server"] = target.server
        record.update({"thing": target.name, kind: name})
        record["value" if kind == "property" else "data"] = value
        return json.dumps(record)
    separator = " =" if kind == "property" else ":"
    line = f"{now:%H:%M:%S} {kind} {name}{separator} {json.dumps(value)}"
    return line if target.server is None else f"{_which(target)} {line}"


def _which(target: _Watched) -> str:
    return f"{target.server}/{target.name}"
