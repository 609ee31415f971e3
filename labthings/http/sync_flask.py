"""`SyncFlask`: a Flask app that asks only once whether a view or hook is a coroutine."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from flask import Flask

from labthings.http.responses import WholeBodyResponse

__all__ = ["SyncFlask"]


class SyncFlask(Flask):
    """Flask, remembering which views and hooks are plain functions.

    Flask asks `inspect.iscoroutinefunction` of each view, `before_request`,
    `after_request` and teardown function on every request it calls them for: four to
    six times per request, about a tenth of a property GET's time in the app. This app
    asks once per function (a bound method counts as its class's function) and
    remembers the plain ones; an `async def` view or hook still runs as Flask runs it.

    Its responses are `WholeBodyResponse`s (Flask converts every response a view or
    error handler returns to the app's response class).
    """

    response_class = WholeBodyResponse

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain: set[Callable[..., Any]] = set()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        key = getattr(func, "__func__", func)
        if key in self._plain:
            return func
        if inspect.iscoroutinefunction(func):
            return super().ensure_sync(func)
        self._plain.add(key)
        return func
