"""`labthings call|get|set|watch|describe` run as a user runs them (subprocesses): the
progress bar on a terminal, `--json`, Ctrl-C cancelling the remote task, every exit
status."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator

import pytest
import requests
from client_support import CLIENT_LAB, Running, closed_port, labthings, record, records
from served import ServedLab

from labthings.client.cli import EXIT_STATUSES


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(CLIENT_LAB, extra=["--ephemeral"])
    try:
        yield served
    finally:
        served.stop()


def test_call_shows_a_progress_bar_on_a_terminal_then_the_output(lab: ServedLab) -> None:
    running = Running("call", lab.url, "slow", "sleep", "seconds=1.5", terminal=True)
    assert running.finish() == 0
    screen = running.terminal_output
    bars = re.findall(r"slow\.sleep +(\d+)%\|[^|]*\| ([^\r\n]*)", screen)
    percents = [int(percent) for percent, _ in bars]
    assert len(set(percents)) >= 5 and percents == sorted(percents) and percents[-1] == 100
    assert any(re.fullmatch(r"step \d+, (<1|\d) s left", text.strip()) for _, text in bars)
    assert screen.rstrip().endswith("slept")


def test_call_without_a_terminal_prints_progress_lines_and_the_output_as_json(
    lab: ServedLab,
) -> None:
    result = labthings("call", lab.url, "calc", "echo", 'value={"a": [1, 2]}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": [1, 2]}
    assert "calc.echo: completed" in result.stderr
    assert "\r" not in result.stderr


def test_call_json_prints_the_final_record_and_no_progress(lab: ServedLab) -> None:
    result = labthings("call", lab.url, "slow", "sleep", "seconds=0.3", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    final = json.loads(result.stdout)
    assert (final["status"], final["output"], final["progress"]) == ("completed", "slept", 100)
    assert final["input"] == {"seconds": 0.3}


def test_argument_values_are_json_where_they_parse_and_text_otherwise(lab: ServedLab) -> None:
    for given, expected in [
        ("value=3", 3),
        ("value=true", True),
        ("value=null", None),
        ('value="3"', "3"),
        ("value=hello world", "hello world"),
        ("value=", ""),
        ("value=NaN", "NaN"),
    ]:
        result = labthings("call", lab.url, "calc", "echo", given, "--json")
        assert json.loads(result.stdout)["output"] == expected, given


def test_ctrl_c_cancels_the_remote_task(lab: ServedLab) -> None:
    running = Running("call", lab.url, "slow", "sleep", "seconds=30")
    running.wait_for("stderr", "slow.sleep: running ")
    (started,) = records(lab.url, action="sleep", status="running")
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 3
    stderr = "".join(running.stderr)
    assert f"cancelling {lab.url}actions/{started['id']}" in stderr
    assert "labthings: cancelled" in stderr and "Traceback" not in stderr
    assert record(lab.url, started["id"])["status"] == "cancelled"


def test_get_and_set_read_and_write_properties(lab: ServedLab) -> None:
    written = labthings("set", lab.url, "calc", "free", "some text")
    assert (written.returncode, written.stdout) == (0, "some text\n")
    assert labthings("get", lab.url, "calc", "free").stdout == "some text\n"
    assert labthings("get", lab.url, "calc", "free", "--json").stdout == '"some text"\n'
    assert labthings("set", lab.url, "calc", "value", "4").stdout == "4.0\n"
    assert requests.get(f"{lab.url}calc/properties/value", timeout=5).json() == 4.0


def test_describe_shows_things_properties_with_values_actions_and_events(lab: ServedLab) -> None:
    requests.put(f"{lab.url}calc/properties/limited", json=6, timeout=5)
    result = labthings("describe", lab.url)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in [
        "Test lab - Things for tests",
        "calc: Calculator",
        "limited: integer 0..10 = 6",
        "answer: integer, read-only = 42",
        "add(a: number, b: number) -> number  # Add two numbers at once.",
        "sleep(seconds: number 0..60 = 0.2) -> string",
        "announced: string  # Something was announced.",
        "files: Files",
    ]:
        assert expected in text, expected
    one = json.loads(labthings("describe", lab.url, "slow", "--json").stdout)
    assert list(one["things"]) == ["slow"]
    sleep = one["things"]["slow"]["actions"]["sleep"]
    assert sleep["arguments"] == [
        {"name": "seconds", "type": "number 0..60", "required": False, "default": 0.2}
    ]


def test_watch_prints_changes_and_events_until_ctrl_c(lab: ServedLab) -> None:
    requests.put(f"{lab.url}calc/properties/limited", json=1, timeout=5)
    running = Running("watch", lab.url, "calc", "--property", "limited", "--event", "announced")
    running.wait_for("stdout", "property limited = 1")
    requests.put(f"{lab.url}calc/properties/limited", json=2, timeout=5)
    running.wait_for("stdout", "property limited = 2")
    # The event stream opens on its own thread: announce until it is heard.
    for _ in range(50):
        requests.post(f"{lab.url}calc/actions/announce", json={"text": "hi"}, timeout=5)
        if any('event announced: "hi"' in line for line in running.stdout):
            break
    running.wait_for("stdout", 'event announced: "hi"')
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 0
    assert re.fullmatch(r"\d\d:\d\d:\d\d property limited = 1\n", running.stdout[0])


def test_watch_json_prints_one_object_per_line(lab: ServedLab) -> None:
    running = Running("watch", lab.url, "slow", "--json")
    line = running.wait_for("stdout", '"property": "speed"')
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 0
    change = json.loads(line)
    assert (change["thing"], change["value"]) == ("slow", 1.0) and "time" in change


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (
            ["call", "{url}", "calc", "fail", "message=boom"],
            1,
            "failed: The action failed: RuntimeError: boom",
        ),
        (["call", "{url}", "calc", "multiply"], 2, "Calculator has no action 'multiply'"),
        (["call", "{url}", "nope", "add"], 2, "has no thing 'nope'"),
        (["call", "{url}", "calc", "add", "a=1"], 2, "b is required"),
        (["call", "{url}", "calc", "add", "a=1", "b=x"], 2, "b must be a number, not a string"),
        (["call", "{url}", "calc", "add", "1", "2"], 2, "arguments are NAME=VALUE, not '1'"),
        (["call", "{url}", "calc"], 2, "the following arguments are required: ACTION"),
        (["get", "{url}", "calc", "nope"], 2, "no property 'nope'"),
        (["get", "http://127.0.0.1:{port}/", "calc", "value"], 4, "no server answers at"),
        (["set", "{url}", "calc", "limited", "50"], 5, "422 Unprocessable Entity"),
        (["get", "{url}", "calc", "broken"], 1, "500 Internal Server Error"),
        (["call", "{url}", "slow", "nap", "seconds=30", "--timeout", "0.5"], 6, "still running"),
    ],
)
def test_each_way_of_ending_has_its_exit_status(
    lab: ServedLab, arguments: list[str], status: int, message: str
) -> None:
    line = [part.format(url=lab.url, port=closed_port()) for part in arguments]
    result = labthings(*line)
    assert result.returncode == status, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert status in EXIT_STATUSES
    if status == 6:  # the action goes on: stop it
        (left,) = records(lab.url, action="nap", status="running")
        requests.delete(f"{lab.url}actions/{left['id']}", timeout=10)


def test_the_help_documents_every_exit_status() -> None:
    for command in ("call", "get", "set", "watch", "describe"):
        shown = labthings(command, "--help").stdout
        assert "exit status:" in shown
        for status in EXIT_STATUSES:
            assert re.search(rf"^  {status} +\S", shown, re.MULTILINE), (command, status)
