"""`labthings call` and `labthings watch` over several servers, run as a user runs them:
a bar per invocation on a terminal, lines otherwise, one server killed mid-way, Ctrl-C
cancelling them all, and the worst of their exit statuses."""

from __future__ import annotations

import json
import re
import signal

import requests
from client_support import Running, closed_port, labthings, records
from served import ROOT, ServedLab

from labthings.client.cli import EXIT_STATUSES, SEVERITY
from labthings.client.many import server_name


def names(labs: list[ServedLab]) -> list[str]:
    return [server_name(lab.url) for lab in labs]


def on(labs: list[ServedLab]) -> list[str]:
    """`--on URL` for each of `labs`."""
    return [part for lab in labs for part in ("--on", lab.url)]


def test_the_same_action_on_three_servers_prints_each_output(trio: list[ServedLab]) -> None:
    result = labthings("call", trio[0].url, "slow", "sleep", "seconds=0.5", *on(trio[1:]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f'{name}/slow.sleep: "slept"' for name in names(trio)]
    for name in names(trio):
        assert f"{name}/slow.sleep: completed 100% (step 10)" in result.stderr
    assert "\r" not in result.stderr


def test_a_bar_per_invocation_on_a_terminal(trio: list[ServedLab]) -> None:
    running = Running(
        "call", trio[0].url, "slow", "sleep", "seconds=1.5", *on(trio[1:]), terminal=True
    )
    assert running.finish() == 0
    screen = running.terminal_output
    for name in names(trio):
        bars = re.findall(rf"{re.escape(name)}/slow\.sleep +(\d+)%\|", screen)
        percents = [int(percent) for percent in bars]
        assert len(set(percents)) >= 5 and percents == sorted(percents), name
        assert percents[-1] == 100
        assert f'{name}/slow.sleep: "slept"' in screen
    assert "\x1b[A" in screen  # tqdm moves up to redraw the bars above: a stack of bars


def test_different_actions_with_also_and_json_records(trio: list[ServedLab]) -> None:
    a, b, c = trio
    result = labthings(
        "call",
        a.url,
        "calc",
        "add",
        "a=1",
        "b=2",
        "--also",
        b.url,
        "calc",
        "echo",
        'value={"x": [1]}',
        "--also",
        c.url,
        "slow",
        "nap",
        "seconds=0.1",
        "--json",
    )
    assert (result.returncode, result.stderr) == (0, "")
    final = json.loads(result.stdout)
    first, second, third = names(trio)
    assert list(final) == [f"{first}/calc.add", f"{second}/calc.echo", f"{third}/slow.nap"]
    assert [record["output"] for record in final.values()] == [3, {"x": [1]}, 0.1]
    assert all(record["status"] == "completed" for record in final.values())


def test_the_exit_status_is_the_worst_outcome(trio: list[ServedLab]) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/"
    failing = ["--also", trio[1].url, "calc", "fail", "message=boom"]
    result = labthings("call", trio[0].url, "calc", "add", "a=1", "b=2", *failing)
    assert result.returncode == 1, result.stderr
    assert result.stdout == f"{names(trio)[0]}/calc.add: 3.0\n"
    assert f"labthings: {names(trio)[1]}/calc.fail: " in result.stderr
    assert "RuntimeError: boom" in result.stderr
    lost = labthings(
        "call", trio[0].url, "calc", "add", "a=1", "b=2", *failing, "--on", dead
    )  # a server that does not answer (4) is worse than a failure (1)
    assert lost.returncode == 4, lost.stderr
    gone = server_name(dead)
    assert f"labthings: {gone}/calc.add: {gone} could not be used: no server answers at" in (
        lost.stderr
    )
    assert lost.stdout == f"{names(trio)[0]}/calc.add: 3.0\n"
    assert "Traceback" not in lost.stderr + result.stderr


def test_a_wrong_call_anywhere_stops_all_before_anything_is_sent(trio: list[ServedLab]) -> None:
    before = len(records(trio[0].url, action="nap"))
    for extra, message in [
        (["--also", trio[1].url, "calc", "add", "a=1"], "b is required"),
        (["--also", trio[1].url, "calc", "fly"], "no action 'fly'"),
        (["--also", trio[1].url, "calc"], "--also takes URL THING ACTION"),
        (["--on", trio[0].url.replace("http", "https")], "would both be named"),
    ]:
        result = labthings("call", trio[0].url, "slow", "nap", "seconds=0.1", *extra)
        assert result.returncode == 2, (extra, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert len(records(trio[0].url, action="nap")) == before


def test_a_server_killed_mid_way_is_reported_and_the_others_complete(
    trio: list[ServedLab], doomed: ServedLab
) -> None:
    running = Running(
        "call",
        trio[0].url,
        "slow",
        "sleep",
        "seconds=3",
        *on([trio[1], doomed]),
        "--patience",
        "2",
    )
    gone = server_name(doomed.url)
    running.wait_for("stderr", f"{gone}/slow.sleep: running ")
    doomed.process.kill()
    assert running.finish() == 4
    assert running.stdout == [f'{name}/slow.sleep: "slept"\n' for name in names(trio[:2])]
    stderr = "".join(running.stderr)
    assert f"{gone}/slow.sleep: error" in stderr  # its last progress line says so
    assert f"labthings: {gone}/slow.sleep: lost touch with invocation" in stderr
    assert f"no server answers at http://127.0.0.1:{doomed.port}" in stderr


def test_ctrl_c_cancels_the_actions_on_every_server(trio: list[ServedLab]) -> None:
    running = Running("call", trio[0].url, "slow", "nap", "seconds=30", *on(trio[1:]))
    for name in names(trio):
        running.wait_for("stderr", f"{name}/slow.nap: running")
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 3
    stderr = "".join(running.stderr)
    assert "labthings: cancelling" in stderr and "Traceback" not in stderr
    for served in trio:
        assert records(served.url, action="nap", status="running") == []
        assert records(served.url, action="nap")[0]["status"] == "cancelled"


def test_watch_merges_the_lines_of_several_servers(
    trio: list[ServedLab], doomed: ServedLab
) -> None:
    first, second = trio[0], doomed
    for served, value in ((first, 1), (second, 2)):
        requests.put(f"{served.url}calc/properties/limited", json=value, timeout=5)
    running = Running(
        "watch",
        first.url,
        "calc",
        "--property",
        "limited",
        "--also",
        second.url,
        "calc",
        "--patience",
        "1",
    )
    one, two = server_name(first.url), server_name(second.url)
    running.wait_for("stdout", f"{one}/calc ")
    running.wait_for("stdout", f"{two}/calc ")
    requests.put(f"{second.url}calc/properties/limited", json=7, timeout=5)
    running.wait_for("stdout", "property limited = 7")
    second.process.kill()
    running.wait_for("stderr", f"labthings: {two}/calc: lost the stream")
    requests.put(f"{first.url}calc/properties/limited", json=5, timeout=5)
    line = running.wait_for("stdout", "property limited = 5")  # the other one goes on
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 4  # the worst of theirs: a server lost
    assert re.fullmatch(rf"{re.escape(one)}/calc \d\d:\d\d:\d\d property limited = 5\n", line)
    assert re.fullmatch(
        rf"{re.escape(two)}/calc \d\d:\d\d:\d\d property limited = 2\n",
        next(line for line in running.stdout if line.startswith(two)),
    )


def test_watch_json_over_several_servers_names_the_server(trio: list[ServedLab]) -> None:
    running = Running("watch", trio[0].url, "slow", *on(trio[1:2]), "--json")
    for name in names(trio[:2]):
        running.wait_for("stdout", f'"server": "{name}"')
    running.process.send_signal(signal.SIGINT)
    assert running.finish() == 0
    change = json.loads(running.stdout[0])
    assert list(change) == ["time", "server", "thing", "property", "value"]
    assert change["thing"] == "slow" and change["server"] in names(trio[:2])


def test_the_help_and_the_readme_give_the_order_of_the_exit_statuses() -> None:
    assert set(SEVERITY) == set(EXIT_STATUSES)
    order = ", ".join(str(status) for status in SEVERITY)
    for command in ("call", "watch"):
        shown = " ".join(labthings(command, "--help").stdout.split())
        assert f"worst first: {order}." in shown
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### A lab of several servers")[1].split("\n## ")[0]
    listed = re.findall(r"(\d+)(?: \([^)]*\))?(?:,|\.)", section.split("worst first:")[1])
    assert [int(status) for status in listed] == [s for s in SEVERITY if s != 130]
