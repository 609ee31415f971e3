"""What the access-token check costs a property GET, measured two ways.

Run from the repository root with labthings installed and `wrk` on PATH::

    python bench/token_check.py [--seconds 3] [--runs 8]

1. In process: the demo lab's WSGI app called directly (no server, no network), GET
   /light/properties/brightness with no checks at all, with the Host and origin checks
   (always on), and with those and the token check (5 tokens in the store). The best of
   several repeats, so other load on the machine matters little.
2. Served: `labthings serve` of the demo lab three times, twice with `--no-auth` (the
   second says how much two equal servers differ on this machine) and once with 5
   tokens, all sent the same `Authorization` header by `wrk` (8 keep-alive
   connections), in alternating runs: requests per second, and the server's CPU time per
   request (from /proc on Linux), which other load on the machine disturbs less.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "examples"))

from microscope import make_labthing  # noqa: E402
from served import ServedLab  # noqa: E402
from wrk import run_wrk_with_headers  # noqa: E402
from wsgi_calls import wsgi_environ  # noqa: E402

import labthings.http.labthing as labthing_module  # noqa: E402
from labthings import LabThing  # noqa: E402
from labthings.core.access.tokens import TokenStore  # noqa: E402

PROPERTY = "/light/properties/brightness"
DEMO = f"{ROOT / 'examples' / 'microscope.py'}:labthing"


def make_tokens(folder: str) -> str:
    """Five tokens in `folder`, as a lab might have; returns the read token used."""
    store = TokenStore(folder)
    token = store.create("bench", "read")
    for index in range(4):
        store.create(f"other{index}", "control")
    return token


class _NoChecks:
    """The app's checks taken out: nothing refused, no header added."""

    def refusal(self, request: object) -> None:
        return None

    def finish(self, response: Any, environ: object) -> Any:
        return response


@contextmanager
def lab_app(tokens: TokenStore | None, checks: bool = True) -> Iterator[Any]:
    labthing: LabThing = make_labthing()
    labthing.configure_access(tokens=tokens)
    register = labthing_module.register_security
    if not checks:
        labthing_module.register_security = lambda app, access: _NoChecks()  # type: ignore[assignment]
    try:
        app = labthing.create_app()
    finally:
        labthing_module.register_security = register
    with labthing:
        yield app


def one_get(app: Any, headers: dict[str, str]) -> Callable[[], None]:
    def get() -> None:
        environ = wsgi_environ("GET", PROPERTY, headers)
        statuses: list[str] = []
        b"".join(app(environ, lambda status, _headers, _info=None: statuses.append(status)))
        assert statuses[0].startswith("200"), statuses

    return get


def in_process(token: str, folder: str) -> None:
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with (
        lab_app(None, checks=False) as bare,
        lab_app(None) as checked,
        lab_app(TokenStore(folder)) as tokened,
    ):
        cases = {
            "no checks at all": one_get(bare, bearer),
            "Host and origin checks": one_get(checked, bearer),
            "Host, origin and token checks (5 tokens)": one_get(tokened, bearer),
        }
        best = {name: float("inf") for name in cases}
        number, repeats = 2000, 25
        for _ in range(repeats):
            for name, get in cases.items():
                best[name] = min(best[name], timeit.timeit(get, number=number) / number)
    print(f"In process (best of {repeats} x {number} GETs):\n")
    print("| checks | µs per GET |")
    print("|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds * 1e6:.1f} |")
    token_cost = best["Host, origin and token checks (5 tokens)"] - best["Host and origin checks"]
    share = token_cost / best["Host and origin checks"] * 100
    print(f"\nThe token check: {token_cost * 1e6:.1f} µs, {share:.1f} % of a GET.\n")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(token: str, folder: str, seconds: int, runs: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    labs = {
        "--no-auth (no token check)": ServedLab(DEMO, extra=["--no-auth"]),
        "--no-auth, a second server (how much two equal servers differ)": ServedLab(
            DEMO, extra=["--no-auth"]
        ),
        "5 tokens (token checked)": ServedLab(DEMO, extra=["--data-dir", folder]),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in labs}
    try:
        for _ in range(runs):
            for name, lab in labs.items():
                before = cpu_seconds(lab.process.pid)
                run = run_wrk_with_headers(f"{lab.url}{PROPERTY[1:]}", seconds, 8, headers=headers)
                used = cpu_seconds(lab.process.pid) - before
                assert run["non2xx"] == 0 and run["errors"] == 0, run
                results[name].append((run["rps"], used / (run["rps"] * seconds) * 1e6))
    finally:
        for lab in labs.values():
            lab.stop()
    print(f"Served (wrk, 8 connections, {runs} alternating runs of {seconds} s):\n")
    print("| server | req/s (median) | all runs | server CPU µs per GET (median) | all runs |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        rates = ", ".join(f"{rate:.0f}" for rate, _ in rows)
        costs = ", ".join(f"{cost:.0f}" for _, cost in rows)
        print(
            f"| {name} | {statistics.median(r for r, _ in rows):.0f} | {rates} "
            f"| {statistics.median(c for _, c in rows):.0f} | {costs} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=8)
    arguments = parser.parse_args()
    logging.getLogger().setLevel(logging.INFO)  # as `labthings serve` does
    with tempfile.TemporaryDirectory() as folder:
        token = make_tokens(folder)
        in_process(token, folder)
        if sys.platform.startswith("linux"):
            served(token, folder, arguments.seconds, arguments.runs)


if __name__ == "__main__":
    main()
