"""A small program for the tests of `run_program`: `python program_for_tests.py MODE ...`.

Modes (each prints a little and exits 0 unless said otherwise):
  lines N             N lines "out i" on stdout and "err i" on stderr, alternately
  status DELAY V...   write each V to status.txt in turn (V may be garbage), DELAY s apart
  pattern DELAY V...  print "working: V%" for each V, DELAY s apart
  result NAME TEXT    write TEXT to the file NAME
  fail CODE N         N lines "problem i" on stderr, then exit with CODE
  flood N             N long lines on stderr, then N on stdout (more than a pipe holds)
  sleep S             sleep S seconds
  spawn PIDFILE       start a child that sleeps, write "PID CHILD_PID" to PIDFILE, sleep
  stubborn PIDFILE    as spawn, but both ignore SIGTERM (only SIGKILL stops them)
  cpus                the CPUs it may run on, as "0,1" (Linux)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

_SLEEP_S = 60.0
_CHILD = (
    "import signal, sys, time\n"
    "if sys.argv[1] == 'ignore':\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "time.sleep(60)\n"
)


def _spawn(pidfile: str, ignore_term: bool) -> None:
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    how = "ignore" if ignore_term else "default"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, how])
    Path(pidfile + ".tmp").write_text(f"{os.getpid()} {child.pid}")
    Path(pidfile + ".tmp").replace(pidfile)
    print(f"spawned {child.pid}", flush=True)
    time.sleep(_SLEEP_S)


def main(mode: str, *args: str) -> int:
    if mode == "lines":
        for i in range(int(args[0])):
            print(f"out {i}", flush=True)
            print(f"err {i}", file=sys.stderr, flush=True)
    elif mode in ("status", "pattern"):
        for value in args[1:]:
            if mode == "status":
                Path("status.txt").write_text(value)
            else:
                print(f"working: {value}%", flush=True)
            time.sleep(float(args[0]))
    elif mode == "result":
        Path(args[0]).write_text(args[1])
    elif mode == "fail":
        for i in range(int(args[1])):
            print(f"problem {i}", file=sys.stderr)
        return int(args[0])
    elif mode == "flood":
        for stream in (sys.stderr, sys.stdout):
            for i in range(int(args[0])):
                print(f"{i:06d} " + "x" * 100, file=stream)
    elif mode == "sleep":
        time.sleep(float(args[0]))
    elif mode == "cpus":
        print(",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0))))
    elif mode in ("spawn", "stubborn"):
        _spawn(args[0], ignore_term=mode == "stubborn")
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
