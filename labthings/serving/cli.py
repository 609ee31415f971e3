"""The `labthings` command line: `labthings serve FILE.py:NAME` or `module:NAME`.

A factory target takes options: `labthings serve lab.py:make_labthing --option
stage=/dev/ttyUSB0` or `--config lab.json`, so one file serves simulators by default and
real instruments when told.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labthings.http.labthing import LabThing
from labthings.serving.server import DEFAULT_THREADS, serve

__all__ = ["load_labthing", "main", "read_options"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7485


class TargetError(Exception):
    """The serve target cannot be loaded; the message says why."""


def load_labthing(target: str, options: Mapping[str, Any] | None = None) -> LabThing:
    """The LabThing named by `path/to/file.py:NAME` or `package.module:NAME`.

    NAME defaults to `labthing`. A callable (a factory) is called with `options` as
    keyword arguments to make the LabThing; options given to a LabThing instance are an
    error, since nothing would read them.
    """
    source, _, name = target.partition(":")
    name = name or "labthing"
    if source.endswith(".py") or "/" in source or "\\" in source:
        module = _import_file(Path(source))
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as error:
            raise TargetError(f"cannot import module {source!r}: {error}") from None
    try:
        found = getattr(module, name)
    except AttributeError:
        raise TargetError(f"{source!r} has no attribute {name!r}") from None
    if not isinstance(found, LabThing) and callable(found):
        try:
            found = found(**dict(options or {}))
        except TypeError as error:
            raise TargetError(f"cannot call {target!r} with the options given: {error}") from None
    elif options:
        raise TargetError(
            f"{target!r} is not a factory, so it cannot take options: serve a function that "
            "takes them as keyword arguments and returns a LabThing"
        )
    if not isinstance(found, LabThing):
        raise TargetError(f"{target!r} is a {type(found).__name__}, not a LabThing")
    return found


def read_options(config: str | None, pairs: Sequence[str]) -> dict[str, Any]:
    """Factory options from a JSON config file (an object) and `KEY=VALUE` pairs.

    Pairs win over the file; their values are strings.
    """
    options: dict[str, Any] = {}
    if config is not None:
        try:
            loaded = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise TargetError(f"cannot read the config file {config}: {error}") from None
        if not isinstance(loaded, dict):
            raise TargetError(f"the config file {config} must hold a JSON object")
        options.update(loaded)
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.isidentifier():
            raise TargetError(f"--option takes KEY=VALUE with KEY a Python name, not {pair!r}")
        options[key] = value
    return options


def _import_file(path: Path) -> object:
    if not path.is_file():
        raise TargetError(f"no such file: {path}")
    sys.path.insert(0, str(path.resolve().parent))  # let the file import its neighbours
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labthings", description="Put laboratory instruments on the network."
    )
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
    serve_command.add_argument("--debug", action="store_true", help="log at DEBUG level")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        options = read_options(arguments.config, arguments.option)
        labthing = load_labthing(arguments.target, options)
    except TargetError as error:
        print(f"labthings: {error}", file=sys.stderr)
        return 2
    if arguments.threads < 1:
        print("labthings: --threads must be at least 1", file=sys.stderr)
        return 2
    try:
        serve(labthing, arguments.host, arguments.port, threads=arguments.threads)
    except OSError as error:  # e.g. the port is in use
        print(
            f"labthings: cannot serve on {arguments.host}:{arguments.port}: {error}",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # a Thing failed to open; its traceback is in the log above
        print(f"labthings: could not start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
