"""A Thing that runs external programs, for the tests of `run_program`, and its server.

`labthings serve tests/support/lab_programs.py:make_labthing` serves it. Its programs
are Python scripts run with this interpreter: the example analysis program
`examples/programs/fit_spectrum.py`, and `program_for_tests.py` beside this file.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any

from marshmallow.validate import Range

from labthings import LabThing, Thing, action, fields, program_folder, run_program

SUPPORT = Path(__file__).parent
PROGRAM = SUPPORT / "program_for_tests.py"
"""The test program (see its docstring for its modes)."""
FIT_SPECTRUM = SUPPORT.parents[1] / "examples" / "programs" / "fit_spectrum.py"

Result = Annotated[Any, fields.Raw(allow_none=True)]


def simulated_spectrum(centre: float, width: float) -> dict[str, list[float]]:
    """A Gaussian peak of FWHM `width` nm at `centre` nm on a background, with a ripple."""
    sigma = width / (2 * math.sqrt(2 * math.log(2)))
    wavelengths = [400 + 0.5 * i for i in range(600)]
    counts = [
        120 + 900 * math.exp(-((x - centre) ** 2) / (2 * sigma**2)) + 4 * math.sin(7 * x)
        for x in wavelengths
    ]
    return {"wavelengths": wavelengths, "counts": counts}


class Analysis(Thing):
    """Runs analysis programs as actions."""

    @action(lock=False)
    def fit_spectrum(
        self,
        centre: Annotated[float, fields.Float(validate=Range(450, 650))] = 550.0,
        width: Annotated[float, fields.Float(validate=Range(1, 50))] = 8.0,
        bootstrap: Annotated[int, fields.Integer(validate=Range(0, 200))] = 20,
        delay: Annotated[float, fields.Float(validate=Range(0, 1))] = 0.0,
    ) -> dict[str, Any]:
        """Fit the peak of a simulated spectrum with the example analysis program."""
        folder = program_folder()
        spectrum = simulated_spectrum(centre, width)
        (folder / "input.json").write_text(json.dumps(spectrum), encoding="utf-8")
        command = [sys.executable, FIT_SPECTRUM, "--bootstrap", str(bootstrap)]
        result: dict[str, Any] = run_program(
            [*command, "--delay", str(delay)], status_file="status.txt", result_file="result.json"
        )
        return result

    @action(lock=False)
    def run(
        self,
        mode: str,
        args: list[str] | None = None,
        status_file: str | None = None,
        progress_pattern: str | None = None,
        result_file: str | None = None,
        timeout: float | None = None,
        grace: Annotated[float, fields.Float(validate=Range(0, 30))] = 5.0,
    ) -> Result:
        """Run the test program in `mode` with `args` (see program_for_tests.py)."""
        return run_program(
            [sys.executable, PROGRAM, mode, *(args or [])],
            status_file=status_file,
            progress_pattern=progress_pattern,
            result_file=result_file,
            timeout=timeout,
            grace=grace,
        )

    @action(lock=False)
    def cpus(self) -> list[int]:
        """The CPUs this task's thread may run on (Linux)."""
        return sorted(os.sched_getaffinity(0))

    @action(lock=False)
    def malloc_arenas(self) -> int:
        """The server's malloc arenas after 16 threads allocated at once (glibc)."""
        from malloc_arenas import arenas_after_contention

        return arenas_after_contention()

    @action(lock=False)
    def switch_interval(self) -> float:
        """The interpreter's GIL switch interval in this process (seconds)."""
        return sys.getswitchinterval()

    @action(lock=False)
    def missing(self) -> Result:
        """Run a program that does not exist."""
        return run_program(["labthings-no-such-program", "--help"])


def alive(pid: int) -> bool:
    """True if process `pid` runs, on Linux (a zombie that nobody reaps has ended: in a
    container whose first process does not reap orphans, a killed child stays one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def make_labthing(**settings: float) -> LabThing:
    """A LabThing serving the Analysis Thing as `analysis`."""
    labthing = LabThing(title="Programs lab", **settings)
    labthing.add_thing("analysis", Analysis())
    return labthing
