"""`LabThing`: the server object that serves several Things over HTTP through Flask."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from flask import Flask

from labthings.core.access.tokens import TokenStore
from labthings.core.datadir import DataDirLock
from labthings.core.describe.introduction import server_description
from labthings.core.describe.openapi import build_openapi
from labthings.core.describe.td import ThingDescriptionBuilder
from labthings.core.errors import ConfigurationError, ThingOpenError
from labthings.core.live.hub import EventHub
from labthings.core.settings import Settings
from labthings.core.tasks import logs as task_logs
from labthings.core.tasks.idempotency import KEYS_FILE, IdempotencyKeys
from labthings.core.tasks.reuse import InvocationReuse
from labthings.core.tasks.runner import TaskRunner
from labthings.core.things.persistence import STATE_FILE, PropertyStore
from labthings.core.things.registry import ThingRegistry
from labthings.core.things.thing import Thing
from labthings.http import auth
from labthings.http.fast_properties import PropertyFastPath
from labthings.http.problems import ErrorStatuses, register_error_handlers
from labthings.http.routes import FEATURE_DOCS, register_routes
from labthings.http.security import Access, RequestChecks, register_security
from labthings.http.services import Services
from labthings.http.sync_flask import SyncFlask

__all__ = ["LabThing"]

_logger = logging.getLogger(__name__)


class LabThing:
    """A labthings server: Things by name, their tasks, and the Flask app serving them.

    Use `LabThing(app)` or `init_app(app)` with your own Flask app, or `create_app()`.
    Add every Thing before the app is built. `open()` (or `with labthing:`) enters every
    Thing, `close()` cancels running tasks and exits them in reverse order; `labthings
    serve` does both.

    Who may use it: `tokens` (a `TokenStore`; once it has a token, every request needs
    one), `cors_origins` (web pages of other origins allowed to use it, like
    `https://notebooks.example.org`) and `allowed_hosts` (names it answers to besides
    IP addresses, `localhost` and the machine's own); see `configure_access`.

    `celery` (a broker URL or a Celery app) sends compute actions to Celery workers;
    see `use_celery`.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        title: str = "labthings",
        description: str = "",
        version: str = "1.0.0",
        settings: Settings | None = None,
        tokens: TokenStore | None = None,
        cors_origins: Iterable[str] = (),
        allowed_hosts: Iterable[str] = (),
        celery: object = None,
        **overrides: Any,
    ) -> None:
        self.title = title
        self.description = description
        self.version = version
        self.settings = (settings or Settings()).with_overrides(overrides)
        self.error_statuses = ErrorStatuses()
        """How exceptions from Things' code map to HTTP statuses (see `register_error`)."""
        task_logs.install()
        self.hub = EventHub(replay=self.settings.event_replay, queue_size=self.settings.event_queue)
        self.registry = ThingRegistry(title, self.hub)
        self.runner = TaskRunner(self.settings, self.hub)
        self._store: PropertyStore | None = None
        self._keys: IdempotencyKeys | None = None
        self._reuse: InvocationReuse | None = None
        self._dir_lock: DataDirLock | None = None
        self._opened: list[Thing] = []
        self._built = False
        self.access: Access
        self.configure_access(tokens=tokens, cors_origins=cors_origins, allowed_hosts=allowed_hosts)
        if celery is not None:
            self.use_celery(celery)
        if app is not None:
            self.init_app(app)

    def add_thing(self, name: str, thing: Thing, *, thing_id: str | None = None) -> Thing:
        """Serve `thing` at `/<name>/`; returns it. `thing_id` sets the TD's `id`.

        The statuses the Thing's class declares in `error_statuses` are registered.
        """
        self.registry.add(name, thing, thing_id)
        for kind, status in type(thing).error_statuses.items():
            self.register_error(kind, status)
        return thing

    def register_error(self, kind: type[Exception], status: int) -> None:
        """Answer requests that fail with `kind` with `status` and the error's message.

        For errors of the libraries that Things wrap, e.g. a driver's timeout as 504.
        """
        self.error_statuses.register(kind, status)

    def configure_access(
        self,
        *,
        tokens: TokenStore | None = None,
        cors_origins: Iterable[str] = (),
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        """Set who may use the server, before its app is built (`labthings serve` does).

        With `tokens`, once the store has a token every request needs one (`Authorization:
        Bearer`); without, none is checked. Writes sent by web pages of other sites are
        refused unless their origin is in `cors_origins`, and requests for a `Host` that
        is not an IP address, `localhost`, the machine's name or in `allowed_hosts` are
        refused (421), whatever the tokens. Raises ConfigurationError for a bad origin or
        host name, or once the app is built.
        """
        if self._built:
            raise ConfigurationError("access cannot be configured after the app has been built")
        self.access = Access.of(tokens, cors_origins, allowed_hosts)

    def use_celery(self, celery: object, *, backend: str | None = None) -> None:
        """Send compute actions (`@action(executor="celery")`) to Celery workers through
        `celery`, a broker URL (results in `backend`, default the broker) or a Celery app,
        before the app is built (`labthings serve --celery-broker URL` does). Without it
        they run in task threads like other actions.

        Raises ConfigurationError if the `celery` extra is not installed, for a bad
        argument, or once the app is built.
        """
        if self._built:
            raise ConfigurationError("Celery cannot be configured after the app has been built")
        try:
            from labthings.celery.executor import CeleryExecutor
        except ModuleNotFoundError as error:
            if error.name not in ("celery", "kombu", "redis"):
                raise
            raise ConfigurationError(
                f"compute actions on Celery need {error.name}: pip install 'labthings[celery]'"
            ) from error
        executor = CeleryExecutor.of(
            celery, backend=backend, lost_after=self.settings.compute_lost_after
        )
        previous = self.runner.executors.get("celery")
        self.runner.executors["celery"] = executor
        if previous is not None:
            previous.close()

    def use_data_dir(self, folder: Path) -> None:
        """Keep the history, `persist=True` property values and Idempotency-Keys in
        `folder`, before the app is built (`labthings serve` does, unless `--ephemeral`).

        Without it they live in memory for this run only. Raises DataDirInUse if another
        server uses the folder, ConfigurationError once the app is built.
        """
        if self._built:
            raise ConfigurationError("the data folder cannot change after the app has been built")
        lock = DataDirLock(folder)
        try:
            runner = TaskRunner(self.settings, self.hub, data_dir=folder)
        except BaseException:
            lock.release()
            raise
        self._dir_lock = lock
        runner.executors.update(self.runner.executors)
        self.runner = runner
        self._store = PropertyStore(folder / STATE_FILE)
        self._keys = self._idempotency_keys(folder / KEYS_FILE)
        self.registry.use_store(self._store)
        if runner.interrupted:
            _logger.warning(
                "%d invocation(s) were still pending or running when the server last "
                "stopped; they are recorded as interrupted",
                runner.interrupted,
            )

    def thing(self, name: str) -> Thing:
        """The Thing served as `name`."""
        return self.registry.get(name).thing

    def init_app(self, app: Flask) -> None:
        """Add labthings' routes to `app`; no Thing can be added afterwards."""
        self._install(app)

    def _install(self, app: Flask) -> tuple[Services, RequestChecks]:
        """`init_app`, giving what the app's requests are served and checked with."""
        if "labthings" in app.extensions:
            raise ConfigurationError("this Flask app already has a LabThing")
        self.registry.freeze()
        self._built = True
        app.config["MAX_CONTENT_LENGTH"] = self.settings.max_body_bytes
        app.extensions["labthings"] = self
        if not task_logs.task_logs_complete():
            _logger.warning(
                "the root logger's level is above INFO, so task logs will miss INFO lines; "
                "set logging.getLogger().setLevel(logging.INFO) to keep them"
            )
        register_error_handlers(app, self.error_statuses)
        checks = register_security(app, self.access)
        secured = self.access.secured
        services = Services(
            registry=self.registry,
            runner=self.runner,
            reuse=self._invocation_reuse(),
            hub=self.hub,
            settings=self.settings,
            index=self.index,
            introduction=self.introduction,
            descriptions={
                entry.name: ThingDescriptionBuilder(entry, secured) for entry in self.registry
            },
            openapi=self._openapi(secured=False),
            secured=secured,
            secured_openapi=(
                self._openapi(secured=True) if self.access.tokens is not None else None
            ),
        )
        register_routes(app, services)
        return services, checks

    def _idempotency_keys(self, path: Path | None) -> IdempotencyKeys:
        return IdempotencyKeys(path, lifetime=self.settings.idempotency_keys_for)

    def _invocation_reuse(self) -> InvocationReuse:
        """The one `InvocationReuse` of this server (made with its first app)."""
        if self._reuse is None:
            if self._keys is None:
                self._keys = self._idempotency_keys(None)
            self._reuse = InvocationReuse(self.runner, self.registry, self._keys)
        return self._reuse

    def _openapi(self, *, secured: bool) -> dict[str, Any]:
        """The OpenAPI document; `secured`: with the bearer scheme, 401 and 403."""
        return build_openapi(
            title=self.title,
            description=self.description,
            version=self.version,
            registry=self.registry,
            settings=self.settings,
            features=FEATURE_DOCS,
            common=[auth.document] if secured else [],
            security_schemes=auth.SECURITY_SCHEMES if secured else None,
        )

    def create_app(self) -> Flask:
        """A new Flask app serving this LabThing."""
        app = SyncFlask("labthings", static_folder=None)
        services, checks = self._install(app)
        # Only in an app of its own: one given to `init_app` may have hooks of its own
        # that plain property requests must pass too.
        app.wsgi_app = PropertyFastPath(  # type: ignore[method-assign]
            app, services, checks, self.error_statuses
        )
        return app

    def index(self, root: str) -> dict[str, Any]:
        """The `GET /` document for a server reached at `root` (ending with '/')."""
        return {
            "title": self.title,
            "description": self.description,
            "things": {
                entry.name: {
                    "title": type(entry.thing).thing_title(),
                    "href": f"{root}{entry.name}/",
                }
                for entry in self.registry
            },
            "links": [
                {"rel": "actions", "href": f"{root}actions"},
                {"rel": "docs", "href": f"{root}docs/"},
                {"rel": "openapi", "href": f"{root}docs/openapi.json"},
                {"rel": "ui", "href": f"{root}ui/"},
                {"rel": "events", "href": f"{root}events"},
            ],
        }

    def introduction(self, root: str) -> dict[str, Any]:
        """The server's own TD (`GET /.well-known/wot`, WoT Discovery) for a server
        reached at `root` (ending with '/'): it links to each Thing's TD."""
        return server_description(
            title=self.title,
            description=self.description,
            things=[(entry.name, type(entry.thing).thing_title()) for entry in self.registry],
            root=root,
            secured=self.access.secured(),
        )

    def open(self) -> None:
        """Enter every Thing in the order added; on a failure, exit those already entered.

        Saved `persist=True` values are restored first (a value that no longer fits its
        declaration is logged and the default kept). A Thing whose `__enter__` raises
        makes this raise ThingOpenError naming it. Then the remote jobs of the last run
        that had not ended are checked again.
        """
        for problem in self.registry.restore():
            _logger.warning("%s", problem)
        for entry in self.registry:
            try:
                entry.thing.__enter__()
            except Exception as error:
                self.close()
                raise ThingOpenError(entry.name, error) from error
            except BaseException:
                self.close()
                raise
            self._opened.append(entry.thing)
        resumed = self.runner.resume_remote_jobs(self.registry)
        if resumed:
            _logger.info("checking %d remote job(s) again, from where they were", resumed)

    def close(self) -> None:
        """Cancel unfinished tasks and wait for them (up to `shutdown_wait` from the first
        shutdown), end the event streams once watchers have every final record, exit the
        Things in reverse order, and let go of the data folder."""
        stuck = self.runner.shutdown(self.settings.shutdown_wait)
        for task in stuck:
            _logger.warning(
                "%s was still running at the shutdown deadline; closing its Thing anyway",
                task.holder_description,
            )
        self.runner.close_executors()
        self.hub.close()
        while self._opened:
            thing = self._opened.pop()
            try:
                thing.__exit__(None, None, None)
            except Exception:
                _logger.exception("thing %r failed to close", type(thing).__name__)
        if self._keys is not None:
            self._keys.close()
        if self._dir_lock is not None:
            self.runner.close()
            if self._store is not None:
                self._store.close()
            self._dir_lock.release()

    def __enter__(self) -> LabThing:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
