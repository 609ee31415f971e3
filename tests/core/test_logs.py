"""Per-task logs: INFO and above from any logger land in the task, the app's config holds.

The fixtures set logging up as `labthings serve` does: the root logger at INFO (so INFO
records are made), and the console handler at the level the user asked for (WARNING).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from core_helpers import WAIT, finish, invoke, serve, start_task

from labthings import Thing, action, cancellable_sleep
from labthings.core.settings import Settings
from labthings.core.tasks import logs as task_logs
from labthings.core.tasks.runner import TaskRunner


class ListHandler(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@pytest.fixture
def root_handler() -> Iterator[ListHandler]:
    """The console: a WARNING handler on the root logger, with the root at INFO."""
    task_logs.install()
    root = logging.getLogger()
    level = root.level
    handler = ListHandler(logging.WARNING)
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def new_logger() -> Iterator[Callable[[str], logging.Logger]]:
    """Loggers with unique names; their handlers and levels are reset afterwards."""
    made: list[logging.Logger] = []

    def make(prefix: str) -> logging.Logger:
        logger = logging.getLogger(f"{prefix}.{uuid.uuid4().hex}")
        made.append(logger)
        return logger

    yield make
    for logger in made:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.disabled = False


def task_messages(record: dict[str, Any]) -> list[str]:
    return [entry["message"] for entry in record["log"]]


# -- capture ---------------------------------------------------------------------------


def test_info_from_any_logger_lands_in_the_task_log(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    module_logger = new_logger("instrument")
    library = new_logger("somelib")
    library.addHandler(logging.NullHandler())  # what a library does
    quiet = new_logger("quietlib")
    quiet.setLevel(logging.WARNING)  # a library that sets its own level: obeyed

    def work() -> None:
        module_logger.info("moving to %d", 5)
        library.info("library says hi")
        quiet.info("quiet library says hi")
        logging.getLogger(f"brand.new.{uuid.uuid4().hex}").info("made inside the task")
        logging.info("through the root logger")

    record = finish(start_task(work))
    assert task_messages(record) == [
        "moving to 5",
        "library says hi",
        "made inside the task",
        "through the root logger",
    ]
    assert root_handler.records == []  # the console is at WARNING: nothing leaks out


def test_the_applications_logging_config_is_respected(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    chatty = new_logger("chatty")
    chatty.setLevel(logging.DEBUG)  # configured by the app to pass everything on
    own = ListHandler()
    chatty.addHandler(own)
    plain = new_logger("plain")

    def work() -> None:
        chatty.debug("debug detail")
        chatty.info("chatty info")
        plain.info("plain info")
        plain.warning("plain warning")

    record = finish(start_task(work))
    assert task_messages(record) == ["chatty info", "plain info", "plain warning"]
    assert own.messages() == ["debug detail", "chatty info"]
    assert root_handler.messages() == ["plain warning"]


def test_warnings_and_errors_still_reach_the_usual_handlers(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    logger = new_logger("instrument")

    def work() -> None:
        logger.warning("too hot")
        logger.error("overheated")

    record = finish(start_task(work))
    assert task_messages(record) == ["too hot", "overheated"]
    assert root_handler.messages() == ["too hot", "overheated"]


def test_debug_is_not_in_the_task_log(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    logger = new_logger("instrument")
    record = finish(start_task(lambda: logger.debug("detail")))
    assert record["log"] == []
    assert root_handler.records == []


def test_records_outside_tasks_are_unaffected(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    logger = new_logger("instrument")
    logger.info("not shown")
    logger.warning("shown")
    assert root_handler.messages() == ["shown"]


def test_a_program_without_logging_config_still_prints_warnings(
    new_logger: Callable[[str], logging.Logger], capsys: pytest.CaptureFixture[str]
) -> None:
    # With the task-log handler as the only one on its way, a warning outside any task
    # goes to Python's last-resort handler (stderr), as if the handler were not there.
    logger = new_logger("unconfigured")
    logger.propagate = False
    logger.addHandler(task_logs.TaskLogHandler())
    logger.warning("still printed")
    logger.info("below the last resort's level")
    assert capsys.readouterr().err == "still printed\n"


def test_each_task_gets_only_its_own_records(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    logger = new_logger("instrument")
    barrier = threading.Barrier(4, timeout=WAIT)

    def work() -> None:
        barrier.wait()
        for step in range(20):
            logger.info("step %d", step)
        barrier.wait()

    tasks = [start_task(work) for _ in range(4)]
    for task in tasks:
        record = finish(task)
        assert task_messages(record) == [f"step {step}" for step in range(20)]


def test_a_log_entry_has_level_message_time_and_logger(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    logger = new_logger("instrument")
    record = finish(start_task(lambda: logger.warning("at %s", "home")))
    (entry,) = record["log"]
    assert entry["levelname"] == "WARNING" and entry["levelno"] == logging.WARNING
    assert entry["message"] == "at home"
    assert entry["logger"] == logger.name
    assert entry["created"].endswith("+00:00")


def test_an_action_that_fails_has_the_failure_in_its_log_without_a_traceback(
    root_handler: ListHandler,
) -> None:
    def work() -> None:
        raise RuntimeError("motor stalled")

    task = start_task(work)
    record = finish(task)
    messages = task_messages(record)
    assert any("failed" in message and task.id in message for message in messages)
    assert all("Traceback" not in message for message in messages)
    assert any(r.levelno == logging.ERROR and r.exc_info for r in root_handler.records)


def test_a_disabled_logger_and_logging_disable_are_obeyed(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    silenced = new_logger("silenced")
    silenced.disabled = True
    logger = new_logger("instrument")

    def work() -> None:
        silenced.warning("from a disabled logger")
        logging.disable(logging.INFO)
        try:
            logger.info("disabled level")
            logger.warning("still enabled")
        finally:
            logging.disable(logging.NOTSET)

    record = finish(start_task(work))
    assert task_messages(record) == ["still enabled"]
    assert root_handler.messages() == ["still enabled"]


# -- bounds ----------------------------------------------------------------------------


def test_the_task_log_keeps_only_the_newest_entries(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    logger = new_logger("instrument")

    def work() -> None:
        for line in range(25):
            logger.info("line %d", line)

    record = finish(start_task(work, log_limit=10))
    assert task_messages(record) == [f"line {line}" for line in range(15, 25)]


class Noisy(Thing):
    @action
    def chatter(self, lines: int) -> None:
        for line in range(lines):
            logging.getLogger("noisy").info("line %d", line)


def test_the_runner_bounds_task_logs_by_its_setting(
    root_handler: ListHandler, make_runner: Callable[..., TaskRunner]
) -> None:
    runner = make_runner(task_log_max=3)
    record = finish(invoke(runner, serve(Noisy()), "chatter", {"lines": 7}))
    assert task_messages(record) == ["line 4", "line 5", "line 6"]


# -- installed once per process --------------------------------------------------------


def all_handlers() -> dict[str, list[logging.Handler]]:
    loggers: dict[str, Any] = dict(logging.Logger.manager.loggerDict)
    found = {
        name: list(logger.handlers)
        for name, logger in loggers.items()
        if isinstance(logger, logging.Logger)
    }
    found["<root>"] = list(logging.getLogger().handlers)
    return found


def test_install_adds_one_handler_once_and_patches_nothing(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    handlers_before = all_handlers()
    methods_before = dict(vars(logging.Logger))

    for _ in range(20):
        task_logs.install()
    runners = [TaskRunner(Settings()) for _ in range(20)]
    installers = [threading.Thread(target=task_logs.install) for _ in range(8)]
    for thread in installers:
        thread.start()
    for thread in installers:
        thread.join(WAIT)

    assert all_handlers() == handlers_before  # the fixture installed it already
    task_handlers = [
        h for h in logging.getLogger().handlers if isinstance(h, task_logs.TaskLogHandler)
    ]
    assert len(task_handlers) == 1
    assert dict(vars(logging.Logger)) == methods_before
    assert all(
        method.__module__ == "logging" for method in methods_before.values() if callable(method)
    )

    logger = new_logger("instrument")
    entry = serve(Noisy())
    record = finish(invoke(runners[-1], entry, "chatter", {"lines": 1}))
    task = start_task(lambda: logger.warning("once"))
    assert task_messages(record) == ["line 0"]
    assert task_messages(finish(task)) == ["once"]
    assert root_handler.messages() == ["once"]  # not doubled
    for runner in runners:
        assert runner.shutdown(WAIT) == []


def test_logging_keeps_working_while_tasks_run_in_many_threads(
    root_handler: ListHandler, new_logger: Callable[[str], logging.Logger]
) -> None:
    logger = new_logger("instrument")
    stop = threading.Event()

    def outside() -> None:
        while not stop.is_set():
            logger.info("outside")

    def work() -> None:
        for _ in range(200):
            logger.info("inside")
        cancellable_sleep(0)

    background = threading.Thread(target=outside)
    background.start()
    try:
        tasks = [start_task(work) for _ in range(5)]
        records = [finish(task) for task in tasks]
    finally:
        stop.set()
        background.join(WAIT)
    assert all(task_messages(record) == ["inside"] * 200 for record in records)
    assert root_handler.records == []
