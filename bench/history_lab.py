"""The lab the history benchmark serves: one action whose output is about 10 kB of JSON."""

from __future__ import annotations

from labthings import LabThing, Thing, action

OUTPUT = [round(0.001 * index, 3) for index in range(1600)]  # about 10 kB as JSON


class Recorder(Thing):
    """Returns a spectrum-sized result at once."""

    @action(lock=False)
    def spectrum(self) -> list[float]:
        """A 10 kB result."""
        return OUTPUT


def make_labthing(**options: object) -> LabThing:
    """A lab keeping a history as large as the benchmark needs."""
    labthing = LabThing(title="History lab", history_max_count=1_000_000)
    labthing.add_thing("recorder", Recorder())
    return labthing
