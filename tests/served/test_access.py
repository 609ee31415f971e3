"""Access tokens end to end: `labthings token create/list/revoke` in subprocesses, and a
served lab that needs them, sees a revocation at once, never logs them, refuses to serve
a non-loopback address without them, and says when anyone on this PC can use it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from served import SUPPORT, ServedLab, run_labthings
from sse import collect

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
OPEN_WARNING = "anyone on this PC can control the instruments"


def create(folder: Path, name: str, scope: str) -> str:
    result = run_labthings("token", "create", name, "--scope", scope, "--data-dir", str(folder))
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def tokens(folder: Path) -> dict[str, str]:
    return {"read": create(folder, "reader", "read"), "control": create(folder, "alice", "control")}


@pytest.fixture
def lab(folder: Path, tokens: dict[str, str]) -> Iterator[ServedLab]:
    served = ServedLab(TARGET, extra=["--data-dir", str(folder), "--log-level", "debug"])
    try:
        yield served
    finally:
        served.stop()


def test_token_create_prints_the_token_last_and_stores_only_its_hash(folder: Path) -> None:
    result = run_labthings(
        "token", "create", "alice", "--scope", "control", "--data-dir", str(folder)
    )
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    token = lines[-1]
    assert re.fullmatch(r"lt_[A-Za-z0-9_-]{43}", token)
    assert "control token 'alice'" in lines[0] and str(folder) in lines[0]
    stored = (folder / "tokens.json").read_text(encoding="utf-8")
    assert token not in stored and "alice" in stored


def test_token_list_shows_names_scopes_and_dates_only(folder: Path) -> None:
    empty = run_labthings("token", "list", "--data-dir", str(folder))
    assert empty.returncode == 0 and "No access tokens" in empty.stdout
    create(folder, "alice", "control")
    create(folder, "notebook-1", "read")
    result = run_labthings("token", "list", "--data-dir", str(folder))
    assert result.returncode == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "SCOPE", "CREATED"]
    assert [row.split()[:2] for row in rows] == [["alice", "control"], ["notebook-1", "read"]]
    hashes = [t["sha256"] for t in json.loads((folder / "tokens.json").read_text())["tokens"]]
    assert not any(digest in result.stdout for digest in hashes)


def test_token_revoke_and_its_mistakes(folder: Path) -> None:
    create(folder, "alice", "read")
    again = run_labthings("token", "create", "alice", "--scope", "read", "--data-dir", str(folder))
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"labthings: there is already a token named 'alice' in {folder / 'tokens.json'}; "
        "revoke it first or choose another name"
    ]
    revoked = run_labthings("token", "revoke", "alice", "--data-dir", str(folder))
    assert revoked.returncode == 0 and "Revoked the read token 'alice'" in revoked.stdout
    missing = run_labthings("token", "revoke", "alice", "--data-dir", str(folder))
    assert missing.returncode == 1 and "no token named 'alice'" in missing.stderr
    no_scope = run_labthings("token", "create", "bob", "--data-dir", str(folder))
    assert no_scope.returncode == 2 and "--scope" in no_scope.stderr


def test_the_data_dir_defaults_to_the_environments(folder: Path) -> None:
    env = {**os.environ, "LABTHINGS_DATA_DIR": str(folder)}
    result = subprocess.run(
        [sys.executable, "-m", "labthings", "token", "create", "alice", "--scope", "read"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 0
    assert (folder / "tokens.json").is_file()


def test_a_served_lab_needs_a_token(lab: ServedLab, folder: Path, tokens: dict[str, str]) -> None:
    refused = requests.get(f"{lab.url}calc/properties/value", timeout=5)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.headers["Content-Type"] == "application/problem+json"
    for path in ("", "calc/", "calc/properties/value", "actions", "docs/openapi.json"):
        response = requests.get(lab.url + path, headers=bearer(tokens["read"]), timeout=5)
        assert response.status_code == 200, path
    for path in ("ui/", "ui/app.js", "docs/", "docs/static/swagger-ui.css"):
        assert requests.get(lab.url + path, timeout=5).status_code == 200, path
    write = requests.put(
        f"{lab.url}calc/properties/value", json=2.5, headers=bearer(tokens["read"]), timeout=5
    )
    assert write.status_code == 403
    record = requests.post(
        f"{lab.url}calc/actions/add",
        json={"a": 1, "b": 2},
        headers=bearer(tokens["control"]),
        timeout=5,
    ).json()
    assert record["output"] == 3 and record["requestedBy"] == "alice"
    assert f"access tokens from {folder / 'tokens.json'}: every request needs one" in lab.output
    assert OPEN_WARNING not in lab.output


def test_a_revoked_token_is_refused_at_once(
    lab: ServedLab, folder: Path, tokens: dict[str, str]
) -> None:
    url = f"{lab.url}calc/properties/value"
    assert requests.get(url, headers=bearer(tokens["read"]), timeout=5).status_code == 200
    assert run_labthings("token", "revoke", "reader", "--data-dir", str(folder)).returncode == 0
    assert requests.get(url, headers=bearer(tokens["read"]), timeout=5).status_code == 401
    assert requests.get(url, headers=bearer(tokens["control"]), timeout=5).status_code == 200
    new = create(folder, "late", "read")  # and a new one works at once
    assert requests.get(url, headers=bearer(new), timeout=5).status_code == 200


def test_streams_take_the_token_from_the_query_and_it_is_never_logged(
    lab: ServedLab, tokens: dict[str, str]
) -> None:
    url = f"{lab.url}calc/properties/value/events"
    assert requests.get(url, timeout=5).status_code == 401
    got = collect(f"{url}?access_token={tokens['read']}", lambda message: True)
    assert got[0].event == "value"
    requests.get(f"{lab.url}calc/", headers=bearer(tokens["read"]), timeout=5)
    deadline = time.monotonic() + 10
    while "GET /calc/ 200" not in lab.output and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "access_token=[hidden]" in lab.output
    for token in tokens.values():
        assert token not in lab.output


def test_no_tokens_on_loopback_is_open_and_says_so_once(folder: Path) -> None:
    lab = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        assert requests.get(f"{lab.url}calc/properties/value", timeout=5).status_code == 200
    finally:
        assert lab.stop() == 0
    warnings = [line for line in lab.lines if OPEN_WARNING in line]
    assert len(warnings) == 1 and " WARNING " in warnings[0]
    assert lab.output.index("serving ") < lab.output.index(OPEN_WARNING)  # once it is up


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "lab-pc.example"])
def test_no_tokens_on_another_address_refuses_to_start(folder: Path, host: str) -> None:
    result = run_labthings(
        "serve", TARGET, "--host", host, "--port", "0", "--data-dir", str(folder)
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"labthings: refusing to serve on {host} without access tokens")
    assert "labthings token create" in line and "--no-auth" in line


def test_no_auth_checks_no_token(folder: Path, tokens: dict[str, str]) -> None:
    lab = ServedLab(TARGET, extra=["--data-dir", str(folder), "--no-auth"])
    try:
        assert requests.get(f"{lab.url}calc/properties/value", timeout=5).status_code == 200
        td = requests.get(f"{lab.url}calc/", timeout=5).json()
        assert td["security"] == ["nosec_sc"]
    finally:
        lab.stop()
    assert "access tokens are not checked (--no-auth)" in lab.output


def test_cors_origins_and_allowed_hosts_from_the_command_line(folder: Path) -> None:
    lab = ServedLab(
        TARGET,
        extra=[
            "--data-dir",
            str(folder),
            "--cors-origin",
            "https://notebooks.example.org",
            "--allowed-host",
            "microscope.lab.example",
        ],
    )
    try:
        url = f"{lab.url}calc/properties/value"
        allowed = requests.get(url, headers={"Origin": "https://notebooks.example.org"}, timeout=5)
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://notebooks.example.org"
        other = requests.get(url, headers={"Origin": "https://evil.example"}, timeout=5)
        assert "Access-Control-Allow-Origin" not in other.headers
        named = requests.get(url, headers={"Host": "microscope.lab.example:7485"}, timeout=5)
        assert named.status_code == 200
        forged = requests.get(url, headers={"Host": "evil.example"}, timeout=5)
        assert forged.status_code == 421
        cross_site = requests.post(
            f"{lab.url}calc/actions/add", headers={"Sec-Fetch-Site": "cross-site"}, timeout=5
        )
        assert cross_site.status_code == 403
    finally:
        lab.stop()


def test_a_bad_cors_origin_is_one_line_and_exit_2(folder: Path) -> None:
    result = run_labthings("serve", TARGET, "--port", "0", "--cors-origin", "*", "--no-auth")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("labthings: '*' is not an origin")
