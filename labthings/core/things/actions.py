"""The `@action` decorator: a Thing method that clients start over HTTP as a task.

The decorator only records metadata (the argument schema from the signature, the output
field from the return annotation, and the options); the task runner and the document
builders read it. Calling the method from Python stays an ordinary method call.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from types import MethodType
from typing import Any, overload

import marshmallow
from marshmallow import Schema, fields

from labthings.core.describe.types import field_for_hint, schema_for_fields
from labthings.core.errors import ConfigurationError, ValidationError
from labthings.core.jsonvalues import describe_json_type, flatten_errors
from labthings.core.tasks.remote_job import RemoteJob
from labthings.core.things.affordance import Affordance, dump_value, qualified_name
from labthings.core.things.blob import Blob

__all__ = ["EXECUTORS", "ActionAffordance", "action"]

ActionFunction = Callable[..., Any]

EXECUTORS = ("thread", "celery")
"""Where an action can run: `thread` (a task thread of the server, the default) or
`celery` (a compute action, sent to Celery workers when the server has Celery configured;
see `labthings.celery`)."""


class ActionAffordance(Affordance):
    """Metadata of one action, and a descriptor that binds it like a method.

    `wait` is how long a POST waits for the task before answering (seconds); `lock`
    says whether the task takes its Thing's instrument lock; `safe` and `idempotent`
    are published in the Thing Description. `dedupe` hands a POST whose input equals
    that of a pending or running invocation that invocation; `cache_for` (seconds, 0
    for never) hands back one with the same input that completed less than that ago.
    `synchronous` (the TD's member) says which invokeaction form the TD lists first:
    True, the one whose POST answers with the output once the action ends (what generic
    WoT consumers can use); False, for actions longer than an HTTP request should wait,
    the one answering at once with an invocation record to follow.
    `executor` says where it runs (one of `EXECUTORS`); a compute action (not "thread")
    needs no instrument, so it takes no instrument lock.
    """

    kind = "action"

    def __init__(
        self,
        func: ActionFunction,
        *,
        wait: float = 1.0,
        lock: bool | None = None,
        safe: bool = False,
        idempotent: bool = False,
        dedupe: bool = False,
        cache_for: float = 0.0,
        synchronous: bool = True,
        executor: str = "thread",
        title: str | None = None,
        description: str | None = None,
    ) -> None:
        _check_executor(func, executor, lock)
        if wait < 0:
            raise ConfigurationError(f"action {qualified_name(func)!r}: wait must be >= 0")
        if (
            isinstance(cache_for, bool)
            or not isinstance(cache_for, (int, float))
            or not 0 <= cache_for < float("inf")
        ):
            raise ConfigurationError(
                f"action {qualified_name(func)!r}: cache_for must be a number of seconds >= 0"
            )
        super().__init__(
            name=func.__name__,
            title=title,
            description=description or inspect.getdoc(func) or "",
        )
        self.func = func
        self.wait = float(wait)
        self.executor = executor
        self.lock = executor == "thread" if lock is None else lock
        self.safe = safe
        self.idempotent = idempotent
        self.dedupe = dedupe
        self.cache_for = float(cache_for)
        self.synchronous = synchronous
        self.input_fields, self.output_field = _fields_from_signature(func, executor)
        self.input_schema: Schema = schema_for_fields(
            f"{_camel(self.name)}Input", self.input_fields
        )

    @overload
    def __get__(self, instance: None, owner: type) -> ActionAffordance: ...
    @overload
    def __get__(self, instance: object, owner: type) -> MethodType: ...
    def __get__(self, instance: object | None, owner: type) -> ActionAffordance | MethodType:
        if instance is None:
            return self
        return MethodType(self.func, instance)

    def validate_input(self, body: Any) -> dict[str, Any]:
        """The arguments to call the method with, or `ValidationError` naming each bad one.

        A JSON `null` body means no arguments, as `{}` does (WoT clients send it for an
        action without input).
        """
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise ValidationError(
                "the request body must be a JSON object of arguments",
                {"_schema": [f"expected a JSON object, got {describe_json_type(body)}"]},
            )
        try:
            loaded: dict[str, Any] = self.input_schema.load(body)
        except marshmallow.ValidationError as error:
            raise ValidationError(
                f"invalid arguments for action {self.name!r}", flatten_errors(error.messages)
            ) from None
        return loaded

    def dump_input(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The validated arguments as JSON values, for the invocation record."""
        dumped: dict[str, Any] = self.input_schema.dump(arguments)
        return dumped

    def dump_output(self, value: Any) -> Any:
        """The return value as a JSON value; raises `TypeError`/`ValueError` if it is not one."""
        if isinstance(value, Blob):
            return value  # stored as a file by the runner, not sent as JSON
        return dump_value(self.output_field, "output", value)


@overload
def action(func: ActionFunction) -> ActionAffordance: ...
@overload
def action(
    *,
    wait: float = 1.0,
    lock: bool | None = None,
    safe: bool = False,
    idempotent: bool = False,
    dedupe: bool = False,
    cache_for: float = 0.0,
    synchronous: bool = True,
    executor: str = "thread",
    title: str | None = None,
    description: str | None = None,
) -> Callable[[ActionFunction], ActionAffordance]: ...
def action(
    func: ActionFunction | None = None, **options: Any
) -> ActionAffordance | Callable[[ActionFunction], ActionAffordance]:
    """Declare a Thing method as an action, bare (`@action`) or with options.

    Options: `wait` (seconds a POST waits for the result, default 1), `lock` (take the
    Thing's instrument lock while running, default True), `safe`, `idempotent`,
    `dedupe` (a POST with the input of a pending or running invocation gets that one),
    `cache_for` (seconds: a POST with the input of one completed less than that ago
    gets it back without running), `synchronous` (default True: the TD offers the POST
    that answers with the output first; False for actions that take minutes), `executor`
    ("thread", or "celery" for a compute action that runs on Celery workers when the
    server has Celery configured, without the instrument lock), `title`, `description`
    (default: the docstring).
    """
    if func is not None:
        return ActionAffordance(func, **options)

    def decorate(method: ActionFunction) -> ActionAffordance:
        return ActionAffordance(method, **options)

    return decorate


def _check_executor(func: ActionFunction, executor: str, lock: bool | None) -> None:
    """ConfigurationError for an unknown executor, or a compute action taking the lock."""
    where = f"action {qualified_name(func)!r}"
    if executor not in EXECUTORS:
        raise ConfigurationError(
            f"{where}: unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}"
        )
    if executor != "thread" and lock:
        raise ConfigurationError(
            f"{where}: a compute action (executor={executor!r}) runs away from the "
            "instrument, so it cannot take the instrument lock; drop lock=True"
        )


def _fields_from_signature(
    func: ActionFunction, executor: str = "thread"
) -> tuple[dict[str, fields.Field], fields.Field | None]:
    """Argument fields (required unless defaulted) and the output field of `func`."""
    where = f"action {qualified_name(func)!r}"
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except NameError as error:
        raise ConfigurationError(f"{where}: {error}") from None
    parameters = list(inspect.signature(func).parameters.values())[1:]  # skip self
    declared: dict[str, fields.Field] = {}
    for parameter in parameters:
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise ConfigurationError(f"{where}: *args and **kwargs cannot be sent over HTTP")
        hint = hints.get(parameter.name, Any)
        options: dict[str, Any] = {"required": parameter.default is parameter.empty}
        if parameter.default is not parameter.empty:
            options["load_default"] = parameter.default
            if parameter.default is None:
                options["allow_none"] = True
        try:
            declared[parameter.name] = field_for_hint(hint, **options)
        except ConfigurationError as error:
            raise ConfigurationError(f"{where}, argument {parameter.name!r}: {error}") from None
    output = None
    returns = hints.get("return", type(None))
    if executor != "thread" and (
        returns in (Blob, RemoteJob) or typing.get_origin(returns) is RemoteJob
    ):
        raise ConfigurationError(
            f"{where}, return value: a compute action (executor={executor!r}) returns "
            "JSON values, not a Blob or a RemoteJob"
        )
    if typing.get_origin(returns) is RemoteJob:  # the job's output is the action's
        returns = typing.get_args(returns)[0]
    if returns is not type(None) and returns is not RemoteJob:
        try:
            output = field_for_hint(returns)
        except ConfigurationError as error:
            binary = returns in (bytes, bytearray) and executor == "thread"
            fix = _BLOB_FIX if binary else ""
            raise ConfigurationError(f"{where}, return value: {error}{fix}") from None
    return declared, output


_BLOB_FIX = (
    "; for binary data (an image, a file), annotate the return -> Blob and return"
    ' Blob(data, "image/png")'
)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))
