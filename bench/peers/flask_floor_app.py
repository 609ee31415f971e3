"""The floor: a bare Flask 3 app with one route, on granian's WSGI server as labthings runs it.

Run with a venv holding Flask 3 and granian: `python flask_floor_app.py PORT`.
`GET /bench/properties/value` answers the float as JSON; `PUT` stores the JSON body and
answers it. Nothing else: no validation framework, no records, no docs.

Like `labthings serve` (labthings/core/cpus.py), each thread moves to one CPU of the
process before its first request (`FLOOR_CPU`, if the benchmark names one), and threads
waiting for the GIL ask for it every 20 ms (labthings/serving/gil.py), so that the floor
gains what labthings gains from them.
"""

import os
import sys
import threading
from pathlib import Path

from flask import Flask, jsonify, request

sys.setswitchinterval(0.02)
app = Flask("floor")
state = {"value": 0.0}
_pinned = threading.local()
_cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
_cpu = _cpus[os.getpid() % len(_cpus)] if len(_cpus) > 1 else None
if os.environ.get("FLOOR_CPU", "").isdigit() and int(os.environ["FLOOR_CPU"]) in _cpus:
    _cpu = int(os.environ["FLOOR_CPU"])  # the benchmark's choice, shared with labthings
_flask_wsgi_app = app.wsgi_app


def _on_one_cpu(environ, start_response):  # type: ignore[no-untyped-def]
    """The app, with the calling thread moved to `_cpu` first (once per thread)."""
    if _cpu is not None and not getattr(_pinned, "done", False):
        _pinned.done = True
        os.sched_setaffinity(0, {_cpu})
    return _flask_wsgi_app(environ, start_response)


app.wsgi_app = _on_one_cpu  # type: ignore[method-assign]


@app.route("/bench/properties/value", methods=["GET", "PUT"])
def value() -> object:
    """Read or write the float."""
    if request.method == "PUT":
        state["value"] = float(request.get_json())
    return jsonify(state["value"])


def main() -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    from granian.constants import Interfaces
    from granian.server import Server

    # The engine, HTTP/1.1 and thread cap of labthings/serving/server.py (one worker;
    # granian's own server runs it in a child process, which does not change its speed).
    Server(
        "flask_floor_app:app",
        address="127.0.0.1",
        port=int(sys.argv[1]),
        interface=Interfaces.WSGI,
        http="1",
        workers=1,
        blocking_threads=1024,
        working_dir=Path(__file__).parent,
        log_enabled=False,
    ).serve()


if __name__ == "__main__":
    main()
