"""The client's part of the `labthings` command line: `call`, `get`, `set`, `watch` and
`describe`, registered by `labthings.serving.cli` with `add_commands`.

Every failure is one line on stderr, `labthings: ...`, and an exit status that says how
it ended (`EXIT_STATUSES`, also in each command's help).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from labthings.client.commands import COMMANDS
from labthings.client.errors import ClientError
from labthings.client.exits import EXIT_STATUSES, SEVERITY, exit_status

__all__ = [
    "COMMANDS",
    "EXIT_STATUSES",
    "SEVERITY",
    "TOKEN_ENV",
    "add_commands",
    "exit_status",
    "run",
]

TOKEN_ENV = "LABTHINGS_TOKEN"
_EPILOG = (
    "exit status:\n"
    + "\n".join(f"  {status:<3}  {meaning}" for status, meaning in EXIT_STATUSES.items())
    + "\n\nOver several servers (--on, --also) the status is the worst of theirs, worst "
    "first: " + ", ".join(str(status) for status in SEVERITY) + "."
)


def run(arguments: argparse.Namespace) -> int:
    """Run a client command; returns the exit status.

    Ctrl-C (SIGINT) always interrupts, cancelling what `call` started, even in a process
    that began with SIGINT ignored (a shell's background job, whose Python would
    otherwise never raise KeyboardInterrupt), as `labthings serve` always stops on it.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return int(COMMANDS[arguments.command](arguments))
    except ClientError as error:
        print(f"labthings: {error}", file=sys.stderr)
        return exit_status(error)
    except KeyboardInterrupt:
        print("labthings: interrupted", file=sys.stderr)
        return 130


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the client commands to the `labthings` command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("url", metavar="URL", help="the server, e.g. http://lab-pc:7485/")
    common.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"an access token, sent as `Authorization: Bearer` (default: ${TOKEN_ENV})",
    )
    common.add_argument("--json", action="store_true", help="print JSON only, for scripts")

    def add(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=help,
            description=description,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    call = add(
        "call",
        "start an action, show its progress, print its output",
        "Start ACTION of THING with NAME=VALUE arguments (VALUE is JSON where it parses "
        "as JSON, else text), show a progress bar with its message and the time left, and "
        "print its output as JSON. Ctrl-C cancels the action on the server. With --json: "
        "no progress, and the final invocation record instead of the output. With --on "
        "or --also, the actions run on several servers at once, a bar (or lines) for "
        "each; each output is printed as `SERVER/THING.ACTION: JSON` (with --json, one "
        "object of the final records by that name), and a server that fails or goes "
        "away is reported without stopping the others.",
    )
    call.add_argument("thing", metavar="THING")
    call.add_argument("action", metavar="ACTION")
    call.add_argument("arguments", nargs="*", metavar="NAME=VALUE")
    call.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop waiting after this long (exit status 6; the action goes on)",
    )
    call.add_argument(
        "--on",
        action="append",
        default=[],
        metavar="URL",
        help="also run THING ACTION with the same arguments on this server (repeatable)",
    )
    call.add_argument(
        "--also",
        action="append",
        nargs="+",
        default=[],
        metavar="ARG",
        help="URL THING ACTION [NAME=VALUE ...]: also run this action, on this or another "
        "server (repeatable)",
    )
    _add_patience(call)

    get = add("get", "print a property's value", "Print PROPERTY of THING (JSON, or text).")
    get.add_argument("thing", metavar="THING")
    get.add_argument("property", metavar="PROPERTY")

    set_ = add(
        "set",
        "write a property",
        "Write VALUE (JSON where it parses as JSON, else text) to PROPERTY of THING and "
        "print the value the server read back.",
    )
    set_.add_argument("thing", metavar="THING")
    set_.add_argument("property", metavar="PROPERTY")
    set_.add_argument("value", metavar="VALUE")

    watch = add(
        "watch",
        "print property changes and events as they happen",
        "Print a line for each change of a property and each event of THING until "
        "Ctrl-C: those named with --property and --event, or else all of them. With "
        '--json, each line is {"time", "thing", "property", "value"} or {"time", '
        '"thing", "event", "data"}.',
    )
    watch.add_argument("thing", metavar="THING")
    watch.add_argument(
        "--property", action="append", default=[], metavar="NAME", help="(repeatable)"
    )
    watch.add_argument("--event", action="append", default=[], metavar="NAME", help="(repeatable)")
    watch.add_argument(
        "--on",
        action="append",
        default=[],
        metavar="URL",
        help="also watch THING on this server; each line then starts with SERVER/THING "
        '(with --json, a "server" member) (repeatable)',
    )
    watch.add_argument(
        "--also",
        action="append",
        nargs=2,
        default=[],
        metavar=("URL", "THING"),
        help="also watch another Thing, on this or another server (repeatable)",
    )
    _add_patience(watch)

    describe = add(
        "describe",
        "show what a server offers",
        "List the server's Things (or those named): properties with their types and "
        "values now, actions with their arguments, events.",
    )
    describe.add_argument("things", nargs="*", metavar="THING")


def _add_patience(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--patience",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to seek a server that went away before giving it up (default 60)",
    )
