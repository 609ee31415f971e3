"""The client and the command line against a server that needs access tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import CLIENT_LAB, create_token, labthings
from served import ServedLab

from labthings.client import AccessDenied, LabClient, ThingClient


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedLab, dict[str, str]]]:
    folder: Path = tmp_path_factory.mktemp("data")
    tokens = {
        "read": create_token(folder, "reader", "read"),
        "control": create_token(folder, "alice", "control"),
    }
    served = ServedLab(CLIENT_LAB, extra=["--data-dir", str(folder)])
    try:
        yield served, tokens
    finally:
        served.stop()


def test_without_a_token_the_client_is_told_to_give_one(
    secured: tuple[ServedLab, dict[str, str]],
) -> None:
    lab, _ = secured
    with pytest.raises(AccessDenied) as caught:
        ThingClient.from_url(f"{lab.url}calc/")
    assert caught.value.status == 401
    assert "give an access token" in str(caught.value)


def test_a_read_token_reads_and_watches_but_may_not_write_or_invoke(
    secured: tuple[ServedLab, dict[str, str]],
) -> None:
    lab, tokens = secured
    with ThingClient.from_url(f"{lab.url}calc/", token=tokens["read"]) as calc:
        assert calc.answer == 42
        assert "bearer" in calc.td.security
        with calc.observe_property("value") as values:
            assert isinstance(next(values), float)
        for attempt in (lambda: setattr(calc, "value", 1.0), lambda: calc.add(1, 2)):
            with pytest.raises(AccessDenied) as caught:
                attempt()
            assert caught.value.status == 403


def test_a_control_token_invokes_and_follows_the_invocation(
    secured: tuple[ServedLab, dict[str, str]],
) -> None:
    lab, tokens = secured
    with LabClient.from_url(lab.url, token=tokens["control"]) as server:
        invocation = server["slow"].sleep(seconds=0.3)
        assert invocation.wait(timeout=20) == "slept"
        assert invocation.record["requestedBy"] == "alice"


def test_the_command_line_takes_the_token_from_an_option_or_the_environment(
    secured: tuple[ServedLab, dict[str, str]],
) -> None:
    lab, tokens = secured
    refused = labthings("get", lab.url, "calc", "answer", env={"LABTHINGS_TOKEN": ""})
    assert refused.returncode == 5, refused.stderr
    assert "401" in refused.stderr and "--token or LABTHINGS_TOKEN" in refused.stderr
    by_option = labthings("get", lab.url, "calc", "answer", "--token", tokens["read"])
    assert (by_option.returncode, by_option.stdout) == (0, "42\n")
    by_environment = labthings(
        "call", lab.url, "calc", "add", "a=1", "b=2", env={"LABTHINGS_TOKEN": tokens["control"]}
    )
    assert (by_environment.returncode, by_environment.stdout) == (0, "3.0\n")
    read_only = labthings("set", lab.url, "calc", "value", "2", "--token", tokens["read"])
    assert read_only.returncode == 5 and "403" in read_only.stderr
