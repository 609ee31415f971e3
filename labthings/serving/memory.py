"""`few_malloc_arenas`: a served process's C heap kept in a few arenas, not one per thread.

glibc's malloc gives a thread that finds the shared heap busy an arena of its own, up to
eight per CPU, and an arena keeps the memory it once held. A server's request and task
threads come and go, and each took its own: `bench/compare.py` W6 (2,000 POSTs over 8
connections) grew the server by 5.5-5.7 MiB, and by 4.5 with two arenas, at the same
speed (W3 1,233 against 1,147 req/s in interleaved rounds: noise). The Python threads
take turns on the GIL, so they rarely allocate at the same moment anyway.

Only `labthings serve` calls it, before it starts threads: a program that imports
labthings keeps its own allocator settings. glibc only; elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["few_malloc_arenas"]

_M_ARENA_MAX = -8
"""glibc's `mallopt` parameter for the most arenas (malloc.h)."""


def few_malloc_arenas(count: int = 2) -> bool:
    """Let malloc make at most `count` arenas from now on; whether it could be told."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # another C library (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, count))
