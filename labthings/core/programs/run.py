"""`run_program`: an external program run as (part of) an action, and `program_folder`."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labthings.core.errors import ProgramFailed, ProgramNotFound, TaskCancelled
from labthings.core.programs.folders import WorkFolders
from labthings.core.programs.lines import Line, LineReader, Stream
from labthings.core.programs.orphans import ProgramRecord
from labthings.core.programs.progress import Progress, match_percent, read_status_file
from labthings.core.programs.tree import ProcessTree
from labthings.core.settings import Settings
from labthings.core.tasks.action_api import update_task_progress
from labthings.core.tasks.thread import TaskThread, current_task

__all__ = ["program_folder", "run_program"]

OUTPUT_LIMIT = 1_000_000
"""Characters of standard output kept as the result of a program without a result file."""
_TICK_S = 0.05  # the longest a cancel or an exit goes unnoticed
_DRAIN_S = 5.0  # how long output still arriving after the end is waited for
_LEVELS = {Stream.STDOUT: logging.INFO, Stream.STDERR: logging.WARNING}
_INTERPRETER = re.compile(r"(python|pythonw|py|rscript|julia|node|perl|ruby|sh|bash|pwsh)[\d.]*")

_logger = logging.getLogger(__name__)
_fallback_lock = threading.Lock()
_fallback: WorkFolders | None = None


def program_folder() -> Path:
    """The working folder of the calling invocation, made on first use.

    Inside an action served by a LabThing it is `<data dir>/programs/<invocation id>/`
    (a temporary folder for an `--ephemeral` server), kept after the invocation for the
    `program_folder_keep` setting's time; every call of one invocation gets the same
    folder. Elsewhere (a TaskThread without a runner, or outside any task) each call
    gets a new temporary folder, removed when the process exits.
    """
    task = current_task()
    folders = _folders_of(task)
    return folders.folder(task.id if task is not None else uuid.uuid4().hex)


def _folders_of(task: TaskThread | None) -> WorkFolders:
    if task is not None and task.work_folders is not None:
        return task.work_folders
    global _fallback
    with _fallback_lock:
        if _fallback is None:
            _fallback = WorkFolders(None, Settings().program_folder_keep)
        return _fallback


def run_program(
    args: Sequence[str | os.PathLike[str]],
    *,
    status_file: str | os.PathLike[str] | None = None,
    progress_pattern: str | re.Pattern[str] | None = None,
    result_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    grace: float = 5.0,
    folder: Path | None = None,
    name: str | None = None,
    poll_interval: float = 0.2,
    error_lines: int = 10,
    encoding: str = "utf-8",
) -> Any:
    """Run `args` (a program and its arguments; no shell) to its end and return its result.

    It runs in `folder`, by default the invocation's own working folder
    (`program_folder()`), with the server's environment plus `env` (and
    `PYTHONUNBUFFERED=1`, so that Python programs' lines arrive as they are printed).
    A program named by a relative path is found from the server's working directory,
    a bare name on PATH; the other arguments reach it as they are, and it runs in its
    folder, so paths among them should be absolute.

    While it runs, each line of its standard output goes to the task log at INFO and
    each line of its error output at WARNING, as they come. Progress is taken from
    `status_file` (relative to the folder), read every `poll_interval` s, whose first
    line the program rewrites as a number from 0 to 100, optionally followed by a
    message ("40 fitting"); and from output lines matching `progress_pattern`, whose
    first group (or whole match) is that number. Contents that are no such number
    (a half-written file) are ignored. Any status and result file left in the folder
    by an earlier run are removed before it starts.

    Returns the content of `result_file` (relative to the folder) once the program
    exits with 0: decoded JSON if its name ends in `.json`, else its text. Without a
    `result_file`, its standard output (the first `OUTPUT_LIMIT` characters).

    Raises `ProgramNotFound` if the program does not exist (or is not executable), and
    `ProgramFailed` if it cannot be started, for a non-zero exit (the message names the
    code and quotes the last `error_lines` lines of error output), a run longer than
    `timeout` s, or a missing or malformed result file. When the invocation is
    cancelled, or the calling thread stops for any reason, the program and every process
    it started are stopped: asked politely (SIGTERM to its process group; CTRL_BREAK_EVENT
    on Windows), then killed after `grace` s; cancelling then raises `TaskCancelled`.

    Log lines and errors name the program `name`: by default the file name (without
    suffix) of the program, or of the script an interpreter (python, Rscript, ...) runs.
    The lines are logged by the logger `labthings.program.<name>`.
    """
    if not args:
        raise ValueError("run_program needs at least the program to run")
    arguments = [os.fspath(arg) for arg in args]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    arguments[0] = _find(arguments[0], environment.get("PATH"))
    work = folder if folder is not None else program_folder()
    status = None if status_file is None else work / status_file
    result = None if result_file is None else work / result_file
    for stale in (status, result):
        if stale is not None:
            stale.unlink(missing_ok=True)
    pattern = None if progress_pattern is None else re.compile(progress_pattern)
    run = _ProgramRun(name or _name_of(arguments), status, pattern, error_lines, poll_interval)
    code = run.run(arguments, work, environment, encoding, timeout, grace)
    if code != 0:
        raise ProgramFailed(run.failure(code), returncode=code, stderr_tail=run.stderr_tail)
    if result is None:
        return run.output
    return _read_result(run.name, result)


def _name_of(args: Sequence[str]) -> str:
    """The program's file name without suffix, or that of the script an interpreter runs."""
    program = Path(args[0]).stem
    if _INTERPRETER.fullmatch(program.lower()) and len(args) > 1 and args[1][:1] != "-":
        return Path(args[1]).stem
    return program


def _find(program: str, path: str | None) -> str:
    """The executable file `program` names: a path, or a bare name looked up on PATH."""
    if os.path.dirname(program):
        found = shutil.which(os.path.abspath(program))
        where = "no executable file at that path"
    else:
        found = shutil.which(program, path=path)
        where = "no executable file of that name on PATH"
    if found is None:
        raise ProgramNotFound(f"program {program!r} was not found: {where}")
    return found


def _read_result(name: str, path: Path) -> Any:
    """The content of a result file: JSON if it is named `*.json`, else text."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ProgramFailed(
            f"program {name!r} exited with code 0 but wrote no result file {path.name!r}",
            returncode=0,
        ) from None
    if path.suffix.lower() != ".json":
        return text
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        raise ProgramFailed(
            f"program {name!r} wrote a result file {path.name!r} that is not strict JSON: {error}",
            returncode=0,
        ) from None


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


class _ProgramRun:
    """One run of a program: follows its output and progress until it ends."""

    def __init__(
        self,
        name: str,
        status: Path | None,
        pattern: re.Pattern[str] | None,
        error_lines: int,
        poll_interval: float,
    ) -> None:
        self.name = name
        self._status = status
        self._pattern = pattern
        self._poll_interval = poll_interval
        self._lines = logging.getLogger(f"labthings.program.{name.replace('.', '_')}")
        self._tail: deque[str] = deque(maxlen=max(0, error_lines))
        self._output: list[str] = []
        self._output_size = 0
        self._progress: Progress | None = None

    @property
    def stderr_tail(self) -> list[str]:
        """The last lines of the program's error output."""
        return list(self._tail)

    @property
    def output(self) -> str:
        """The program's standard output (its lines, joined by newlines)."""
        return "\n".join(self._output)

    def failure(self, code: int) -> str:
        """The message of a failed exit with `code`."""
        how = f"exited with code {code}"
        if code < 0 and sys.platform != "win32":
            try:
                how = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                pass
        if not self._tail:
            return f"program {self.name!r} {how}; it wrote no error output"
        lines = "\n".join(self._tail)
        return f"program {self.name!r} {how}; the last lines of its error output:\n{lines}"

    def run(
        self,
        args: list[str],
        folder: Path,
        env: Mapping[str, str],
        encoding: str,
        timeout: float | None,
        grace: float,
    ) -> int:
        """Start the program, follow it to its end and return its exit code.

        Whatever ends this call (an exit, a cancel, a timeout, an exception), the
        process tree is stopped before it returns.
        """
        try:
            tree = ProcessTree.start(args, folder, env, encoding)
        except FileNotFoundError:
            raise ProgramNotFound(f"program {args[0]!r} was not found") from None
        except OSError as error:
            raise ProgramFailed(
                f"program {args[0]!r} could not be started: {error.strerror or error}"
            ) from None
        _logger.info("started %s (process %d) in %s", _quoted(args), tree.pid, folder)
        record = ProgramRecord.write(folder, tree.pid, self.name, args)
        reader = LineReader(tree.stdout, tree.stderr, f"labthings-program-{tree.pid}")
        started = time.monotonic()
        try:
            code = self._follow(tree, reader, timeout, grace)
        finally:
            self._stop(tree, grace)
            if record is not None and not tree.running():
                record.unlink(missing_ok=True)  # kept for the next start, if it still runs
            reader.discard()
            tree.release(close_pipes=reader.join(_DRAIN_S))
            _touch(folder)  # its time to be kept starts now
        _logger.info(
            "program %r ended with code %d after %.1f s",
            self.name,
            code,
            time.monotonic() - started,
        )
        return code

    def _follow(
        self, tree: ProcessTree, reader: LineReader, timeout: float | None, grace: float
    ) -> int:
        """Take lines and progress until the program exits; its exit code."""
        task = current_task()
        deadline = None if timeout is None else time.monotonic() + timeout
        next_poll = time.monotonic()
        while (code := tree.exit_code()) is None:
            if task is not None and task.cancel_requested:
                _logger.info("stopping program %r: the invocation was cancelled", self.name)
                self._stop(tree, grace)
                raise TaskCancelled(f"invocation {task.id} was cancelled")
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self._stop(tree, grace)
                raise ProgramFailed(
                    f"program {self.name!r} did not finish within {timeout} s and was stopped",
                    returncode=None,
                    stderr_tail=self.stderr_tail,
                )
            if now >= next_poll:
                self._read_status()
                next_poll = now + self._poll_interval
            for line in reader.lines(min(_TICK_S, max(0.0, next_poll - now))):
                self._take(line)
        if tree.running():
            _logger.warning(
                "program %r exited but left processes running; stopping them", self.name
            )
            self._stop(tree, grace)
        self._drain(reader)
        self._read_status()
        return code

    def _stop(self, tree: ProcessTree, grace: float) -> None:
        """Stop the program's tree if it still runs, and say so if it had to be killed."""
        if tree.stop(grace):
            _logger.warning("program %r had to be killed after %s s", self.name, grace)

    def _drain(self, reader: LineReader) -> None:
        """Take the lines still in the pipes after the program has ended."""
        deadline = time.monotonic() + _DRAIN_S
        while not reader.ended and time.monotonic() < deadline:
            for line in reader.lines(_TICK_S):
                self._take(line)

    def _take(self, line: Line) -> None:
        """Log one line, keep it for the result or the error, and read progress in it."""
        stream, text = line
        self._lines.log(_LEVELS[stream], "%s", text)
        if stream is Stream.STDERR:
            self._tail.append(text)
        elif self._output_size < OUTPUT_LIMIT:
            kept = text[: OUTPUT_LIMIT - self._output_size]
            self._output.append(kept)
            self._output_size += len(kept) + 1
            if self._output_size >= OUTPUT_LIMIT:
                _logger.warning(
                    "program %r wrote over %d characters; the output keeps the first ones",
                    self.name,
                    OUTPUT_LIMIT,
                )
        if self._pattern is not None:
            percent = match_percent(self._pattern, text)
            if percent is not None:
                self._report((percent, None))

    def _read_status(self) -> None:
        if self._status is not None:
            progress = read_status_file(self._status)
            if progress is not None:
                self._report(progress)

    def _report(self, progress: Progress) -> None:
        """Tell the task of new progress (nothing if it has not changed)."""
        if progress == self._progress:
            return
        self._progress = progress
        update_task_progress(*progress)


def _touch(folder: Path) -> None:
    try:
        os.utime(folder)
    except OSError:
        pass  # removed meanwhile: nothing left to keep


def _quoted(args: Sequence[str]) -> str:
    """The command line, for the log: arguments with spaces are quoted."""
    return " ".join(repr(arg) if not arg or " " in arg else arg for arg in args)
