"""The Celery app that servers and workers share, and how a task names its action.

Both sides build their app with `celery_app(broker, backend)`, so they agree on the
serializer (JSON only), the task's name and the bounds that keep a broker that is down
from hanging anyone. A task carries no code: it names a compute action by its Thing
class's module and qualified name (`ActionRef`), and a worker runs only actions so
declared, of modules it has loaded itself.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, TypedDict

from celery import Celery

from labthings.core.errors import ConfigurationError
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.thing import Thing

__all__ = ["TASK_NAME", "ActionRef", "action_ref", "celery_app", "resolve"]

TASK_NAME = "labthings.compute"
"""The one Celery task of labthings: run the compute action a message names."""

CONNECT_TIMEOUT = 3.0
"""Seconds to connect to the broker or result backend before giving up."""
SOCKET_TIMEOUT = 10.0
"""Seconds a broker or result backend that is connected may take to answer."""


def celery_app(broker: str, backend: str | None = None) -> Celery:
    """A Celery app for labthings' compute actions on `broker`, with its results in
    `backend` (default: the broker, which suits Redis)."""
    app = Celery("labthings", broker=broker, backend=backend or broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # One message per worker process at a time: a queued invocation stays in the
        # queue (and `pending`) until a process is free, rather than waiting behind a
        # long one in a busy process's prefetch.
        worker_prefetch_multiplier=1,
        # Acknowledged when it starts: a worker killed mid-task does not run it again
        # (the invocation ends in `error`, see executor.py).
        task_acks_late=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=CONNECT_TIMEOUT,
        broker_transport_options={
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": SOCKET_TIMEOUT,
        },
        redis_socket_connect_timeout=CONNECT_TIMEOUT,
        redis_socket_timeout=SOCKET_TIMEOUT,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0.0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    )
    return app


class ActionRef(TypedDict):
    """A compute action, as a task names it: `module:qualname` of the Thing class and
    the action's name (`thing` names the served Thing, for messages)."""

    module: str
    qualname: str
    action: str
    thing: str


def action_ref(thing_class: type, action: str, served_as: str) -> ActionRef:
    """How a worker will find `action` of `thing_class`; ConfigurationError if a worker
    could not import the class (defined in `__main__` or inside a function)."""
    module, qualname = thing_class.__module__, thing_class.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise ConfigurationError(
            f"{thing_class.__name__}.{action} is a compute action, so a Celery worker must "
            f"import {thing_class.__name__}: define it at the top level of a module the "
            "worker loads (not in __main__ or inside a function)"
        )
    return {"module": module, "qualname": qualname, "action": action, "thing": served_as}


def resolve(ref: Any) -> tuple[type[Thing], ActionAffordance]:
    """The Thing class and compute action that `ref` names, among the modules this
    process has loaded; LookupError saying why if there is none."""
    try:
        module_name, qualname, name = ref["module"], ref["qualname"], ref["action"]
    except (TypeError, KeyError):
        raise LookupError(f"the task names no action: {ref!r}") from None
    module = sys.modules.get(str(module_name))
    if module is None:
        raise LookupError(
            f"this worker has not loaded the module {module_name!r}: start it with "
            f"`labthings worker ... TARGET` naming the file or module that defines "
            f"{qualname}"
        )
    try:
        found = functools.reduce(getattr, str(qualname).split("."), module)
    except AttributeError:
        found = None
    if not (isinstance(found, type) and issubclass(found, Thing)):
        raise LookupError(f"{module_name} has no Thing class {qualname!r}")
    affordance = found.affordance(str(name), ActionAffordance)
    if affordance is None or affordance.executor != "celery":
        raise LookupError(f"{qualname} has no compute action {name!r}")
    return found, affordance
