"""The floor: a bare Flask 3 app with one route, on cheroot set up as labthings sets it up.

Run with a venv holding Flask 3 and cheroot: `python flask_floor_app.py PORT`.
`GET /bench/properties/value` answers the float as JSON; `PUT` stores the JSON body and
answers it. Nothing else: no validation framework, no records, no docs.
"""

import sys

from cheroot import wsgi
from flask import Flask, jsonify, request

app = Flask("floor")
state = {"value": 0.0}


@app.route("/bench/properties/value", methods=["GET", "PUT"])
def value() -> object:
    """Read or write the float."""
    if request.method == "PUT":
        state["value"] = float(request.get_json())
    return jsonify(state["value"])


def main() -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    port = int(sys.argv[1])
    # The same settings as labthings/serving.py (measured in bench/WSGI_SERVERS.md).
    server = wsgi.Server(
        ("127.0.0.1", port), app, numthreads=256, request_queue_size=256, server_name="floor"
    )
    server.keep_alive_conn_limit = 256
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
