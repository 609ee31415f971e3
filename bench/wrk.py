"""Run `wrk` (Debian's `wrk` package) and parse what it prints.

Shared by the benchmarks under `bench/`; loopback URLs only.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["run_wrk"]

_POST_SCRIPT = """wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""


def _grab(pattern: str, text: str) -> str:
    if (match := re.search(pattern, text)) is None:
        raise RuntimeError(f"{pattern!r} not found in wrk output:\n{text}")
    return match.group(1)


def _to_ms(text: str) -> float:
    """wrk prints durations like 812.00us, 3.08ms, 1.02s."""
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[_grab(r"(us|ms|s)$", text)]
    return float(_grab(r"^([\d.]+)", text)) * scale


def run_wrk(
    url: str,
    seconds: int,
    connections: int = 8,
    method: str = "GET",
    body: Any = None,
) -> dict[str, float]:
    """Requests/s, p50 and p99 latency (ms), socket errors and non-2xx responses.

    With `body`, each request sends it as JSON using `method`.
    """
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    with tempfile.TemporaryDirectory() as folder:
        if body is not None or method != "GET":
            script = Path(folder) / "request.lua"
            script.write_text(_POST_SCRIPT.format(method=method, body=json.dumps(json.dumps(body))))
            command[1:1] = ["-s", str(script)]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    errors = re.search(r"Socket errors: (.*)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(_grab(r"Requests/sec:\s+([\d.]+)", out)),
        "p50": _to_ms(_grab(r"50%\s+(\S+)", out)),
        "p99": _to_ms(_grab(r"99%\s+(\S+)", out)),
        "errors": sum(map(int, re.findall(r"\d+", errors.group(1)))) if errors else 0,
        "non2xx": int(bad.group(1)) if bad else 0,
    }
