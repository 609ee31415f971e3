"""Finding labthings servers on the local network (DNS-SD over multicast DNS).

`discover(timeout)` lists the servers that answer, each with its Things; `labthings
serve --mdns` makes a server answer (`advertise.py`); `records.py` says what the
records hold (W3C WoT Discovery's `_wot._tcp` and python-labthings' `_labthing._tcp`).
"""

from labthings.discovery.browse import DiscoveryError, Found, FoundThing, discover

__all__ = ["DiscoveryError", "Found", "FoundThing", "discover"]
