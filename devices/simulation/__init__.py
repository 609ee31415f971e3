"""Simulated instruments that speak their real command sets over a serial-like link.

A `Simulator` subclass answers command lines like the instrument would, keeps state,
takes realistic time, and can be told to misbehave (`inject(Fault...)`, `unplug()`).
Drivers reach one in-process through a pyserial URL (`sim://stage` makes a new stage
simulator for that port object, which a reconnection reopens, as it would a real port;
`simulator.url` reaches that very instance) or, through `PtyBridge`, over a real
pseudo-terminal as an ordinary serial port path.
"""

from __future__ import annotations

import enum
import importlib
import itertools
import queue
import threading
import time
import weakref
from collections import deque
from typing import ClassVar

import serial

__all__ = ["LATE_REPLY_SECONDS", "Fault", "Session", "Simulator", "simulator_for_url"]

LATE_REPLY_SECONDS = 2.0
"""How late a `Fault.LATE_REPLY` comes unless `inject` says: after a 1 s reply timeout."""

_KINDS: dict[str, type[Simulator]] = {}
_BUILT_IN = {  # kinds that `sim://KIND` can load on first use
    "psu": "devices.power_supply.simulator",
    "stage": "devices.stage.simulator",
    "spectrometer": "devices.spectrometer.simulator",
}
_INSTANCES: weakref.WeakValueDictionary[str, Simulator] = weakref.WeakValueDictionary()
_ids = itertools.count(1)


class Fault(enum.Enum):
    """Ways a simulator can misbehave, each for the next reply."""

    NO_REPLY = "no reply at all"
    GARBAGE_BEFORE = "noise bytes before the reply"
    PARTIAL_LINE = "half a reply and no terminator"
    WRONG_TERMINATOR = "the reply ends with the wrong terminator"
    ERROR_REPLY = "the instrument's own error reply"
    LATE_REPLY = "the right reply, but late; later commands wait behind it"


class Simulator:
    """Base class: subclasses set `kind` and implement `handle(command)`.

    `handle` runs in the session's worker thread, one command at a time, under the
    simulator's lock; it may sleep to take the instrument's time. It returns the reply
    line (without terminator) or None for commands that have no reply.
    """

    kind: ClassVar[str] = ""
    read_terminator: ClassVar[str] = "\n"
    write_terminator: ClassVar[str] = "\n"
    encoding: ClassVar[str] = "ascii"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__ and cls.kind:  # a subclass that inherits a kind keeps off it
            _KINDS[cls.kind] = cls

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.id = f"{self.kind}-{next(_ids)}"
        self.commands: list[str] = []
        """Every command line received, in order (for tests)."""
        self._faults: deque[tuple[Fault, float]] = deque()  # (fault, delay of a late reply)
        self._plugged = True
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        _INSTANCES[self.id] = self

    @property
    def url(self) -> str:
        """The pyserial URL that connects to this very instance."""
        return f"sim://{self.kind}/{self.id}"

    def handle(self, command: str) -> str | None:
        """The reply to one command line (None: no reply). Override this."""
        raise NotImplementedError

    def error_reply(self, command: str) -> str | None:
        """What the instrument sends for an error (None: nothing); used by `Fault.ERROR_REPLY`."""
        return "ERROR"

    def inject(self, fault: Fault, count: int = 1, *, delay: float = LATE_REPLY_SECONDS) -> None:
        """Misbehave in the given way for the next `count` replies.

        A `LATE_REPLY` is sent `delay` seconds after its command was carried out; like
        a busy instrument, the simulator takes no other command meanwhile.
        """
        if delay < 0:
            raise ValueError(f"delay must be >= 0 s, not {delay}")
        with self.lock:
            self._faults.extend([(fault, delay)] * count)

    def unplug(self) -> None:
        """Drop every connection; new ones fail until `plug_in()`."""
        with self.lock:
            self._plugged = False
            sessions = list(self._sessions)
        for session in sessions:
            session.disconnect()

    def plug_in(self) -> None:
        """Accept connections again."""
        with self.lock:
            self._plugged = True

    def connect(self) -> Session:
        """A new link to this simulator; SerialException while unplugged."""
        with self.lock:
            if not self._plugged:
                raise serial.SerialException(f"{self.id} is unplugged")
            session = Session(self)
            self._sessions.add(session)
            return session

    def respond(self, line: str) -> bytes:
        """The bytes sent back for one received line, faults applied (a late reply is
        waited for here, outside the lock)."""
        with self.lock:
            self.commands.append(line)
            fault, delay = self._faults.popleft() if self._faults else (None, 0.0)
            reply = self.error_reply(line) if fault is Fault.ERROR_REPLY else self.handle(line)
        if fault is Fault.LATE_REPLY:
            time.sleep(delay)
        if reply is None or fault is Fault.NO_REPLY:
            return b""
        data = reply.encode(self.encoding)
        end = self.write_terminator.encode(self.encoding)
        if fault is Fault.GARBAGE_BEFORE:
            return b"\x00\xff#~" + data + end
        if fault is Fault.PARTIAL_LINE:
            return data[: max(1, len(data) // 2)]
        if fault is Fault.WRONG_TERMINATOR:
            return data + (b"\r" if end != b"\r" else b"\n")
        return data + end


class Session:
    """One open link to a simulator: bytes in, lines handled in order, bytes out."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._terminator = simulator.read_terminator.encode(simulator.encoding)
        self._incoming = bytearray()
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._output = bytearray()
        self._changed = threading.Condition()
        self._open = True
        self._worker = threading.Thread(target=self._work, name=f"sim-{simulator.id}", daemon=True)
        self._worker.start()

    @property
    def is_open(self) -> bool:
        """False once closed or disconnected."""
        return self._open

    def write(self, data: bytes) -> None:
        """Bytes from the host; complete lines are queued for the simulator."""
        if not self._open:
            raise serial.SerialException(f"{self.simulator.id}: link is down")
        self._incoming += data
        while (end := self._incoming.find(self._terminator)) >= 0:
            line, self._incoming = (
                self._incoming[:end],
                self._incoming[end + len(self._terminator) :],
            )
            self._lines.put(bytes(line))

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes, waiting up to `timeout` for `size` to arrive (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while len(self._output) < size and self._open:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._changed.wait(remaining)
            if not self._open and not self._output:
                raise serial.SerialException(f"{self.simulator.id}: link is down")
            data = bytes(self._output[:size])
            del self._output[:size]
            return data

    def waiting(self) -> int:
        """How many bytes are ready to read."""
        return len(self._output)

    def clear_output(self) -> None:
        """Discard bytes the host has not read (the host's input buffer)."""
        with self._changed:
            self._output.clear()

    def close(self) -> None:
        """End the link (the host closed the port)."""
        with self._changed:
            self._open = False
            self._changed.notify_all()
        self._lines.put(None)

    disconnect = close

    def _work(self) -> None:
        encoding = self.simulator.encoding
        while (line := self._lines.get()) is not None:
            try:
                reply = self.simulator.respond(line.decode(encoding, errors="replace"))
            except Exception as error:  # a simulator bug must not hang the host
                reply = f"SIMULATOR FAILURE {error}\n".encode(encoding, errors="replace")
            if reply:
                with self._changed:
                    self._output += reply
                    self._changed.notify_all()


def simulator_for_url(url: str) -> Simulator:
    """The simulator a `sim://KIND` (new instance) or `sim://KIND/ID` URL names."""
    rest = url.split("://", 1)[-1].split("?", 1)[0].strip("/")
    kind, _, instance = rest.partition("/")
    if instance:
        try:
            return _INSTANCES[instance]
        except KeyError:
            raise serial.SerialException(f"no simulator {instance!r} is running") from None
    if kind not in _KINDS and kind in _BUILT_IN:
        importlib.import_module(_BUILT_IN[kind])
    try:
        return _KINDS[kind]()
    except KeyError:
        known = ", ".join(sorted(_KINDS)) or "none loaded"
        raise serial.SerialException(f"unknown simulator kind {kind!r} (known: {known})") from None
