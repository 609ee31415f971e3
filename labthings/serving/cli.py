"""The `labthings` command line: `labthings serve FILE.py:NAME` or `module:NAME`,
`labthings token create|list|revoke` to manage the access tokens of a data folder,
`labthings discover` to list the servers on the local network, `labthings worker
--celery-broker URL TARGET` to run compute actions on Celery, and the client's commands
(`call`, `get`, `set`, `watch`, `describe`: labthings.client.cli).

A failed start is reported in one line on stderr, `labthings: ...`, with exit status 2
when the target or the command line is wrong and 1 when serving failed; at debug level
(`--debug`) the traceback behind it is printed too. A token command that fails says why
in one such line and exits with 1.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import sqlite3
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from labthings import __version__
from labthings.client import cli as client_cli
from labthings.core.access.tokens import SCOPES, TokenStore, TokenStoreError
from labthings.core.datadir import DATA_DIR_ENV, DataDirInUse, data_dir, default_data_dir
from labthings.core.errors import ConfigurationError, ThingOpenError
from labthings.serving import discover_command
from labthings.serving.console import configure_logging
from labthings.serving.defaults import DEFAULT_THREADS

if TYPE_CHECKING:  # the server's modules load only for `serve`: the client's commands start fast
    from labthings.http.labthing import LabThing
    from labthings.serving.server import ListenError

__all__ = ["main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7485
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _parser().parse_args(argv)
    if arguments.command in client_cli.COMMANDS:
        return client_cli.run(arguments)
    if arguments.command == "token":
        return _token_command(arguments)
    if arguments.command == "discover":
        return discover_command.run(arguments)
    if arguments.command == "worker":
        return _worker_command(arguments)
    return _serve_command(arguments)


def _serve_command(arguments: argparse.Namespace) -> int:
    from labthings.http.security import Access
    from labthings.serving.gil import longer_gil_turns
    from labthings.serving.memory import few_malloc_arenas
    from labthings.serving.server import ListenError, serve
    from labthings.serving.targets import TargetError, load_labthing, read_options

    if arguments.threads < 1:
        return _fail("--threads must be at least 1", 2)
    few_malloc_arenas()  # before any thread: the served process stays small
    longer_gil_turns()  # bursts of requests spend less CPU on threads waking for the GIL
    level = LOG_LEVELS[arguments.log_level]
    debug = level <= logging.DEBUG
    # Beyond this PC, a server needs a token from the start, whatever happens to them.
    required = not _is_loopback(arguments.host)
    store = (
        None if arguments.no_auth else TokenStore(data_dir(arguments.data_dir), required=required)
    )
    kept: list[str] = []  # where the state is kept, said once the server is up

    def announce() -> None:
        for line in kept:
            _logger.info("%s", line)
        _say_who_may_use(store, arguments.host)

    started = _Started(announce)
    configure_logging(level, started)
    try:
        access = Access.of(store, arguments.cors_origin, arguments.allowed_host)
        refusal = _refusal(store, arguments.host)
    except ConfigurationError as error:
        return _fail(str(error), 2)
    except TokenStoreError as error:
        return _fail(str(error), 1)
    if refusal:
        return _fail(refusal, 2)
    try:
        labthing = load_labthing(arguments.target, read_options(arguments.config, arguments.option))
    except TargetError as error:
        return _fail(str(error), 2, error.__cause__ if debug else None)
    except Exception as error:  # raised by the target's own code, e.g. a factory
        return _fail(_could_not_start(error), 1, error if debug else None)
    try:
        labthing.configure_access(
            tokens=access.tokens,
            cors_origins=access.cors_origins,
            allowed_hosts=access.allowed_hosts,
        )
    except ConfigurationError as error:  # the target built its app already
        return _fail(str(error), 2)
    try:
        if arguments.celery_broker:
            labthing.use_celery(arguments.celery_broker, backend=arguments.celery_backend)
            kept.append(f"sending compute actions to Celery workers through {_masked(arguments)}")
    except ConfigurationError as error:
        return _fail(str(error), 2)
    try:
        kept.append(
            _keep_state(labthing, None if arguments.ephemeral else data_dir(arguments.data_dir))
        )
    except ConfigurationError as error:
        return _fail(str(error), 2)
    except (DataDirInUse, OSError, sqlite3.Error) as error:
        return _fail(str(error), 1)
    try:
        serve(
            labthing,
            arguments.host,
            arguments.port,
            threads=arguments.threads,
            access_log=debug,
            ready=started,
            mdns=arguments.mdns,
            one_cpu=not arguments.all_cpus,
        )
    except ListenError as error:
        return _fail(_cannot_listen(error), 1)
    except ThingOpenError as error:
        return _fail(f"could not start: {error}", 1, error if debug else None)
    except Exception as error:  # anything else that stopped the start
        return _fail(_could_not_start(error), 1, error if debug else None)
    return 0


_CREATE = "labthings token create NAME --scope control"


def _worker_command(arguments: argparse.Namespace) -> int:
    if arguments.concurrency is not None and arguments.concurrency < 1:
        return _fail("--concurrency must be at least 1", 2)
    try:
        from labthings.celery.worker import run_worker
    except ModuleNotFoundError as error:
        return _fail(f"the worker needs {error.name}: pip install 'labthings[celery]'", 2)
    from labthings.serving.targets import TargetError, import_target

    debug = arguments.log_level == "debug"
    for target in arguments.target:
        try:
            import_target(target)
        except TargetError as error:
            return _fail(str(error), 2, error.__cause__ if debug else None)
        except Exception as error:  # raised by the target's own code at import
            return _fail(_could_not_start(error), 1, error if debug else None)
    run_worker(
        arguments.celery_broker,
        arguments.celery_backend,
        concurrency=arguments.concurrency,
        pool=arguments.pool,
        log_level=arguments.log_level,
    )
    return 0


def _masked(arguments: argparse.Namespace) -> str:
    """The broker URL without its password, for the console."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(arguments.celery_broker))


def _keep_state(labthing: LabThing, folder: Path | None) -> str:
    """Keep the history and saved property values in `folder`, or nowhere for None;
    returns the line that tells the operator where."""
    if folder is None:
        return "keeping no history and no property values (--ephemeral)"
    labthing.use_data_dir(folder)
    return f"keeping the history and saved property values in {folder}"


def _refusal(store: TokenStore | None, host: str) -> str | None:
    """Why the server must not start: no token while listening beyond this PC. Raises
    TokenStoreError if the tokens file cannot be read."""
    if store is None or _is_loopback(host) or store.tokens():
        return None
    return (
        f"refusing to serve on {host} without access tokens: anyone on the network could "
        f"control the instruments. Make one with `{_CREATE}` (stored in {store.folder}), "
        "or pass --no-auth to serve without them"
    )


def _say_who_may_use(store: TokenStore | None, host: str) -> None:
    """One line, once the server is up: who may use it."""
    where = "this PC" if _is_loopback(host) else "the network"
    if store is None:
        _logger.warning(
            "access tokens are not checked (--no-auth): anyone on %s can control the instruments",
            where,
        )
        return
    try:
        count = len(store.tokens())
    except TokenStoreError as error:  # broken since the start was checked
        _logger.error("%s; every token is refused until it is fixed", error)
        return
    if count:
        _logger.info("access tokens from %s: every request needs one (%d now)", store.path, count)
        return
    if where == "the network":  # the last token went while the server started
        _logger.warning("no access tokens in %s: every request is refused", store.folder)
        return
    _logger.warning(
        "no access tokens in %s: anyone on this PC can control the instruments "
        "(`%s` makes one; the server asks for tokens from then on)",
        store.folder,
        _CREATE,
    )


class _Started(threading.Event):
    """Set by `serve` once the server is up; `announce()` runs just before, once."""

    def __init__(self, announce: Callable[[], None]) -> None:
        super().__init__()
        self._announce = announce

    def set(self) -> None:
        if not self.is_set():
            self._announce()
        super().set()


def _is_loopback(host: str) -> bool:
    """Whether `host` (an address or name to listen on) is this machine's loopback only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _token_command(arguments: argparse.Namespace) -> int:
    store = TokenStore(data_dir(arguments.data_dir))
    try:
        if arguments.action == "create":
            token = store.create(arguments.name, arguments.scope)
            print(f"Made the {arguments.scope} token {arguments.name!r} in {store.path}.")
            print(
                "It is shown only now: keep it secret. Send it as `Authorization: Bearer "
                "TOKEN`, or open the web page once as http://HOST:PORT/ui/?token=TOKEN."
            )
            print(token)
        elif arguments.action == "list":
            _print_tokens(store)
        else:
            revoked = store.revoke(arguments.name)
            print(
                f"Revoked the {revoked.scope} token {revoked.name!r}; a running server "
                "refuses it from its next request."
            )
    except TokenStoreError as error:
        return _fail(str(error), 1)
    return 0


def _print_tokens(store: TokenStore) -> None:
    tokens = store.tokens()
    if not tokens:
        print(f"No access tokens in {store.path}.")
        return
    rows = [("NAME", "SCOPE", "CREATED")] + [(t.name, t.scope, t.created) for t in tokens]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for name, scope, created in rows:
        print(f"{name:<{widths[0]}}  {scope:<{widths[1]}}  {created}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labthings", description="Put laboratory instruments on the network."
    )
    parser.add_argument("--version", action="version", version=f"labthings {__version__}")
    data = argparse.ArgumentParser(add_help=False)
    default = str(default_data_dir()).replace("%", "%%")
    data.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the folder of the access tokens, the history and saved property values "
        f"(default: ${DATA_DIR_ENV} if set, else {default})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _token_parser(commands, data)
    discover_command.add_parser(commands)
    client_cli.add_commands(commands)
    _worker_parser(commands)
    serve_command = commands.add_parser("serve", parents=[data], help="serve a LabThing over HTTP")
    serve_command.add_argument("target", help="FILE.py:NAME or module:NAME (NAME: labthing)")
    serve_command.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    serve_command.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="default: %(default)s (0: any free)"
    )
    serve_command.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="the most threads running requests at once; each in-flight request or open "
        "event stream holds one, started on demand (default: %(default)s)",
    )
    serve_command.add_argument(
        "--all-cpus",
        action="store_true",
        help="let the threads running requests and tasks use every CPU; by default they "
        "share one (Linux), which is faster because only one runs Python at a time. Use "
        "it if actions compute in parallel threads (numpy, say); child processes always "
        "get every CPU",
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
    serve_command.add_argument(
        "--mdns",
        action="store_true",
        help="advertise the server on the local network by DNS-SD (_wot._tcp and "
        "_labthing._tcp), for `labthings discover`; on a loopback --host, on this PC only",
    )
    serve_command.add_argument(
        "--no-auth",
        action="store_true",
        help="check no access token, even on a non-loopback --host (anyone who can reach "
        "the server can control the instruments)",
    )
    serve_command.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep no history and no property values in the data folder (this run only); "
        "access tokens are still read from it",
    )
    serve_command.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web page origin allowed to use the server from a browser, e.g. "
        "https://notebooks.example.org:8888 (repeatable)",
    )
    serve_command.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the server answers to besides IP addresses, localhost and the "
        "machine's own names, e.g. a DNS alias or a reverse proxy's (repeatable)",
    )
    _celery_options(serve_command, required=False)
    return parser


def _celery_options(command: argparse.ArgumentParser, *, required: bool) -> None:
    command.add_argument(
        "--celery-broker",
        required=required,
        metavar="URL",
        help="the Celery broker that compute actions go through, e.g. "
        "redis://127.0.0.1:6379/0 (needs labthings[celery])"
        + ("" if required else "; without it they run in this process"),
    )
    command.add_argument(
        "--celery-backend",
        metavar="URL",
        help="where Celery keeps their progress and results (default: the broker)",
    )


def _worker_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    worker = commands.add_parser(
        "worker", help="run a Celery worker for the compute actions of a lab"
    )
    worker.add_argument(
        "target",
        nargs="+",
        help="FILE.py[:NAME] or module[:NAME] defining the Thing classes (only imported; "
        "the same target as `labthings serve` will do)",
    )
    _celery_options(worker, required=True)
    worker.add_argument(
        "--concurrency",
        type=int,
        help="worker processes running actions at once (default: one per CPU)",
    )
    worker.add_argument(
        "--pool",
        choices=["prefork", "solo", "threads"],
        default="prefork",
        help="how actions run: prefork (processes, which a DELETE can terminate), solo "
        "or threads (no termination: a cancelled action runs to its end); default "
        "%(default)s",
    )
    worker.add_argument(
        "--log-level",
        choices=list(LOG_LEVELS),
        default="info",
        help="the least severe log lines shown (default: %(default)s)",
    )


def _token_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], data: argparse.ArgumentParser
) -> None:
    token = commands.add_parser("token", help="make, list and revoke access tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", parents=[data], help="make a token; it is the last line printed"
    )
    create.add_argument("name", help="who or what will use it, e.g. alice or notebook-1")
    create.add_argument(
        "--scope",
        required=True,
        choices=SCOPES,
        help="read: read everything and open event streams; control: also write "
        "properties, start and cancel actions",
    )
    actions.add_parser("list", parents=[data], help="the tokens' names, scopes and dates")
    revoke = actions.add_parser(
        "revoke", parents=[data], help="delete a token; running servers refuse it at once"
    )
    revoke.add_argument("name")


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
