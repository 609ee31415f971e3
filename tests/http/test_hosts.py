"""A `Host` that is not the server's is 421 (DNS rebinding); its own names and addresses,
and those allowed with --allowed-host, are served."""

from __future__ import annotations

import socket

import pytest
from flask.testing import FlaskClient
from lab_for_tests import make_labthing

from labthings import ConfigurationError, LabThing


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:7485",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "lab-pc.example",
    ],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/calc/"), ("POST", "/calc/actions/add")])
def test_other_names_are_misdirected(
    client: FlaskClient, host: str, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={"a": 1, "b": 2}, headers={"Host": host})
    assert response.status_code == 421
    assert response.mimetype == "application/problem+json"
    assert "--allowed-host" in response.get_json()["detail"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:7485",
        "10.1.2.3:80",
        "[::1]:7485",
        "[fe80::1]",
        "localhost",
        "LOCALHOST:7485",
        "localhost.",
        socket.gethostname(),
        f"{socket.gethostname()}:7485",
        socket.getfqdn(),
    ],
)
def test_the_servers_own_names_and_any_address_are_served(client: FlaskClient, host: str) -> None:
    assert client.get("/calc/properties/value", headers={"Host": host}).status_code == 200


def test_allowed_hosts_are_served(labthing: LabThing) -> None:
    labthing.configure_access(allowed_hosts=["Microscope.Lab.Example.", "proxy-1"])
    client = labthing.create_app().test_client()
    for host in ("microscope.lab.example", "microscope.lab.example:443", "proxy-1:8080"):
        assert client.get("/calc/", headers={"Host": host}).status_code == 200
    assert client.get("/calc/", headers={"Host": "lab.example"}).status_code == 421


@pytest.mark.parametrize("name", ["http://lab.example", "lab.example:80", "a b", "", "lab..x"])
def test_allowed_hosts_must_be_names(name: str) -> None:
    with pytest.raises(ConfigurationError, match="is not a host name"):
        make_labthing().configure_access(allowed_hosts=[name])


def test_access_is_configured_before_the_app_is_built(labthing: LabThing) -> None:
    labthing.create_app()
    with pytest.raises(ConfigurationError, match="after the app has been built"):
        labthing.configure_access(allowed_hosts=["lab.example"])


def test_no_host_is_400_on_http_1_1_and_served_on_http_1_0(client: FlaskClient) -> None:
    missing = client.get("/calc/properties/value", environ_overrides={"HTTP_HOST": ""})
    assert missing.status_code == 400 and "Host" in missing.get_json()["detail"]
    old = client.get(
        "/calc/properties/value",
        environ_overrides={"HTTP_HOST": "", "SERVER_PROTOCOL": "HTTP/1.0"},
    )
    assert old.status_code == 200


def test_two_hosts_are_400(client: FlaskClient) -> None:
    response = client.get("/calc/", headers={"Host": "127.0.0.1, evil.example"})
    assert response.status_code == 400 and "one Host" in response.get_json()["detail"]
