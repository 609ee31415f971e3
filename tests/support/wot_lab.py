"""Things for the generic-consumer tests (tests/wot): what the demo lab does not show.

`labthings serve tests/support/wot_lab.py:make_labthing` serves a fresh one.
"""

from __future__ import annotations

from typing import Annotated

from marshmallow.validate import Range

from labthings import Blob, LabThing, Thing, action, cancellable_sleep, fields


class Bench(Thing):
    """Actions that fail, return nothing, return files, or take long."""

    @action(lock=False)
    def fail(self, message: str = "it broke") -> int:
        """Raise an error."""
        raise RuntimeError(message)

    @action(lock=False)
    def reset(self) -> None:
        """Do something and return nothing."""

    @action(lock=False)
    def report(self) -> Blob:
        """A CSV file."""
        return Blob(b"x,y\n1,2\n", "text/csv")

    @action(lock=False, synchronous=False)
    def scan(
        self, seconds: Annotated[float, fields.Float(validate=Range(min=0, max=30))] = 0.2
    ) -> str:
        """A long action: generic consumers are offered the record form first."""
        cancellable_sleep(seconds)
        return "scanned"


def make_labthing(**settings: float) -> LabThing:
    """A LabThing serving the bench."""
    labthing = LabThing(title="WoT test bench", **settings)
    labthing.add_thing("bench", Bench())
    return labthing
