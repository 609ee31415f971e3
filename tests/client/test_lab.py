"""`labthings.client.Lab` driving three served instances together: the Things of all,
actions started on each at once, their progress merged into one iterator, outcomes, and
servers that do not answer or go away mid-way (SIGKILL) without harming the others."""

from __future__ import annotations

import contextlib
import io
import re
import threading

import pytest
from client_support import closed_port, eventually, records
from lab_servers import by_member, progresses, served_labs
from served import ROOT, ServedLab

from labthings.client import (
    InvalidArguments,
    InvocationCancelled,
    Lab,
    NotOffered,
    Reconnect,
    ServerUnreachable,
    ThingClient,
    Update,
    WaitTimeout,
)
from labthings.client.many import server_name

THINGS = ["calc", "slow", "recorder", "files"]


def named(labs: list[ServedLab]) -> dict[str, str]:
    return {f"pc{index + 1}": lab.url for index, lab in enumerate(labs)}


def follower_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("labthings-follow-")]


def test_the_lab_lists_every_thing_of_every_server_by_qualified_name(
    trio: list[ServedLab],
) -> None:
    urls = [lab.url for lab in trio]
    with Lab.from_urls(urls) as lab:
        names = [server_name(url) for url in urls]
        assert names == [url.removeprefix("http://").rstrip("/") for url in urls]
        assert list(lab.servers) == names and lab.unreachable == {}
        assert lab.things == [f"{name}/{thing}" for name in names for thing in THINGS]
        slow = lab[f"{names[1]}/slow"]
        assert isinstance(slow, ThingClient) and slow.td.url == f"{trio[1].url}slow/"
        assert f"{names[2]}/calc" in lab and f"{names[2]}/nothing" not in lab
        with pytest.raises(NotOffered, match="has no thing 'nothing'"):
            lab[f"{names[0]}/nothing"]
        with pytest.raises(NotOffered, match="no server 'elsewhere:1'"):
            lab["elsewhere:1/calc"]
        with pytest.raises(NotOffered, match="as SERVER/THING"):
            lab["calc"]
    with Lab.from_urls(named(trio)) as lab:
        assert lab.things[:4] == [f"pc1/{thing}" for thing in THINGS]
        assert lab["pc3/calc"].td.url == f"{trio[2].url}calc/"


def test_the_same_server_given_twice_is_one_and_clashing_names_are_refused(
    trio: list[ServedLab],
) -> None:
    url = trio[0].url
    with Lab.from_urls([url, url.rstrip("/"), url.removeprefix("http://")]) as lab:
        assert list(lab.servers) == [server_name(url)]
    with pytest.raises(ValueError, match="would both be named"):
        Lab.from_urls([url, url.replace("http://", "https://")])


def test_actions_on_three_servers_are_followed_together_to_completion(
    trio: list[ServedLab],
) -> None:
    with (
        Lab.from_urls(named(trio)) as lab,
        lab.invoke_all(["pc1/slow", "pc2/slow", "pc3/slow"], "sleep", seconds=1.5) as group,
    ):
        assert group.which == ["pc1/slow.sleep", "pc2/slow.sleep", "pc3/slow.sleep"]
        merged = list(group.updates(timeout=40))
        outcomes = group.wait(timeout=5)
    members = by_member(merged)
    assert list(members) and set(members) == set(group.which)
    for updates in members.values():
        assert progresses(updates) == sorted(progresses(updates))
        assert [u.finished for u in updates].count(True) == 1 and updates[-1].finished
        assert (updates[-1].status, updates[-1].progress) == ("completed", 100)
    # One stream of all: before the first ended, every one of them had been seen running.
    first_end = next(index for index, (_, update) in enumerate(merged) if update.finished)
    seen_running = {which for which, update in merged[:first_end] if update.status == "running"}
    assert seen_running == set(group.which)
    assert {which: outcome.result() for which, outcome in outcomes.items()} == {
        which: "slept" for which in group.which
    }
    assert all(outcome.record["status"] == "completed" for outcome in outcomes.values())
    assert follower_threads() == []


def test_different_actions_start_at_once_and_a_callback_sees_every_update(
    trio: list[ServedLab],
) -> None:
    seen: list[tuple[str, Update]] = []
    calls = [
        ("pc1/calc", "add", {"a": 1, "b": 2}),
        ("pc2/slow", "chatter", {"count": 30}),
        ("pc3/calc", "fail", {"message": "on purpose"}),
        ("pc1/calc", "add", {"a": 2, "b": 2}),
    ]
    with Lab.from_urls(named(trio)) as lab, lab.start(calls) as group:
        outcomes = group.wait(30, on_update=lambda which, update: seen.append((which, update)))
    assert group.which == ["pc1/calc.add", "pc2/slow.chatter", "pc3/calc.fail", "pc1/calc.add#2"]
    assert outcomes["pc1/calc.add"].output == 3 and outcomes["pc1/calc.add#2"].output == 4
    assert outcomes["pc2/slow.chatter"].output == 30
    failed = outcomes["pc3/calc.fail"]
    assert not failed.ok and "RuntimeError: on purpose" in str(failed.error)
    assert failed.record["status"] == "error"
    last = {which: updates[-1] for which, updates in by_member(seen).items()}
    assert {which: update.status for which, update in last.items()} == {
        "pc1/calc.add": "completed",
        "pc2/slow.chatter": "completed",
        "pc3/calc.fail": "error",
        "pc1/calc.add#2": "completed",
    }


def test_calls_that_do_not_fit_are_refused_before_anything_is_sent(
    trio: list[ServedLab],
) -> None:
    before = len(records(trio[0].url, action="nap"))
    with Lab.from_urls(named(trio)) as lab:
        with pytest.raises(InvalidArguments, match="b is required"):
            lab.start([("pc1/slow", "nap", {"seconds": 0.1}), ("pc2/calc", "add", {"a": 1})])
        with pytest.raises(NotOffered, match="no action 'fly'"):
            lab.start([("pc1/slow", "nap", {}), ("pc2/calc", "fly", {})])
        with pytest.raises(NotOffered, match="no server 'pc9'"):
            lab.start([("pc1/slow", "nap", {}), ("pc9/calc", "add", {"a": 1, "b": 1})])
    assert len(records(trio[0].url, action="nap")) == before


def test_a_server_that_does_not_answer_is_listed_and_its_calls_fail_alone(
    trio: list[ServedLab],
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/"
    with Lab.from_urls({"pc1": trio[0].url, "gone": dead}) as lab:
        assert list(lab.servers) == ["pc1"]
        assert "no server answers at" in lab.unreachable["gone"]
        assert "connection refused" in lab.unreachable["gone"]
        assert all(thing.startswith("pc1/") for thing in lab.things)
        with pytest.raises(ServerUnreachable, match="gone could not be used"):
            lab["gone/calc"]
        calls = [("pc1/calc", "add", {"a": 1, "b": 2}), ("gone/calc", "add", {"a": 1, "b": 2})]
        with lab.start(calls) as group:
            merged = list(group.updates(timeout=20))
            outcomes = group.wait(1)
    assert outcomes["pc1/calc.add"].output == 3
    error = outcomes["gone/calc.add"].error
    assert isinstance(error, ServerUnreachable) and "connection refused" in str(error)
    [(status, message)] = [(u.status, u.message) for w, u in merged if w == "gone/calc.add"]
    assert (status, message) == ("error", str(error))


def test_a_lab_of_servers_none_of_which_answers_is_an_error() -> None:
    dead = [f"http://127.0.0.1:{closed_port()}/" for _ in range(2)]
    with pytest.raises(ServerUnreachable, match="none of the lab's servers could be used"):
        Lab.from_urls(dead)
    with pytest.raises(ServerUnreachable, match="^no server answers at"):
        Lab.from_urls(dead[:1])


def test_a_server_killed_mid_way_is_reported_while_the_others_complete(
    trio: list[ServedLab], doomed: ServedLab
) -> None:
    urls = {"pc1": trio[0].url, "pc2": trio[1].url, "pc3": doomed.url}
    with (
        Lab.from_urls(urls, reconnect=Reconnect(patience=2)) as lab,
        lab.invoke_all(["pc1/slow", "pc2/slow", "pc3/slow"], "sleep", seconds=3) as group,
    ):
        merged = []
        for which, update in group.updates(timeout=40):
            merged.append((which, update))
            if which == "pc3/slow.sleep" and (update.progress or 0) > 0:
                if doomed.process.poll() is None:
                    doomed.process.kill()
        outcomes = group.wait(1)
    assert doomed.process.poll() is not None
    assert outcomes["pc1/slow.sleep"].output == outcomes["pc2/slow.sleep"].output == "slept"
    lost = outcomes["pc3/slow.sleep"]
    assert isinstance(lost.error, ServerUnreachable)
    assert "lost touch with invocation" in str(lost.error)
    assert f"no server answers at http://127.0.0.1:{doomed.port}" in str(lost.error)
    assert lost.record["status"] == "error" and lost.record["error"]["title"]
    final = by_member(merged)["pc3/slow.sleep"][-1]
    assert (final.status, final.message) == ("error", str(lost.error))
    assert 0 < (final.progress or 0) < 100  # where it was when the server went
    with pytest.raises(ServerUnreachable):
        lost.result()


def test_cancel_stops_every_member_still_running(trio: list[ServedLab]) -> None:
    with (
        Lab.from_urls(named(trio)) as lab,
        lab.invoke_all(["pc1/slow", "pc2/slow"], "nap", seconds=30) as group,
    ):
        running: set[str] = set()
        for which, update in group.updates(timeout=20):
            if update.status == "running":
                running.add(which)
            if running == set(group.which):
                break
        group.cancel()
        outcomes = group.wait(20)
    assert all(isinstance(o.error, InvocationCancelled) for o in outcomes.values())
    for served in trio[:2]:
        assert records(served.url, action="nap", status="running") == []


def test_closing_a_group_stops_following_at_once_and_the_actions_go_on(
    trio: list[ServedLab],
) -> None:
    with Lab.from_urls(named(trio)) as lab:
        group = lab.invoke_all(["pc1/slow", "pc2/slow", "pc3/slow"], "nap", seconds=30)
        next(iter(group))
        assert len(follower_threads()) == 3
        group.close()
        assert follower_threads() == []  # their streams were broken, not waited out
        outcomes = group.wait(1)
        assert all(isinstance(o.error, WaitTimeout) for o in outcomes.values())
        for invocation in group.invocations.values():
            assert invocation.refresh().status == "running"
            invocation.cancel()
    for served in trio:
        eventually(lambda url=served.url: not records(url, status="running"), what="cancelled")


def test_an_interrupted_wait_raises_and_a_later_one_follows_afresh(
    trio: list[ServedLab],
) -> None:
    with ThingClient.from_url(f"{trio[0].url}slow/") as slow:
        nap = slow.nap(seconds=30)
        ended: list[BaseException] = []

        def wait() -> None:
            try:
                nap.wait()
            except WaitTimeout as error:
                ended.append(error)

        waiter = threading.Thread(target=wait)
        waiter.start()
        eventually(lambda: nap.status == "running", what="the nap running")
        nap.interrupt()
        waiter.join(10)
        assert not waiter.is_alive()
        assert "stopped following invocation" in str(ended[0])
        with pytest.raises(WaitTimeout, match="is still running"):
            nap.wait(timeout=0.5)
        nap.cancel()
        with pytest.raises(InvocationCancelled):
            nap.wait(timeout=20)


def test_the_readme_example_runs_against_two_demo_servers() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### A lab of several servers")[1].split("\n## ")[0]
    [script] = re.findall(r"```python\n(.*?)```", section, re.S)
    assert 5 <= len([line for line in script.splitlines() if line.strip()]) <= 10
    with served_labs(2, f"{ROOT / 'examples' / 'microscope.py'}:labthing") as (pc1, pc2):
        code = script.replace("http://127.0.0.1:7485/", pc1.url)
        code = code.replace("http://127.0.0.1:7486/", pc2.url)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README lab example", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "['pc1/stage', 'pc1/camera'] {}"
    assert "pc2/camera.acquire running 40" in lines
    assert "pc1/stage.move [4000, 0]" in lines
    assert any(line.startswith("pc2/camera.acquire [") for line in lines)
