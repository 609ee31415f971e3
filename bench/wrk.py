"""Run `wrk` (Debian's `wrk` package) and parse what it prints.

Shared by the benchmarks under `bench/`; loopback URLs only.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["run_wrk", "run_wrk_with_headers"]

_POST_SCRIPT = """wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""
_HEADER_LINE = """wrk.headers[{name}] = {value}
"""


def _grab(pattern: str, text: str) -> str:
    if (match := re.search(pattern, text, re.MULTILINE)) is None:
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
    return run_wrk_with_headers(url, seconds, connections, method, body)


def run_wrk_with_headers(
    url: str,
    seconds: int,
    connections: int = 8,
    method: str = "GET",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """`run_wrk` that also sends `headers` with every request.

    Some servers need one: python-labthings 1.3.2 answers 500 without an `Accept` header.
    """
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    with tempfile.TemporaryDirectory() as folder:
        if body is not None or method != "GET" or headers:
            lines = ""
            if body is not None or method != "GET":
                lines = _POST_SCRIPT.format(method=method, body=json.dumps(json.dumps(body)))
            for name, value in (headers or {}).items():
                lines += _HEADER_LINE.format(name=json.dumps(name), value=json.dumps(value))
            script = Path(folder) / "request.lua"
            script.write_text(lines)
            command[1:1] = ["-s", str(script)]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    errors = re.search(r"Socket errors: (.*)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(_grab(r"Requests/sec:\s+([\d.]+)", out)),
        # Anchored: a "+/- Stdev" column such as "72.50%" must not match.
        "p50": _to_ms(_grab(r"^\s*50%\s+(\S+)", out)),
        "p99": _to_ms(_grab(r"^\s*99%\s+(\S+)", out)),
        "errors": sum(map(int, re.findall(r"\d+", errors.group(1)))) if errors else 0,
        "non2xx": int(bad.group(1)) if bad else 0,
    }
