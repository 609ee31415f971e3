"""The `labthings` command line: `labthings serve FILE.py:NAME` or `module:NAME`.

A failed start is reported in one line on stderr, `labthings: ...`, with exit status 2
when the target or the command line is wrong and 1 when serving failed; at debug level
(`--debug`) the traceback behind it is printed too.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import threading
import traceback
from collections.abc import Sequence

from labthings import __version__
from labthings.core.errors import ThingOpenError
from labthings.serving.console import configure_logging
from labthings.serving.server import DEFAULT_THREADS, ListenError, serve
from labthings.serving.targets import TargetError, load_labthing, read_options

__all__ = ["main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7485
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _parser().parse_args(argv)
    if arguments.threads < 1:
        return _fail("--threads must be at least 1", 2)
    level = LOG_LEVELS[arguments.log_level]
    debug = level <= logging.DEBUG
    started = threading.Event()
    configure_logging(level, started)
    try:
        labthing = load_labthing(arguments.target, read_options(arguments.config, arguments.option))
    except TargetError as error:
        return _fail(str(error), 2, error.__cause__ if debug else None)
    except Exception as error:  # raised by the target's own code, e.g. a factory
        return _fail(_could_not_start(error), 1, error if debug else None)
    try:
        serve(
            labthing,
            arguments.host,
            arguments.port,
            threads=arguments.threads,
            access_log=debug,
            ready=started,
        )
    except ListenError as error:
        return _fail(_cannot_listen(error), 1)
    except ThingOpenError as error:
        return _fail(f"could not start: {error}", 1, error if debug else None)
    except Exception as error:  # anything else that stopped the start
        return _fail(_could_not_start(error), 1, error if debug else None)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labthings", description="Put laboratory instruments on the network."
    )
    parser.add_argument("--version", action="version", version=f"labthings {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="serve a LabThing over HTTP")
    serve_command.add_argument("target", help="FILE.py:NAME or module:NAME (NAME: labthing)")
    serve_command.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    serve_command.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="default: %(default)s (0: any free)"
    )
    serve_command.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="worker threads, one per in-flight request (default: %(default)s)",
    )
    serve_command.add_argument(
        "--config", help="a JSON object of keyword arguments for a factory target"
    )
    serve_command.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument for a factory target, e.g. --option stage=/dev/ttyUSB0",
    )
    serve_command.add_argument(
        "--log-level",
        choices=list(LOG_LEVELS),
        default="info",
        help="the least severe log lines shown; debug adds a line per HTTP request and the "
        "traceback of a failed start (default: %(default)s)",
    )
    serve_command.add_argument(
        "--debug",
        action="store_const",
        const="debug",
        dest="log_level",
        help="the same as --log-level debug",
    )
    return parser


def _fail(message: str, status: int, cause: BaseException | None = None) -> int:
    """Print `cause`'s traceback if given, then `labthings: MESSAGE`; returns `status`."""
    if cause is not None:
        traceback.print_exception(cause)
    print(f"labthings: {message}", file=sys.stderr)
    return status


def _could_not_start(error: Exception) -> str:
    detail = str(error)
    return f"could not start: {type(error).__name__}{': ' if detail else ''}{detail}"


def _cannot_listen(error: ListenError) -> str:
    if error.reason.errno == errno.EADDRINUSE:
        return (
            f"port {error.port} on {error.host} is already in use; "
            "stop the other server or choose another with --port"
        )
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
