"""Discovery without the network: what the DNS-SD records hold, how a record leads back to
a server, and the clear messages when multicast DNS cannot be used (WoT Discovery).

tests/served/test_mdns.py advertises and discovers between real processes."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from served import ROOT

from labthings.discovery import DiscoveryError, Found, FoundThing, advertise, browse, discover
from labthings.discovery.records import (
    LABTHING_SERVICE,
    WOT_SERVICE,
    instance_name,
    numbered_name,
    root_path,
    txt_records,
)
from labthings.serving import discover_command, server
from labthings.serving.cli import main


def test_the_wot_record_leads_to_the_servers_own_td() -> None:
    txt = txt_records(WOT_SERVICE, "Demo microscope", "Simulated instruments")
    assert txt == {"td": "/.well-known/wot", "type": "Thing", "scheme": "http"}
    assert root_path(WOT_SERVICE, txt) == "/"
    assert root_path(WOT_SERVICE, {"td": "/lab/.well-known/wot"}) == "/lab/"
    assert root_path(WOT_SERVICE, {**txt, "scheme": "coap+tcp"}) is None
    assert root_path(WOT_SERVICE, {"td": "/my-lamp/td", "type": "Thing"}) is None  # not ours


def test_the_labthing_record_has_a_path_as_python_labthings_does() -> None:
    txt = txt_records(LABTHING_SERVICE, "Demo microscope", "x" * 500)
    assert txt["path"] == "/" and txt["title"] == "Demo microscope"
    assert len(txt["description"].encode()) <= 200  # a TXT string holds 255 bytes
    for path, root in [("", "/"), ("/", "/"), ("/api", "/api/"), ("api/v2/", "/api/v2/")]:
        assert root_path(LABTHING_SERVICE, {"path": path}) == root
    assert root_path(LABTHING_SERVICE, {}) == "/"


def test_instance_names_fit_a_dns_label() -> None:
    assert instance_name("Demo microscope", "lab-pc") == "Demo microscope on lab-pc"
    long = instance_name("Mikroskopie-Labor Süd " * 10, "lab-pc")
    assert len(long.encode()) <= 63 and long.endswith(" on lab-pc")
    long.encode().decode()  # never cut inside a character
    assert numbered_name("Demo microscope on lab-pc", 2) == "Demo microscope on lab-pc (2)"
    second = numbered_name(long, 12)
    assert len(second.encode()) <= 63 and second.endswith(" (12)")
    second.encode().decode()


def test_addresses_follow_where_the_server_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    assert advertise.advertised_addresses("127.0.0.1") == (["127.0.0.1"], True)
    assert advertise.advertised_addresses("localhost") == (["127.0.0.1"], True)
    assert advertise.advertised_addresses("192.0.2.7") == (["192.0.2.7"], False)

    class Ip:
        def __init__(self, ip: Any) -> None:
            self.ip = ip

    class Adapter:
        def __init__(self, *ips: Any) -> None:
            self.ips = [Ip(ip) for ip in ips]

    adapters = [Adapter("127.0.0.1"), Adapter("10.1.2.3", ("fe80::1", 0, 2)), Adapter("10.9.9.9")]
    monkeypatch.setattr(advertise.ifaddr, "get_adapters", lambda: adapters)
    assert advertise.advertised_addresses("0.0.0.0") == (["10.1.2.3", "10.9.9.9"], False)
    monkeypatch.setattr(advertise.ifaddr, "get_adapters", lambda: adapters[:1])
    with pytest.raises(advertise.AdvertiseError, match="no network address"):
        advertise.advertised_addresses("0.0.0.0")


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise OSError(19, "No such device")


def test_blocked_multicast_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(browse, "Zeroconf", _refuse)
    with pytest.raises(DiscoveryError, match="multicast DNS cannot be used here"):
        discover(0.1)
    assert main(["discover", "--timeout", "0.1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labthings: multicast DNS cannot be used here") and "Traceback" not in err


def test_a_server_that_cannot_advertise_says_so_and_serves_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(advertise, "Zeroconf", _refuse)
    probe = advertise.Advertiser(title="Lab", description="", host="127.0.0.1", port=1)
    with pytest.raises(advertise.AdvertiseError, match="multicast DNS refused: .*No such device"):
        probe.start()
    probe.close()  # safe after a failed start, and twice
    probe.close()

    class Lab:
        title, description = "Lab", ""

    with caplog.at_level(logging.WARNING):
        assert server._advertise(Lab(), "127.0.0.1", 1) is None
    assert "not advertised over mDNS: multicast DNS refused" in caplog.text


FOUND = [
    Found(
        "Demo microscope on lab-pc",
        "http://192.0.2.7:7485/",
        "Demo microscope",
        (
            FoundThing("stage", "XY stage", "http://192.0.2.7:7485/stage/"),
            FoundThing("light", "Light", "http://192.0.2.7:7485/light/"),
        ),
        ("_labthing", "_wot"),
    ),
    Found("Locked lab on pc-2", "http://192.0.2.8:7485/", error="it needs an access token"),
]


def test_the_command_lists_servers_and_their_things(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[tuple[float, str | None]] = []

    def found(timeout: float, token: str | None = None) -> list[Found]:
        asked.append((timeout, token))
        return FOUND

    monkeypatch.setattr(discover_command, "discover", found)
    monkeypatch.setenv("LABTHINGS_TOKEN", "from-env")
    assert main(["discover", "--timeout", "1.5"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Demo microscope on lab-pc  http://192.0.2.7:7485/",
        "  stage  XY stage  http://192.0.2.7:7485/stage/",
        "  light  Light     http://192.0.2.7:7485/light/",
        "",
        "Locked lab on pc-2  http://192.0.2.8:7485/",
        "  (its Things could not be listed: it needs an access token)",
    ]
    assert main(["discover", "--json", "--token", "given"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["things"][0] == {
        "name": "stage",
        "title": "XY stage",
        "url": "http://192.0.2.7:7485/stage/",
    }
    assert listed[1]["error"] == "it needs an access token"
    assert asked == [(1.5, "from-env"), (3.0, "given")]
    assert FOUND[0].thing("light").url == "http://192.0.2.7:7485/light/"


def test_nothing_found_says_what_to_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(discover_command, "discover", lambda timeout, token=None: [])
    assert main(["discover", "--timeout", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "labthings serve --mdns" in captured.err
    assert main(["discover", "--timeout", "-1"]) == 2


def test_discovery_needs_no_flask() -> None:
    code = (
        "import sys, labthings.discovery\n"
        "assert 'flask' not in sys.modules and 'werkzeug' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
