"""Find the LabThing that `labthings serve TARGET` names, and the options of a factory.

A target is `path/to/file.py:NAME` or `package.module:NAME`; NAME is a LabThing or a
function (a factory) that returns one, called with options from `--config lab.json` and
`--option KEY=VALUE`, so one file serves simulators by default and real instruments when
told.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Flask

from labthings.core.errors import ConfigurationError
from labthings.core.things.thing import Thing
from labthings.http.labthing import LabThing

__all__ = ["TargetError", "import_target", "load_labthing", "read_options"]

DEFAULT_NAME = "labthing"
_NEEDED = "serve a LabThing instance, or a function that returns one"


class TargetError(Exception):
    """The serve target cannot be served as written; the message says why in one line.

    When the target's own code raised the error behind it, that error is the `__cause__`.
    """


def load_labthing(target: str, options: Mapping[str, Any] | None = None) -> LabThing:
    """The LabThing named by `path/to/file.py:NAME` or `package.module:NAME`.

    NAME defaults to `labthing`. A callable (a factory) is called with `options` as
    keyword arguments to make the LabThing; options given to a LabThing instance are an
    error, since nothing would read them.

    Raises `TargetError` if the target is missing or not a LabThing, or if its code fails
    to import or declares a Thing wrongly (`ConfigurationError`). Any other error from the
    target's code (say, a factory that cannot open its serial port) propagates as it is.
    """
    source, _, name = target.partition(":")
    name = name or DEFAULT_NAME
    target = f"{source}:{name}"
    with _declaration_errors(target):
        module = _import(source)
    if not hasattr(module, name):
        raise TargetError(f"{source} has no attribute {name!r}")
    found = getattr(module, name)
    if isinstance(found, LabThing):
        if options:
            raise TargetError(
                f"{target} is not a factory, so it cannot take options: serve a function "
                "that takes them as keyword arguments and returns a LabThing"
            )
        return found
    if not _is_factory(found):
        raise TargetError(_not_a_labthing(target, _noun(found), found))
    with _declaration_errors(target):
        try:
            made = found(**dict(options or {}))
        except TypeError as error:
            raise TargetError(f"cannot call {target} with the options given: {error}") from error
    if not isinstance(made, LabThing):
        raise TargetError(_not_a_labthing(target, f"a function returning {_noun(made)}", made))
    return made


def import_target(target: str) -> ModuleType:
    """Import the module of `path/to/file.py[:NAME]` or `package.module[:NAME]` as
    `load_labthing` does (under the same name), without making anything from it; a
    compute worker loads the Thing classes of the server it works for this way.

    Raises `TargetError` if it cannot be imported or declares a Thing wrongly.
    """
    source = target.partition(":")[0]
    with _declaration_errors(target):
        return _import(source)


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


@contextlib.contextmanager
def _declaration_errors(target: str) -> Iterator[None]:
    """Turn errors meaning the target's code cannot be served as written into TargetError."""
    try:
        yield
    except ConfigurationError as error:  # its message names the Thing, affordance and fix
        raise TargetError(f"cannot serve {target}: {error}") from error
    except (ImportError, SyntaxError) as error:
        raise TargetError(f"cannot serve {target}: {type(error).__name__}: {error}") from error


def _import(source: str) -> ModuleType:
    """The module a target names: a file if `source` looks like a path, else a module."""
    if source.endswith(".py") or "/" in source or "\\" in source:
        return _import_file(Path(source))
    try:
        return importlib.import_module(source)
    except ImportError as error:
        raise TargetError(f"cannot import module {source!r}: {error}") from error


def _import_file(path: Path) -> ModuleType:
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


def _is_factory(found: object) -> bool:
    """True for what may be called to make a LabThing: a function, or a LabThing class.

    A Flask app is callable too, but as a WSGI application, and other classes make
    other things.
    """
    if isinstance(found, type):
        return issubclass(found, LabThing)
    return callable(found) and not isinstance(found, Flask)


def _noun(value: object) -> str:
    """What `value` is, with its article: "None", "an int", "a Flask app", "the class X"."""
    if value is None:
        return "None"
    if isinstance(value, Flask):
        return "a Flask app"
    if isinstance(value, type):
        return f"the class {value.__name__}"
    kind = type(value).__name__
    return f"{'an' if kind[0].lower() in 'aeiou' else 'a'} {kind}"


def _not_a_labthing(target: str, what: str, value: object) -> str:
    is_thing = isinstance(value, Thing) or (isinstance(value, type) and issubclass(value, Thing))
    hint = " (a Thing is served by adding it to a LabThing with add_thing())" if is_thing else ""
    return f"{target} is {what}, not a LabThing{hint}; {_NEEDED}"
