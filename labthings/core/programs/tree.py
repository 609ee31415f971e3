"""A program's process tree: started apart from the server, stopped as a whole.

On POSIX the program leads a new session (`start_new_session=True`), so it and every
process it starts share a process group that the server's own signals (Ctrl-C in its
terminal) never reach; stopping sends SIGTERM to the group, then SIGKILL to whatever
is left after the grace period. On Windows it starts in a new process group
(`CREATE_NEW_PROCESS_GROUP`); stopping sends it CTRL_BREAK_EVENT, then runs
`taskkill /T /F` on the tree after the grace period.

`ProcessGroup` (POSIX) stops a group known only by its id, such as a program that a
killed server left running (see `orphans.py`); `start_time` tells a process from a later
one that reuses its id.

What is promised: every process of the group (POSIX) or of the tree below the program
(Windows) is stopped. A descendant that leaves the group on purpose (`setsid`, a
daemon) escapes on POSIX; on Windows, descendants whose parent had already exited when
`taskkill` ran are not found by it. Trees still running when the server's process
exits normally (a shutdown that outwaited a grace period) are killed at exit.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from labthings.core.cpus import every_cpu

__all__ = ["ProcessGroup", "ProcessTree", "start_time"]

_POLL_S = 0.02
_AFTER_KILL_S = 5.0  # how long to wait for the kernel to end a killed tree
_PROC = Path("/proc")
_live: set[ProcessTree] = set()  # started and not yet released: killed at exit
_live_lock = threading.Lock()


class _Stoppable(ABC):
    """Processes stopped as a whole: politely, then by force after a grace period."""

    @abstractmethod
    def running(self) -> bool:
        """True while any of the processes runs."""

    def stop(self, grace: float) -> bool:
        """Stop the whole tree: politely, then by force if it still runs after `grace`
        seconds. Returns True if it was still running when the force was used.

        Returns once every process has ended, or after a bounded wait past the force.
        """
        if not self.running():
            return False
        self._ask_to_stop()
        if self._wait(grace):
            return False
        self._force_stop()
        self._wait(_AFTER_KILL_S)
        return True

    def _wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the tree to end; True if it has."""
        deadline = time.monotonic() + seconds
        while self.running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        return True

    @abstractmethod
    def _ask_to_stop(self) -> None:
        """Ask every process to stop (SIGTERM, CTRL_BREAK_EVENT)."""

    @abstractmethod
    def _force_stop(self) -> None:
        """Make every process stop (SIGKILL, taskkill /F)."""


class ProcessTree(_Stoppable):
    """A running program and the processes it starts, with pipes for its output."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    @classmethod
    def start(
        cls, args: Sequence[str], cwd: Path, env: Mapping[str, str], encoding: str
    ) -> ProcessTree:
        """Start `args` (no shell) in `cwd` with `env`, its stdout and stderr piped as
        text lines (undecodable bytes replaced). OSError if it cannot be started."""
        if sys.platform == "win32":
            flags, new_session = subprocess.CREATE_NEW_PROCESS_GROUP, False
        else:
            flags, new_session = 0, True
        with every_cpu():  # a task thread may be pinned (cpus.py); the program is not
            process = subprocess.Popen(
                list(args),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding=encoding,
                errors="replace",
                creationflags=flags,
                start_new_session=new_session,
            )
        tree = cls(process)
        with _live_lock:
            _live.add(tree)
        return tree

    @property
    def pid(self) -> int:
        """The program's process id (its process group id too, on POSIX)."""
        return self.process.pid

    @property
    def stdout(self) -> IO[str]:
        """The program's standard output."""
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def stderr(self) -> IO[str]:
        """The program's error output."""
        assert self.process.stderr is not None
        return self.process.stderr

    def exit_code(self) -> int | None:
        """The program's exit code once it has exited (negative: killed by that signal
        on POSIX), else None. Its descendants may still run."""
        return self.process.poll()

    def running(self) -> bool:
        """True while the program or any process of its group (POSIX) is running."""
        if self.process.poll() is None:
            return True
        if sys.platform == "win32":
            return False  # Windows has no process group to ask about once the leader left
        else:
            return _group_alive(self.process.pid)

    def release(self, close_pipes: bool) -> None:
        """Forget an ended tree (it is no longer killed at exit), and close its pipes if
        `close_pipes` (only once nothing reads them: a close waits for a read)."""
        with _live_lock:
            _live.discard(self)
        if close_pipes:
            self.stdout.close()
            self.stderr.close()

    if sys.platform == "win32":

        def _ask_to_stop(self) -> None:
            try:
                self.process.send_signal(signal.CTRL_BREAK_EVENT)
            except OSError:
                pass  # it has just exited

        def _force_stop(self) -> None:
            subprocess.run(
                ["taskkill", "/T", "/F", "/PID", str(self.process.pid)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=_AFTER_KILL_S,
                check=False,
            )
            self.process.kill()  # in case taskkill could not run at all

    else:

        def _ask_to_stop(self) -> None:
            _signal_group(self.process.pid, signal.SIGTERM)

        def _force_stop(self) -> None:
            _signal_group(self.process.pid, signal.SIGKILL)


@atexit.register
def _kill_live_trees() -> None:
    """At exit, kill the trees that were not stopped: no program outlives the server."""
    with _live_lock:
        trees = list(_live)
    for tree in trees:
        if tree.running():
            tree._force_stop()


def start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (field 22 of Linux's
    /proc/<pid>/stat), or None if it does not exist or this system has no /proc: a
    later process given the same id has a later start time."""
    fields = _linux_stat(str(_PROC / str(pid)))
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def _linux_stat(process: str) -> list[str] | None:
    """The fields of /proc/`process`/stat after the command name (the first is field 3,
    the state), or None if it cannot be read (it ended while we looked, or no /proc)."""
    try:
        stat = Path(process, "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    return stat[stat.rfind(")") + 2 :].split()


if sys.platform != "win32":

    class ProcessGroup(_Stoppable):
        """The process group `group`, known only by its id (no child of this process)."""

        def __init__(self, group: int) -> None:
            self.group = group

        def running(self) -> bool:
            """True while a process of the group runs."""
            return _group_alive(self.group)

        def _ask_to_stop(self) -> None:
            _signal_group(self.group, signal.SIGTERM)

        def _force_stop(self) -> None:
            _signal_group(self.group, signal.SIGKILL)

    def _signal_group(group: int, signum: signal.Signals) -> None:
        """Send `signum` to every process of `group`; nothing if the group has ended."""
        try:
            os.killpg(group, signum)
        except (ProcessLookupError, PermissionError):
            pass  # ended already (PermissionError: macOS, for a group of zombies)

    def _group_alive(group: int) -> bool:
        """True if a process of `group` is still running (zombies do not count)."""
        if _PROC.is_dir():
            return _linux_group_alive(group)
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _linux_group_alive(group: int) -> bool:
        """The /proc answer: a zombie whose parent never reaps it (as when PID 1 of a
        container does not) still counts for `killpg`, but no longer runs."""
        with os.scandir(_PROC) as entries:
            for entry in entries:
                if entry.name.isdigit() and _linux_runs_in(entry.path, str(group)):
                    return True
        return False

    def _linux_runs_in(process: str, group: str) -> bool:
        """True if the process at /proc/`process` runs (not a zombie) in `group`."""
        fields = _linux_stat(process)
        if fields is None or len(fields) < 3:
            return False  # it ended while we looked
        return fields[2] == group and fields[0] not in ("Z", "X")
