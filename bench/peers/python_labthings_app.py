"""The benchmark Thing on python-labthings 1.3.2 (installed in its own venv).

Run with that venv's python: `python python_labthings_app.py PORT`. It is served by the
package's own `labthings.Server` (werkzeug's threaded `run_simple`) with mDNS off
(`zeroconf=False`), on 127.0.0.1 only. Routes, following the package's conventions:

- `GET`/`PUT /bench/properties/value`: a `PropertyView` with a `fields.Float` schema;
- `POST /bench/actions/add`, `POST /bench/actions/sleep`: `ActionView`s. A POST waits
  up to `wait_for` (1 s) and answers 201 with the action record (`status`, `output`,
  absolute `href` to `GET /actions/<id>`);
- `GET /actions`: every record the server still keeps (its pool holds the last 100).
"""

import logging
import sys
import time

from labthings import (
    ActionView,
    PropertyView,
    Server,
    create_app,
    fields,
    update_action_progress,
)

STEP = 0.05


class Instrument:
    """The component behind the views: just a float."""

    value = 0.0


instrument = Instrument()


class ValueProperty(PropertyView):
    """The float property `value`."""

    schema = fields.Float(required=True)

    def get(self) -> float:
        return instrument.value

    def put(self, new_value: float) -> float:
        instrument.value = new_value
        return instrument.value


class AddAction(ActionView):
    """Return a + b at once."""

    args = {"a": fields.Float(required=True), "b": fields.Float(required=True)}
    schema = fields.Float()

    def post(self, args: dict[str, float]) -> float:
        return args["a"] + args["b"]


class SleepAction(ActionView):
    """Sleep in 50 ms steps, reporting progress after each."""

    args = {"seconds": fields.Float(required=True)}
    schema = fields.Float()

    def post(self, args: dict[str, float]) -> float:
        seconds = args["seconds"]
        steps = max(1, round(seconds / STEP))
        for step in range(1, steps + 1):
            time.sleep(seconds / steps)
            update_action_progress(int(100 * step / steps))
        return seconds


def main() -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    port = int(sys.argv[1])
    # werkzeug logs every request at INFO; no other system in the comparison does.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app, labthing = create_app(__name__, title="bench")
    labthing.add_view(ValueProperty, "/bench/properties/value")
    labthing.add_view(AddAction, "/bench/actions/add")
    labthing.add_view(SleepAction, "/bench/actions/sleep")
    Server(app, host="127.0.0.1", port=port, zeroconf=False).run()


if __name__ == "__main__":
    main()
