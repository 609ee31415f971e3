"""Spectrum analysis for the demo lab, done the two ways lengthy work leaves the server:

- `fit_peak` runs an external program (`examples/programs/fit_spectrum.py`) in a working
  folder of its own, with its progress from the status file it rewrites;
- `submit_peak_search` sends the spectrum to an analysis service that runs jobs on its
  own, one after another, and answers "how is job N going?": the action returns a
  `RemoteJob`, and the server checks on it with back-off, holding no thread meanwhile.

The service here is simulated: it keeps its own queue (a job starts when the one before
it ends) and takes `SERVICE_SECONDS` per job. A job's whole story is in its state (when
it was submitted, when it starts and ends, and its spectrum), so a check after a server
restart gives the same answer as before it: checking simply resumes.
"""

from __future__ import annotations

import json
import math
import random
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from marshmallow.validate import Range

from labthings import RemoteJob, Thing, action, fields, program_folder, run_program

FIT_PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "fit_spectrum.py"
SERVICE_SECONDS = 6.0
"""How long the simulated analysis service takes for one job, once it starts it."""

Centre = Annotated[float, fields.Float(validate=Range(420, 680))]
Width = Annotated[float, fields.Float(validate=Range(1, 50))]
Result = Annotated[dict[str, Any], fields.Dict()]


def simulated_spectrum(centre: float, width: float, seed: int) -> dict[str, list[float]]:
    """A noisy Gaussian peak of FWHM `width` nm at `centre` nm on a flat background."""
    noise = random.Random(seed)
    sigma = width / (2 * math.sqrt(2 * math.log(2)))
    wavelengths = [400 + 0.5 * i for i in range(600)]
    counts = [
        round(120 + 900 * math.exp(-((x - centre) ** 2) / (2 * sigma**2)) + noise.gauss(0, 6), 2)
        for x in wavelengths
    ]
    return {"wavelengths": wavelengths, "counts": counts}


def peak_search(wavelengths: list[float], counts: list[float]) -> dict[str, float]:
    """The service's analysis: the peak's position, its full width at half maximum (by
    interpolating where it crosses half height), and its height above the background."""
    background = sorted(counts)[len(counts) // 10]  # the 10th percentile
    top = max(range(len(counts)), key=counts.__getitem__)
    half = background + (counts[top] - background) / 2

    def crossing(step: int) -> float:
        index = top
        while 0 < index < len(counts) - 1 and counts[index] > half:
            index += step
        inner, outer = index - step, index
        share = (counts[inner] - half) / ((counts[inner] - counts[outer]) or 1.0)
        return wavelengths[inner] + share * (wavelengths[outer] - wavelengths[inner])

    return {
        "centre_nm": round(wavelengths[top], 2),
        "fwhm_nm": round(crossing(1) - crossing(-1), 2),
        "height": round(counts[top] - background, 1),
    }


class AnalysisService:
    """The simulated service: a queue of jobs run one at a time, `SERVICE_SECONDS` each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free_at = 0.0  # when the last queued job will be done
        self._cancelled: set[str] = set()

    def submit(self, spectrum: dict[str, list[float]]) -> dict[str, Any]:
        """Queue a job; its state, which `status` reads."""
        now = time.time()
        with self._lock:
            starts = max(now, self._free_at)
            self._free_at = starts + SERVICE_SECONDS
        job = f"job-{int(now * 1000) % 10**9}-{random.randrange(1000):03d}"
        return {"job": job, "submitted": now, "starts": starts, "spectrum": spectrum}

    def status(self, state: dict[str, Any]) -> tuple[str, float]:
        """("queued" | "running" | "done" | "cancelled", percent done) of a job now."""
        if state["job"] in self._cancelled:
            return "cancelled", 0.0
        now, starts = time.time(), state["starts"]
        if now < starts:
            return "queued", 0.0
        if now < starts + SERVICE_SECONDS:
            return "running", 100 * (now - starts) / SERVICE_SECONDS
        return "done", 100.0

    def cancel(self, job: str) -> None:
        """Drop a job (the simulation does not give its slot in the queue back)."""
        with self._lock:
            self._cancelled.add(job)


class AnalysisThing(Thing):
    """Analyses spectra: with an external program here, or on an analysis service."""

    def __init__(self, service: AnalysisService | None = None) -> None:
        self.service = service or AnalysisService()

    @action(lock=False)
    def fit_peak(
        self,
        centre: Centre = 550.0,
        width: Width = 8.0,
        bootstrap: Annotated[int, fields.Integer(validate=Range(0, 200))] = 40,
        delay: Annotated[float, fields.Float(validate=Range(0, 1))] = 0.05,
    ) -> Result:
        """Fit a Gaussian to a simulated spectrum with the external program
        fit_spectrum.py; its output lines appear in the task log as it runs."""
        folder = program_folder()
        spectrum = simulated_spectrum(centre, width, seed=random.randrange(10**6))
        (folder / "input.json").write_text(json.dumps(spectrum), encoding="utf-8")
        command = [sys.executable, FIT_PROGRAM, "--bootstrap", str(bootstrap)]
        result: dict[str, Any] = run_program(
            [*command, "--delay", str(delay)], status_file="status.txt", result_file="result.json"
        )
        return result

    @action(lock=False)
    def submit_peak_search(self, centre: Centre = 550.0, width: Width = 8.0) -> RemoteJob[Result]:
        """Send a simulated spectrum to the analysis service, which queues it behind the
        jobs before it and takes a few seconds; the server checks on it with back-off."""
        spectrum = simulated_spectrum(centre, width, seed=random.randrange(10**6))
        state = self.service.submit(spectrum)
        return RemoteJob(
            check=self.check_peak_search,
            state=state,
            cancel=self.cancel_peak_search,
            message=f"{state['job']} submitted",
            delay=0.5,
            factor=1.5,
            max_interval=2.0,
        )

    def check_peak_search(self, state: dict[str, Any]) -> RemoteJob[Result] | dict[str, Any]:
        """How the service's job is going: still running (with progress), or its result."""
        status, percent = self.service.status(state)
        if status == "cancelled":
            raise RuntimeError(f"the service dropped {state['job']}")
        if status != "done":
            left = state["starts"] + SERVICE_SECONDS - time.time()
            return RemoteJob(
                check=self.check_peak_search,
                state=state,
                progress=percent,
                message=f"{state['job']} {status}",
                remaining=max(0.0, left),
            )
        spectrum = state["spectrum"]
        return {"job": state["job"], **peak_search(spectrum["wavelengths"], spectrum["counts"])}

    def cancel_peak_search(self, state: dict[str, Any]) -> None:
        """Ask the service to drop the job."""
        self.service.cancel(state["job"])
