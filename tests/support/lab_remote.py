"""Things that drive a simulated remote analysis service as remote jobs, for the tests.

The service is simulated by the job's own state: a job finishes at the wall-clock time
`finishAt` stored in its state, so it finishes whichever process checks it (the one that
started it, or a server restarted after a `kill -9`).

`labthings serve tests/support/lab_remote.py:make_labthing` serves one `Analyser` as
`analyser`; the other factories serve a lab where it is gone or has lost its check method.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Annotated, Any

from marshmallow.validate import Range

from labthings import (
    LabThing,
    RemoteJob,
    Thing,
    action,
    current_task,
    fields,
    raise_if_cancelled,
    thing_property,
    update_task_data,
    update_task_progress,
)

logger = logging.getLogger("lab_remote")

Seconds = Annotated[float, fields.Float(validate=Range(0, 3600))]


class Analyser(Thing):
    """Submits analyses to a (simulated) remote service and checks them with back-off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aborted: list[dict[str, Any]] = []
        self.gate = threading.Event()
        """What `held_poll` and `stuck_abort` wait for (bounded)."""
        self.holding = threading.Event()
        """Set once `held_poll` or `stuck_abort` has started waiting for `gate`."""
        self.tasks_seen: list[str | None] = []
        """The `current_task()` ids seen inside checks."""

    @thing_property
    def aborted(self) -> list[str]:
        """The names of the jobs whose cancel method was called, in order."""
        with self._lock:
            return [state["name"] for state in self._aborted]

    @property
    def aborted_states(self) -> list[dict[str, Any]]:
        """The states the cancel method received."""
        with self._lock:
            return list(self._aborted)

    @action(lock=False)
    def analyse(
        self,
        seconds: Seconds = 1.0,
        result: float = 1.0,
        fail: str = "",
        delay: Seconds = 0.05,
        factor: Annotated[float, fields.Float(validate=Range(1, 10))] = 2.0,
        max_interval: Annotated[float, fields.Float(validate=Range(0.001, 60))] = 0.5,
        check: str = "poll",
        cancel: str = "abort",
    ) -> RemoteJob[float]:
        """Submit a job that finishes `seconds` from now with `result` (or fails with the
        message `fail` at its first check); checked by `check`, cancelled by `cancel`."""
        now = time.time()
        state = {
            "name": uuid.uuid4().hex[:8],
            "start": now,
            "finishAt": now + seconds,
            "result": result,
            "fail": fail,
        }
        logger.info("submitted job %s", state["name"])
        return RemoteJob(
            check=self.poll if check == "poll" else check,
            state=state,
            message="submitted",
            progress=0,
            delay=delay,
            factor=factor,
            max_interval=max_interval,
            cancel=cancel or None,
        )

    @action
    def measure(self, seconds: Seconds = 1.0) -> RemoteJob[float]:
        """`analyse`, taking the instrument lock while it submits the job."""
        return self.analyse(seconds=seconds)

    @action(lock=False)
    def submit_late(self) -> RemoteJob[float]:
        """Submit a job only once `gate` opens (at most 10 s), whatever cancelling says."""
        self.holding.set()
        self.gate.wait(10)
        return self.analyse(seconds=3600)

    def poll(self, state: dict[str, Any]) -> RemoteJob[float] | float:
        """Ask the service how the job goes: its result once it is done."""
        task = current_task()
        self.tasks_seen.append(None if task is None else task.id)
        now = time.time()
        logger.info("checked job %s", state["name"])
        update_task_data({"lastCheckedJob": state["name"]})
        if state["fail"]:
            raise RuntimeError(state["fail"])
        if now >= state["finishAt"]:
            return float(state["result"])
        span = max(1e-6, state["finishAt"] - state["start"])
        done = min(99.0, 100 * (now - state["start"]) / span)
        return RemoteJob(check="poll", state=state, progress=done, message=f"{done:.0f}% done")

    def reporting_poll(self, state: dict[str, Any]) -> RemoteJob[float] | float:
        """A check that reports through the task API rather than its `RemoteJob`, with
        the time remaining the service says."""
        left = state["finishAt"] - time.time()
        update_task_progress(50, "halfway, says the service", remaining=max(0.0, left))
        raise_if_cancelled()
        return self.poll(state)

    def renaming_poll(self, state: dict[str, Any]) -> RemoteJob[float]:
        """A check that says the job is to be checked by a method the Thing lacks."""
        return RemoteJob(check="no_such_method", state=state)

    def held_poll(self, state: dict[str, Any]) -> RemoteJob[float] | float:
        """A check that waits (up to 10 s) for `gate` before asking."""
        self.holding.set()
        self.gate.wait(10)
        return self.poll(state)

    def abort(self, state: dict[str, Any]) -> None:
        """Cancel the job on the service."""
        logger.info("aborting job %s", state["name"])
        with self._lock:
            self._aborted.append(state)

    def failing_abort(self, state: dict[str, Any]) -> None:
        """A cancel method that fails."""
        raise ConnectionError("the service did not answer")

    def stuck_abort(self, state: dict[str, Any]) -> None:
        """A cancel method that does not return until `gate` opens (at most 10 s)."""
        self.holding.set()
        self.gate.wait(10)
        self.abort(state)


class AnalyserWithoutPoll(Thing):
    """The Analyser as a later version that renamed its check method."""

    @action(lock=False)
    def analyse(self) -> float:
        """Nothing remote any more."""
        return 0.0


def make_labthing(**settings: float) -> LabThing:
    """A LabThing serving an `Analyser` as `analyser`."""
    labthing = LabThing(title="Remote lab", **settings)
    labthing.add_thing("analyser", Analyser())
    return labthing


def make_labthing_without_analyser() -> LabThing:
    """The same lab after the `analyser` Thing was removed."""
    labthing = LabThing(title="Remote lab")
    labthing.add_thing("other", AnalyserWithoutPoll())
    return labthing


def make_labthing_without_poll() -> LabThing:
    """The same lab whose `analyser` has no `poll` method any more."""
    labthing = LabThing(title="Remote lab")
    labthing.add_thing("analyser", AnalyserWithoutPoll())
    return labthing
