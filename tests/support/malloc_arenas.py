"""How many malloc arenas this process has after threads allocated at the same moment
(glibc on Linux): the measure of `labthings.serving.memory.few_malloc_arenas`."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import tempfile
import threading

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = (ctypes.c_size_t,)
_libc.free.argtypes = (ctypes.c_void_p,)
_libc.fopen.restype = ctypes.c_void_p
_libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
_libc.fclose.argtypes = (ctypes.c_void_p,)
_libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)


def arenas_after_contention(threads: int = 16, rounds: int = 20_000) -> int:
    """Let `threads` threads malloc and free at once (ctypes calls run without the GIL,
    so they contend for the heap), then count the arenas `malloc_info` reports."""

    def allocate() -> None:
        for _ in range(rounds):
            _libc.free(_libc.malloc(1000))

    workers = [threading.Thread(target=allocate) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    descriptor, path = tempfile.mkstemp(suffix=".xml")
    os.close(descriptor)
    try:
        stream = _libc.fopen(path.encode(), b"w")
        _libc.malloc_info(0, stream)
        _libc.fclose(stream)
        with open(path, encoding="utf-8") as report:
            return len(re.findall(r"<heap nr=", report.read()))
    finally:
        os.unlink(path)
