"""Programs a killed server left running: recorded while they run, stopped at the next start.

`run_program` writes a record (`.labthings-program-<pid>.json`) in a program's working
folder once the program has started, and removes it once the program's tree has ended.
A record still there when a server starts on the same data folder names a program that
the last server could not stop (it was killed with `kill -9`, or crashed).
`stop_left_programs` stops each such program that still runs, but only one it can
prove is the process recorded: a process of that id with the start time recorded
(Linux's /proc), since the id may have been given to another process since. The
program leads a session of its own, so its id is its process group's, which it cannot
leave: the whole group is stopped. Where the start time cannot be read (macOS,
Windows), nothing is stopped and a warning names the process instead.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from labthings.core.programs.tree import start_time

if sys.platform != "win32":
    from labthings.core.programs.tree import ProcessGroup

__all__ = ["ProgramRecord", "stop_left_programs"]

RECORD_PREFIX = ".labthings-program-"
RECORD_SUFFIX = ".json"
_GRACE_S = 2.0  # between the polite request and the force, for a program left running

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgramRecord:
    """Who a running program is: its process id (its process group's too, on POSIX),
    its start time as the system tells it (None where it cannot), its name and args."""

    pid: int
    started: int | None
    name: str
    args: list[str]

    @classmethod
    def write(cls, folder: Path, pid: int, name: str, args: Sequence[str]) -> Path | None:
        """Record program `pid`, just started, in `folder`; the record's path, or None
        if it could not be written (the program runs all the same)."""
        record = cls(pid, start_time(pid), name, list(args))
        path = folder / f"{RECORD_PREFIX}{pid}{RECORD_SUFFIX}"
        try:
            path.write_text(json.dumps(asdict(record)), encoding="utf-8")
        except OSError as error:
            _logger.warning("could not record program %r (process %d): %s", name, pid, error)
            return None
        return path

    @classmethod
    def read(cls, path: Path) -> ProgramRecord | None:
        """The record in `path`, or None if it cannot be read or is malformed."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["pid"]), data["started"], str(data["name"]), data["args"])
        except (OSError, ValueError, TypeError, KeyError):
            return None


def stop_left_programs(root: Path) -> list[int]:
    """Stop the programs recorded in the working folders under `root` that still run
    and are provably the processes recorded (see the module's docstring), each with a
    WARNING naming its invocation, and remove every record. Their process ids.

    Only for a server's start, before any of its own programs runs.
    """
    stopped: list[int] = []
    for path in sorted(root.glob(f"*/{RECORD_PREFIX}*{RECORD_SUFFIX}")):
        record = ProgramRecord.read(path)
        if record is not None and _stop(path.parent.name, record):
            stopped.append(record.pid)
        path.unlink(missing_ok=True)
    return stopped


def _stop(invocation: str, record: ProgramRecord) -> bool:
    """Stop `record`'s program tree if it is still that program; True if it was."""
    if sys.platform == "win32":
        _cannot_tell(invocation, record)
        return False
    else:
        group = ProcessGroup(record.pid)
        if record.started is None:
            if group.running():
                _cannot_tell(invocation, record)
            return False
        if start_time(record.pid) != record.started:
            return False  # it has ended (its id may be another process's now)
        group.stop(_GRACE_S)
        _logger.warning(
            "stopped program %r (process %d) of invocation %s, left running when the "
            "server last stopped",
            record.name,
            record.pid,
            invocation,
        )
        return True


def _cannot_tell(invocation: str, record: ProgramRecord) -> None:
    """Warn of a program that may still run but cannot be told from a process that
    took its id."""
    _logger.warning(
        "program %r (process %d) of invocation %s may still be running since the server "
        "last stopped; it was not stopped, as this system cannot tell whether process %d "
        "is still that program",
        record.name,
        record.pid,
        invocation,
        record.pid,
    )
