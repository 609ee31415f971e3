"""`labthings discover`: list the labthings servers on the local network, with their Things.

Exit status: 0 when the network could be browsed (whether or not a server answered), 1
when multicast DNS cannot be used here at all. `--json` prints a JSON array for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from labthings.discovery import DiscoveryError, Found, discover

__all__ = ["TOKEN_ENV", "add_parser", "run"]

TOKEN_ENV = "LABTHINGS_TOKEN"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `discover` command's arguments."""
    parser = commands.add_parser(
        "discover", help="list the labthings servers on the local network (mDNS)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds to listen for servers (default: %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"an access token, to list the Things of servers needing one (default: ${TOKEN_ENV})",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array")


def run(arguments: argparse.Namespace) -> int:
    """Browse, print what was found; returns the exit status."""
    if not 0 <= arguments.timeout <= 600:
        print("labthings: --timeout must be between 0 and 600 seconds", file=sys.stderr)
        return 2
    try:
        found = discover(arguments.timeout, token=arguments.token)
    except DiscoveryError as error:
        print(f"labthings: {error}", file=sys.stderr)
        return 1
    if arguments.json:
        print(json.dumps([dataclasses.asdict(server) for server in found], indent=2))
    elif not found:
        print(
            f"No labthings server answered within {arguments.timeout:g} s (servers advertise "
            "with `labthings serve --mdns`; a network that blocks multicast hides them).",
            file=sys.stderr,
        )
    else:
        print("\n\n".join(_describe(server) for server in found))
    return 0


def _describe(server: Found) -> str:
    """A server and its Things, for people."""
    lines = [f"{server.name}  {server.url}"]
    if server.error:
        lines.append(f"  (its Things could not be listed: {server.error})")
    names = max((len(thing.name) for thing in server.things), default=0)
    titles = max((len(thing.title) for thing in server.things), default=0)
    lines += [
        f"  {thing.name:<{names}}  {thing.title:<{titles}}  {thing.url}" for thing in server.things
    ]
    return "\n".join(lines)
