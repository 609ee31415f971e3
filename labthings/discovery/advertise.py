"""Advertise a running server over multicast DNS (DNS-SD) while it serves.

`labthings serve --mdns` registers the two services of `records.py` on the address it
listens on: a server on a loopback address is advertised on this PC only (nothing
leaves it), one on 0.0.0.0 on every network interface with each non-loopback IPv4
address, one on a given address with that address. `close()` withdraws the records
(goodbye packets, so browsers forget the server at once).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import re
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import ifaddr
from zeroconf import Error as ZeroconfError
from zeroconf import InterfaceChoice, IPVersion, ServiceInfo, Zeroconf

from labthings.discovery.records import (
    SERVICE_TYPES,
    instance_name,
    numbered_name,
    txt_records,
)

__all__ = ["AdvertiseError", "Advertiser", "advertised_addresses"]

_LOOPBACK = "127.0.0.1"
_REGISTER_WAIT = 15.0  # seconds: probing and announcing take about two
_ASK_WAIT_MS = 250  # for an answer to "who has this name?" (on one PC it takes 1 ms)
_NUMBERS_TRIED = 20
_T = TypeVar("_T")


class AdvertiseError(Exception):
    """The server could not be advertised (no usable network, or multicast refused)."""


def advertised_addresses(host: str) -> tuple[list[str], bool]:
    """(IPv4 addresses to advertise, whether on this PC only) for a server listening on
    `host`. Raises AdvertiseError if `host` leaves nothing to advertise."""
    if host in ("", "0.0.0.0", "::"):
        found = [
            address.ip
            for adapter in ifaddr.get_adapters()
            for address in adapter.ips
            if isinstance(address.ip, str) and not address.ip.startswith("127.")
        ]
        if not found:
            raise AdvertiseError("this PC has no network address besides loopback")
        return sorted(set(found), key=found.index), False
    try:
        resolved = {
            str(info[4][0]) for info in socket.getaddrinfo(host, None, family=socket.AF_INET)
        }
    except OSError as error:
        raise AdvertiseError(f"cannot resolve {host!r} to an IPv4 address: {error}") from error
    if all(ipaddress.ip_address(address).is_loopback for address in resolved):
        return [_LOOPBACK], True
    return sorted(resolved), False


async def _taken(zeroconf: Zeroconf, name: str) -> bool:
    """Whether a responder answers for instance `name` of either service."""
    infos = [ServiceInfo(service, f"{name}.{service}") for service in SERVICE_TYPES]
    answers = await asyncio.gather(*(info.async_request(zeroconf, _ASK_WAIT_MS) for info in infos))
    return any(answers)


async def _free_name(zeroconf: Zeroconf, name: str) -> str:
    """`name`, or the first of `name (2)`, `name (3)`... that no responder answers for.

    Asked from a unicast (ephemeral port) instance, whose answers come straight back to
    it: probing from port 5353 alone misses a server on the same PC, as several sockets
    share that port and the kernel hands a unicast answer to any one of them.
    """
    for candidate in [name] + [numbered_name(name, n) for n in range(2, _NUMBERS_TRIED + 1)]:
        if not await _taken(zeroconf, candidate):
            return candidate
    return name  # zeroconf's own probing renames it as a last resort


def _run(zeroconf: Zeroconf, work: Coroutine[Any, Any, _T]) -> _T:
    """Run `work` in `zeroconf`'s own event loop (a thread of its own), for at most
    `_REGISTER_WAIT` seconds (concurrent.futures.TimeoutError past that)."""
    assert zeroconf.loop is not None  # set once the instance is made
    running = asyncio.run_coroutine_threadsafe(work, zeroconf.loop)
    try:
        return running.result(_REGISTER_WAIT)
    finally:
        running.cancel()  # nothing if it finished


async def _register(zeroconf: Zeroconf, infos: list[ServiceInfo]) -> None:
    """Register every service at once (each probe for its name takes over a second)."""
    announcing = await asyncio.gather(
        *(zeroconf.async_register_service(info, allow_name_change=True) for info in infos)
    )
    await asyncio.gather(*announcing)


class Advertiser:
    """The DNS-SD records of one server: `start()` registers them, `close()` (safe to
    call twice, or without a start) withdraws them."""

    def __init__(self, *, title: str, description: str, host: str, port: int) -> None:
        self.title = title
        self.description = description
        self.host = host
        self.port = port
        self.name = ""
        """The instance name registered (with a number if another server had it)."""
        self.local_only = False
        self._zeroconf: Zeroconf | None = None

    def start(self) -> str:
        """Register both services; returns the instance name. Raises AdvertiseError."""
        addresses, self.local_only = advertised_addresses(self.host)
        interfaces = [_LOOPBACK] if self.local_only else InterfaceChoice.All
        hostname = socket.gethostname().split(".")[0] or "labthings"
        server = f"{re.sub(r'[^a-z0-9-]+', '-', hostname.lower())}-labthings-{self.port}.local."
        try:
            asking = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only, unicast=True)
            try:
                name = _run(asking, _free_name(asking, instance_name(self.title, hostname)))
            finally:
                asking.close()
            infos = [
                ServiceInfo(
                    service,
                    f"{name}.{service}",
                    port=self.port,
                    properties=txt_records(service, self.title, self.description),
                    parsed_addresses=addresses,
                    server=server,
                )
                for service in SERVICE_TYPES
            ]
            self._zeroconf = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
            _run(self._zeroconf, _register(self._zeroconf, infos))
        except (OSError, ZeroconfError, concurrent.futures.TimeoutError) as error:
            self.close()
            reason = str(error) or type(error).__name__
            raise AdvertiseError(f"multicast DNS refused: {reason}") from error
        self.name = infos[0].name[: -len(SERVICE_TYPES[0]) - 1]
        return self.name

    def close(self) -> None:
        """Withdraw the records (goodbye packets) and stop answering queries."""
        zeroconf, self._zeroconf = self._zeroconf, None
        if zeroconf is not None:
            zeroconf.unregister_all_services()
            zeroconf.close()
