"""Query round trips per second to the simulated spectrometer, in-process and over a pty.

Run from the repository root (the pseudo-terminal rows need a POSIX system)::

    python bench/device_roundtrips.py                       # 3 runs of 2 s per row, ~40 s
    python bench/device_roundtrips.py --seconds 0.5 --runs 1

Each row counts sequential round trips on one connection for `--seconds`, `--runs`
times, and reports the median run:

* `INT?`: a short query and reply, through `LineTransport.query`;
* `ACQ?` (1 ms): a 1 ms acquisition of 2048 pixels, an ~11 KB reply line, through
  `LineTransport.query` (framing only);
* `acquire()` (1 ms): the same through `Spectrometer.acquire`, which also verifies the
  checksum and parses the values.

Transports: `sim://` (the simulator in-process, through pyserial's URL handler) and
`pty` (the simulator behind a real pseudo-terminal, opened as a serial port path). The
simulators do not emulate the baud rate: a real 115200-baud line needs ~1 s for each
spectrum. Prints a markdown table; closes every driver and bridge at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.simulation.pty import PtyBridge  # noqa: E402
from devices.spectrometer import Spectrometer  # noqa: E402
from devices.spectrometer.simulator import SpectrometerSimulator  # noqa: E402


def rate(call: Callable[[], object], seconds: float) -> float:
    """Round trips per second of `call`, repeated for about `seconds`."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while (now := time.perf_counter()) < deadline:
        call()
        count += 1
    return count / (now - started)


@contextmanager
def connected(transport: str) -> Iterator[Spectrometer]:
    """A spectrometer driver on a fresh simulator, over `transport`; all closed after."""
    simulator = SpectrometerSimulator(seed=1)
    with ExitStack() as stack:
        if transport == "pty":
            port = stack.enter_context(PtyBridge(simulator)).path
        else:
            port = simulator.url
        driver = Spectrometer(port, timeout=2.0)
        driver.open()
        stack.callback(driver.close)
        driver.integration_time = 1
        yield driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each run")
    parser.add_argument("--runs", type=int, default=3, help="runs per row (median reported)")
    options = parser.parse_args()

    transports = ["sim://"] + (["pty"] if os.name == "posix" else [])
    print("| transport | query | round trips/s (median) | runs |")
    print("| --- | --- | ---: | --- |")
    for transport in transports:
        with connected(transport) as driver:
            queries: dict[str, Callable[[], object]] = {
                "`INT?`": lambda: driver.transport.query("INT?"),
                "`ACQ?` (1 ms)": lambda: driver.transport.query("ACQ?", timeout=2.0),
                "`acquire()` (1 ms)": driver.acquire,
            }
            for name, call in queries.items():
                call()  # warm up
                runs = [rate(call, options.seconds) for _ in range(options.runs)]
                listed = ", ".join(f"{value:.0f}" for value in runs)
                print(f"| {transport} | {name} | {statistics.median(runs):.0f} | {listed} |")


if __name__ == "__main__":
    main()
