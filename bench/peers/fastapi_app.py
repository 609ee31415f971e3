"""The benchmark Thing on labthings-fastapi 0.3.0 (installed in its own venv).

Run with that venv's python: `python fastapi_app.py PORT SETTINGS_FOLDER`. Served as
`ThingServer.serve` does it (`uvicorn.run(server.app, ...)`), on 127.0.0.1 only, with
uvicorn's per-request access log off. Routes (the Thing is at `/bench/`):

- `GET /bench/value` (the bare value), `PUT /bench/value` (the bare value; 201, null);
- `POST /bench/add`, `POST /bench/sleep`: 201 at once with the invocation (`status`,
  `output`, `href` to `GET /action_invocations/<id>`); there is no wait for the result;
- `GET /action_invocations`: summaries of every invocation kept (300 s retention).

labthings-fastapi 0.3.0 has no progress field: `sleep` reports progress through the
Thing's logger, which is what the package relays to clients (the invocation's `log`).
"""

import sys

import labthings_fastapi as lt
import uvicorn

STEP = 0.05


class Bench(lt.Thing):
    """A float property and two actions: one instant, one slow."""

    value: float = lt.property(default=0.0)

    @lt.action
    def add(self, a: float, b: float) -> float:
        """Return a + b at once."""
        return a + b

    @lt.action
    def sleep(self, seconds: float) -> float:
        """Sleep in 50 ms steps, logging progress after each."""
        steps = max(1, round(seconds / STEP))
        for step in range(1, steps + 1):
            lt.cancellable_sleep(seconds / steps)
            self.logger.info("progress %d%%", 100 * step // steps)
        return seconds


def main() -> None:
    """Serve on 127.0.0.1:PORT until SIGTERM."""
    port, settings_folder = int(sys.argv[1]), sys.argv[2]
    server = lt.ThingServer.from_things({"bench": Bench}, settings_folder=settings_folder)
    uvicorn.run(
        server.app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
