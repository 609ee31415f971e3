"""The Things that the client's tests serve: the test lab, plus a Thing whose outputs
come by link (a file, a large JSON value) and whose names clash with ThingClient's.

`labthings serve tests/support/client_lab.py:make_labthing` serves a fresh one.
"""

from __future__ import annotations

from typing import Annotated

from lab_for_tests import make_labthing as make_test_lab
from marshmallow.validate import Range

from labthings import Blob, LabThing, Thing, action, fields, thing_property

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class Files(Thing):
    """Outputs served by link, and affordances named like ThingClient's own members."""

    td = thing_property(str, default="a property named like ThingClient.td")

    @action(lock=False)
    def snapshot(self) -> Blob:
        """A small PNG-like file."""
        return Blob(PNG, "image/png")

    @action(lock=False)
    def numbers(
        self, count: Annotated[int, fields.Integer(validate=Range(0, 100_000))] = 20_000
    ) -> list[int]:
        """0..count-1: over the server's blob threshold, so served by link."""
        return list(range(count))

    @action(lock=False)
    def close(self) -> str:
        """An action named like ThingClient.close."""
        return "closed"


def make_labthing(**settings: float) -> LabThing:
    """The test lab (calc, slow, recorder) and `files`."""
    labthing = make_test_lab(**settings)
    labthing.add_thing("files", Files())
    return labthing
