"""ThingClient and LabClient against a served lab: properties, actions with progress,
outputs, failures, cancelling, timeouts and event streams."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from client_lab import PNG
from client_support import CLIENT_LAB, closed_port, eventually, record, records
from served import ServedLab

from labthings.client import (
    ClientError,
    InvalidArguments,
    InvalidInput,
    Invocation,
    InvocationCancelled,
    InvocationFailed,
    LabClient,
    NotOffered,
    RequestFailed,
    ServerUnreachable,
    ThingClient,
    WaitTimeout,
)


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(CLIENT_LAB)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def calc(lab: ServedLab) -> Iterator[Any]:
    with ThingClient.from_url(f"{lab.url}calc/") as client:
        yield client


@pytest.fixture
def slow(lab: ServedLab) -> Iterator[Any]:
    with ThingClient.from_url(f"{lab.url}slow/") as client:
        yield client


def test_a_lab_client_lists_the_things_and_makes_their_clients(lab: ServedLab) -> None:
    with LabClient.from_url(lab.url) as server:
        assert server.title == "Test lab"
        assert list(server) == ["calc", "slow", "recorder", "files"]
        assert server.things["calc"]["title"] == "Calculator"
        assert server["calc"] is server.thing("calc")
        assert server["calc"].answer == 42
        with pytest.raises(NotOffered, match="has no thing 'nope'.*calc, slow"):
            server.thing("nope")


def test_a_url_without_a_scheme_means_http(lab: ServedLab) -> None:
    with ThingClient.from_url(lab.url.removeprefix("http://") + "calc") as client:
        assert client.td.title == "Calculator"


def test_properties_read_and_write_as_attributes(calc: Any) -> None:
    calc.value = 2.5
    assert calc.value == 2.5
    assert calc.read_property("value") == 2.5
    assert calc.write_property("free", "text") == "text"  # the value read back
    assert calc.answer == 42


def test_a_value_the_server_refuses_raises_its_422_problem(calc: Any) -> None:
    calc.limited = 3
    with pytest.raises(InvalidInput) as caught:
        calc.limited = 50
    error = caught.value
    assert error.status == 422
    assert error.problem["status"] == 422
    assert "limited" in error.problem["errors"]
    assert "less than or equal to 10" in str(error)
    assert calc.limited == 3


def test_read_only_and_unknown_properties_are_refused_without_a_request(calc: Any) -> None:
    with pytest.raises(AttributeError, match="'answer' of Calculator is read-only"):
        calc.answer = 1
    with pytest.raises(NotOffered, match="offers no writeproperty .*read-only"):
        calc.write_property("answer", 1)
    with pytest.raises(AttributeError, match="no property 'valu' to set"):
        calc.valu = 1
    with pytest.raises(NotOffered, match="no property 'valu'"):
        calc.read_property("valu")


def test_a_failing_property_read_is_the_servers_500(calc: Any) -> None:
    with pytest.raises(RequestFailed) as caught:
        _ = calc.broken
    assert caught.value.status == 500
    assert "secret" not in str(caught.value)


def test_actions_are_methods_with_the_declared_arguments(calc: Any, slow: Any) -> None:
    assert str(inspect.signature(calc.add)) == "(a, b)"
    assert str(inspect.signature(slow.sleep)) == "(seconds=0.2)"
    assert calc.add.__doc__ == "Add two numbers at once."
    assert calc.add(1, 2).output == 3
    assert calc.add(a=1.5, b=2).wait() == 3.5
    for value in (0, False, "", [], None):
        assert calc.echo(value).output == value


def test_wrong_arguments_fail_on_the_client_before_any_request(lab: ServedLab, calc: Any) -> None:
    before = len(records(lab.url, action="add"))
    with pytest.raises(InvalidArguments, match="missing a required argument: 'b'"):
        calc.add(1)
    with pytest.raises(InvalidArguments, match="no argument 'c'"):
        calc.add(a=1, b=2, c=3)
    with pytest.raises(InvalidInput, match="b must be a number, not a string") as caught:
        calc.add(1, "2")
    assert caught.value.status is None and caught.value.problem["errors"] == {
        "b": ["must be a number, not a string"]
    }
    with pytest.raises(NotOffered, match="no action 'multiply'"):
        calc.invoke("multiply")
    assert len(records(lab.url, action="add")) == before


def test_an_invocation_reports_progress_as_it_goes(lab: ServedLab, slow: Any) -> None:
    invocation = slow.sleep(seconds=1.0)
    assert isinstance(invocation, Invocation)
    updates = list(invocation)
    progress = [update.progress for update in updates if update.progress is not None]
    assert progress == sorted(progress) and len(set(progress)) >= 5
    assert any(update.message == "step 10" for update in updates)
    assert updates[-1].finished and updates[-1].status == "completed"
    assert [update.finished for update in updates].count(True) == 1
    assert invocation.output == "slept"
    assert (invocation.status, invocation.progress, invocation.message) == (
        "completed",
        100,
        "step 20",
    )
    assert invocation.record["data"] == {"steps": 20}
    assert invocation.estimated_remaining is None  # this server's records have none yet
    assert record(lab.url, invocation.id)["status"] == "completed"


def test_an_action_that_fails_raises_with_its_problem(calc: Any) -> None:
    invocation = calc.fail(message="boom")
    with pytest.raises(InvocationFailed) as caught:
        invocation.wait()
    error = caught.value
    assert isinstance(error, ClientError)
    assert error.problem["type"] == "urn:labthings:problem:action-failed"
    assert "RuntimeError: boom" in error.problem["detail"] and "boom" in str(error)
    assert error.record["status"] == "error"
    assert any("about to fail" in line["message"] for line in error.record["log"])
    with pytest.raises(InvocationFailed):
        _ = invocation.output
    assert invocation.error == error.problem


def test_cancel_stops_the_task_on_the_server(lab: ServedLab, slow: Any) -> None:
    invocation = slow.sleep(seconds=30)
    for update in invocation.updates(timeout=10):
        if update.progress:
            break
    started = time.monotonic()
    invocation.cancel()
    with pytest.raises(InvocationCancelled) as caught:
        invocation.wait(timeout=10)
    assert time.monotonic() - started < 10
    assert caught.value.record["status"] == "cancelled"
    assert record(lab.url, invocation.id)["status"] == "cancelled"
    invocation.cancel()  # a finished invocation: nothing happens


def test_a_wait_with_a_timeout_raises_and_leaves_the_task_running(
    lab: ServedLab, slow: Any
) -> None:
    invocation = slow.sleep(seconds=20)
    try:
        started = time.monotonic()
        with pytest.raises(WaitTimeout, match="still running") as caught:
            invocation.wait(timeout=0.5)
        assert isinstance(caught.value, TimeoutError)
        assert 0.5 <= time.monotonic() - started < 5
        assert record(lab.url, invocation.id)["status"] == "running"
        # A silent action too: the wait ends at its timeout, not at the next message.
        with pytest.raises(WaitTimeout):
            slow.nap(seconds=5).wait(timeout=0.3)
    finally:
        invocation.cancel()


def test_outputs_served_by_link_are_fetched(lab: ServedLab) -> None:
    with ThingClient.from_url(f"{lab.url}files/") as files:
        assert files.snapshot().output == PNG
        assert files.numbers(count=20_000).output == list(range(20_000))
        # Names that ThingClient uses itself are reached by name.
        assert files.invoke("close").output == "closed"
        assert files.read_property("td").startswith("a property")
        assert files.td.title == "Files"


def test_property_changes_arrive_through_an_iterator(calc: Any) -> None:
    calc.limited = 1
    with calc.observe_property("limited") as changes:
        assert next(changes) == 1  # the value now
        calc.limited = 2
        calc.limited = 3
        assert [next(changes), next(changes)] == [2, 3]


def test_events_arrive_through_a_callback(calc: Any) -> None:
    got: list[Any] = []
    arrived = threading.Event()

    def heard(value: Any) -> None:
        got.append(value)
        arrived.set()

    stream = calc.subscribe_event("announced", heard)
    try:
        # The subscription opens on the callback's thread: announce until it is heard.
        eventually(lambda: calc.announce(text="hello").wait() is None and arrived.wait(0.2))
    finally:
        stream.close()
    assert got and set(got) == {"hello"} and stream.error is None


def test_an_unreachable_server_says_so(lab: ServedLab) -> None:
    port = closed_port()
    with pytest.raises(ServerUnreachable, match=rf"no server answers at http://127.0.0.1:{port}"):
        LabClient.from_url(f"http://127.0.0.1:{port}/")
    with pytest.raises(ServerUnreachable, match="connection refused"):
        ThingClient.from_url(f"127.0.0.1:{port}/calc/")
