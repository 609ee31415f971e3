"""`labthings serve --mdns` advertises over DNS-SD and `labthings discover`, run as another
process, finds it with its Things; the records go when the server stops.

The servers listen on loopback, so they are advertised on this PC only. Skipped only
where multicast DNS does not work here, found out by trying it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from served import ROOT, SUPPORT, ServedLab
from tokens_for_tests import create_token

from labthings.client import Lab, LabClient, NotOffered, ThingClient
from labthings.discovery import discover
from labthings.discovery.advertise import AdvertiseError, Advertiser

DEMO = ROOT / "examples" / "microscope.py"
_ADVERTISED = "advertised over mDNS as"


@pytest.fixture(scope="module")
def multicast() -> None:
    """Skip unless a record advertised on loopback is heard by a browser here."""
    probe = Advertiser(title="labthings multicast probe", description="", host="127.0.0.1", port=9)
    try:
        name = probe.start()
        heard = any(server.name == name for server in discover(2.0))
    except (AdvertiseError, OSError) as error:
        pytest.skip(f"multicast DNS is unavailable here: {error}")
    finally:
        probe.close()
    if not heard:
        pytest.skip(
            "multicast DNS is unavailable here: a record advertised on loopback went unheard"
        )


def advertised(lab: ServedLab, timeout: float = 20) -> str:
    """The line in which `lab` said it was advertised (waiting for it, bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in lab.lines:
            if _ADVERTISED in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"the server did not say it was advertised:\n{lab.output}")


def discover_command(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labthings", "discover", "--timeout", "3", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def demo(multicast: None) -> Iterator[ServedLab]:
    lab = ServedLab(f"{DEMO}:labthing", extra=["--mdns"])
    try:
        yield lab
    finally:
        lab.stop()


def ours(listed: list[dict[str, Any]], lab: ServedLab) -> dict[str, Any]:
    [server] = [server for server in listed if server["url"] == lab.url]
    return server


def test_discover_finds_the_server_and_its_things(demo: ServedLab) -> None:
    line = advertised(demo)
    assert "on this PC only" in line and "_wot._tcp" in line and "_labthing._tcp" in line
    found = discover_command("--json")
    assert found.returncode == 0, found.stderr
    server = ours(json.loads(found.stdout), demo)
    assert server["name"].startswith("Demo microscope on ")
    assert server["title"] == "Demo microscope" and server["error"] is None
    assert sorted(server["services"]) == ["_labthing", "_wot"]  # both records, one server
    things = {thing["name"]: thing["url"] for thing in server["things"]}
    served = requests.get(demo.url, timeout=5).json()["things"]
    assert things == {name: f"{demo.url}{name}/" for name in served}
    readable = discover_command()
    assert readable.returncode == 0
    assert f"{server['name']}  {demo.url}" in readable.stdout
    stage = re.escape(f"{demo.url}stage/")
    assert re.search(rf"^  stage +XY stage +{stage}$", readable.stdout, re.MULTILINE)


def test_two_servers_of_one_title_are_both_found(demo: ServedLab) -> None:
    other = ServedLab(f"{DEMO}:labthing", extra=["--mdns"])
    try:
        advertised(other)
        advertised(demo)
        listed = [server for server in discover(3.0) if server.title == "Demo microscope"]
        names = {server.url: server.name for server in listed}
        assert {demo.url, other.url} <= set(names)
        assert names[other.url] == f"{names[demo.url]} (2)"  # the second got a number
    finally:
        assert other.stop() == 0, other.output
    # Its records went with it: a browser started now hears only the first.
    still = {server.url for server in discover(2.0)}
    assert demo.url in still and other.url not in still


def test_a_server_needing_a_token_is_listed_and_its_things_with_the_token(
    multicast: None, tmp_path: Path
) -> None:
    token = create_token(tmp_path, "finder", "read")
    target = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
    lab = ServedLab(target, extra=["--mdns", "--data-dir", str(tmp_path)])
    try:
        advertised(lab)
        [locked] = [server for server in discover(3.0) if server.url == lab.url]
        assert locked.things == () and locked.error is not None and "token" in locked.error
        [opened] = [server for server in discover(3.0, token=token) if server.url == lab.url]
        assert [thing.name for thing in opened.things] == ["calc", "slow", "recorder"]
    finally:
        assert lab.stop() == 0, lab.output


def test_a_client_is_built_from_an_advertised_name(demo: ServedLab) -> None:
    name = ours([vars(found) for found in discover(3.0)], demo)["name"]
    began = time.monotonic()
    # By its instance name, the lookup ends when the server answers, not after `search`.
    with ThingClient.from_name(name, "stage", search=60) as stage:
        assert stage.position == requests.get(f"{demo.url}stage/properties/position").json()
    with LabClient.from_name(name, search=60) as lab:
        assert lab.url == demo.url and "stage" in lab.things
    assert time.monotonic() - began < 30
    with pytest.raises(NotOffered, match="serves no Thing 'nothing'"):
        ThingClient.from_name(name, "nothing")
    with pytest.raises(NotOffered, match="no server named 'no such lab'"):
        LabClient.from_name("no such lab", search=1.0)


def test_a_lab_of_the_servers_discovered_names_each_by_its_advertised_name(
    demo: ServedLab,
) -> None:
    target = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
    other = ServedLab(target, extra=["--mdns", "--ephemeral"])
    try:
        advertised(other)
        advertised(demo)
        with Lab.discover(3.0) as lab:
            by_url = {server.url: name for name, server in lab.servers.items()}
            assert {demo.url, other.url} <= set(by_url)
            demo_name, other_name = by_url[demo.url], by_url[other.url]
            assert demo_name.startswith("Demo microscope on ")
            assert other_name.startswith("Test lab on ")
            assert {f"{demo_name}/stage", f"{other_name}/slow"} <= set(lab.things)
            calls = [
                (f"{demo_name}/light", "toggle", {}),
                (f"{other_name}/calc", "add", {"a": 1, "b": 2}),
            ]
            with lab.start(calls) as group:
                outcomes = group.wait(30)
        assert outcomes[f"{other_name}/calc.add"].output == 3
        assert isinstance(outcomes[f"{demo_name}/light.toggle"].output, bool)
    finally:
        assert other.stop() == 0, other.output
