"""Live updates on a served instance: SSE streams, resumption, stalls, long-polling, ETags."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from served import SUPPORT, ServedLab
from sse import Message, collect

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedLab]:
    config = tmp_path_factory.mktemp("config") / "settings.json"
    config.write_text(json.dumps({"sse_heartbeat": 0.5, "event_queue": 16}))
    served = ServedLab(TARGET, extra=["--config", str(config)])
    yield served
    served.stop()


def post(lab: ServedLab, path: str, body: dict[str, object], prefer: str = "respond-async") -> dict:
    response = requests.post(f"{lab.url}{path}", json=body, headers={"Prefer": prefer}, timeout=10)
    assert response.status_code == 201, response.text
    record: dict = response.json()
    return record


def test_one_task_stream_sends_progress_in_order_then_the_final_record(lab: ServedLab) -> None:
    record = post(lab, "slow/actions/sleep", {"seconds": 0.5})
    got = collect(
        f"{lab.url}actions/{record['id']}/events",
        lambda m: m.event == "record" and m.data["status"] == "completed",
    )
    assert got[0].event == "record"  # the record as it was when we connected
    updates = [
        m.data["progress"] for m in got if m.event == "update" and m.data["progress"] is not None
    ]
    assert updates == sorted(updates) and len(updates) >= 5
    final = got[-1].data
    assert final["output"] == "slept" and final["progress"] == 100
    assert final["href"].endswith(record["id"])
    ids = [m.id for m in got if m.id is not None]
    assert len(ids) == len(set(ids))


def test_a_finished_task_stream_sends_its_record_and_ends(lab: ServedLab) -> None:
    record = post(lab, "calc/actions/add", {"a": 1, "b": 2}, prefer="wait=5")
    assert record["status"] == "completed"
    with requests.get(
        f"{lab.url}actions/{record['id']}/events", stream=True, timeout=5
    ) as response:
        body = response.text  # returns because the stream ends
    assert "event: record" in body and '"output":3.0' in body


def test_the_all_tasks_stream_sees_logs_and_records_of_every_task(lab: ServedLab) -> None:
    done: set[str] = set()
    started: list[str] = []

    def start() -> None:
        started.extend(post(lab, "slow/actions/chatter", {"count": 30})["id"] for _ in range(3))

    def finished(message: Message) -> bool:
        if message.event == "record":
            done.add(message.data["id"])
        return len(started) == 3 and set(started) <= done

    got = collect(f"{lab.url}actions/events?action=chatter", finished, on_open=start)
    logs = [m for m in got if m.event == "log"]
    assert {m.data["id"] for m in logs} >= set(started)
    assert all(m.data["action"] == "chatter" for m in got if m.event in ("update", "log"))


def test_property_changes_are_pushed(lab: ServedLab) -> None:
    def write() -> None:
        for value in (2.5, 3.5):
            assert requests.put(f"{lab.url}calc/properties/value", json=value, timeout=5).ok

    got = collect(f"{lab.url}calc/properties/value/events", lambda m: m.data == 3.5, on_open=write)
    assert [m.event for m in got] == ["value"] * len(got)
    assert [m.data for m in got][-2:] == [2.5, 3.5]


def test_thing_events_are_pushed(lab: ServedLab) -> None:
    def announce() -> None:
        post(lab, "calc/actions/announce", {"text": "hello"}, prefer="wait=5")

    got = collect(f"{lab.url}calc/events/announced", lambda m: True, on_open=announce)
    assert (got[0].event, got[0].data) == ("announced", "hello")
    assert requests.get(f"{lab.url}calc/events/nope", timeout=5).status_code == 404


def test_last_event_id_resumes_from_the_buffer(lab: ServedLab) -> None:
    writes = iter([11.0, 12.0, 13.0])

    def write() -> None:
        requests.put(f"{lab.url}calc/properties/value", json=next(writes), timeout=5)

    first = collect(
        f"{lab.url}calc/properties/value/events", lambda m: m.data == 11.0, on_open=write
    )
    last_id = first[-1].id
    assert last_id is not None
    write()  # 12.0 and 13.0 happen while nobody is listening
    write()
    resumed = collect(
        f"{lab.url}calc/properties/value/events",
        lambda m: m.data == 13.0,
        headers={"Last-Event-ID": last_id},
    )
    assert [m.data for m in resumed] == [12.0, 13.0]  # just what it missed, in order
    stale = collect(
        f"{lab.url}calc/properties/value/events",
        lambda m: m.event == "value",
        headers={"Last-Event-ID": "another-run.5"},
    )
    assert stale[0].event == "missed" and stale[0].data == {"count": None}


def test_a_last_event_id_no_run_could_have_sent_is_a_stream_that_starts_with_missed(
    lab: ServedLab,
) -> None:
    def write() -> None:
        requests.put(f"{lab.url}calc/properties/value", json=21.0, timeout=5)

    seen = collect(
        f"{lab.url}calc/properties/value/events", lambda m: m.data == 21.0, on_open=write
    )
    assert seen[-1].id is not None
    this_run = seen[-1].id.partition(".")[0]
    for bad in (f"{this_run}.1{'0' * 5000}", f"{this_run}.-5", "x" * 2000):
        response = requests.get(
            f"{lab.url}calc/properties/value/events",
            headers={"Last-Event-ID": bad},
            stream=True,
            timeout=5,
        )
        with response:
            assert response.status_code == 200, (bad[:40], response.text[:200])
            lines = response.iter_lines()
            first_event = next(line for line in lines if line.startswith(b"event:"))
            assert first_event == b"event: missed", bad[:40]


def test_a_stalled_client_does_not_delay_a_task_and_is_told_what_it_missed(
    lab: ServedLab,
) -> None:
    def run_chatter() -> float:
        started = time.monotonic()
        record = post(lab, "slow/actions/chatter", {"count": 3000}, prefer="wait=20")
        assert record["status"] == "completed"
        return time.monotonic() - started

    baseline = min(run_chatter() for _ in range(2))
    address = urlsplit(lab.url)
    stalled = socket.create_connection((address.hostname, address.port), timeout=5)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /actions/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        time.sleep(0.2)
        with_stall = run_chatter()  # the stalled stream's queue overflows meanwhile
        assert with_stall < baseline * 3 + 1.0, (baseline, with_stall)
        stalled.settimeout(5)
        received = b""
        deadline = time.monotonic() + 10
        while b"event: missed" not in received and time.monotonic() < deadline:
            received += stalled.recv(65536)
        assert b"event: missed" in received
    finally:
        stalled.close()


def test_long_poll_returns_early_on_change_and_304_when_unchanged(lab: ServedLab) -> None:
    record = post(lab, "slow/actions/sleep", {"seconds": 1.0})
    url = f"{lab.url}actions/{record['id']}"
    first = requests.get(url, timeout=5)
    etag = first.headers["ETag"]
    started = time.monotonic()
    changed = requests.get(f"{url}?wait=10", headers={"If-None-Match": etag}, timeout=15)
    assert time.monotonic() - started < 2
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    final = requests.get(f"{url}?wait=10", headers={"Prefer": "wait=10"}, timeout=15)
    while final.json()["status"] == "running":
        final = requests.get(
            f"{url}?wait=5", headers={"If-None-Match": final.headers["ETag"]}, timeout=15
        )
    unchanged = requests.get(url, headers={"If-None-Match": final.headers["ETag"]}, timeout=5)
    assert unchanged.status_code == 304 and not unchanged.content
    started = time.monotonic()
    finished = requests.get(
        f"{url}?wait=10", headers={"If-None-Match": final.headers["ETag"]}, timeout=15
    )
    assert time.monotonic() - started < 1  # a finished record never changes: no wait
    assert finished.status_code == 304


def test_property_etags(lab: ServedLab) -> None:
    url = f"{lab.url}calc/properties/answer"
    first = requests.get(url, timeout=5)
    again = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=5)
    assert again.status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"other"'}, timeout=5).json() == 42


def test_shutdown_ends_open_streams_promptly(tmp_path: Path) -> None:
    served = ServedLab(TARGET)
    responses: list[requests.Response] = []
    try:
        for _ in range(5):
            response = requests.get(f"{served.url}actions/events", stream=True, timeout=5)
            responses.append(response)
        started = time.monotonic()
        code = served.stop()
        assert time.monotonic() - started < 5
        assert code == 0, served.output
    finally:
        for response in responses:
            response.close()
        served.stop()


def test_many_watchers_each_get_every_update(lab: ServedLab) -> None:
    record_holder: dict[str, str] = {}
    ready = threading.Barrier(9)
    results: list[list[Message]] = []

    def watch() -> None:
        results.append(
            collect(
                f"{lab.url}actions/events?action=sleep",
                lambda m: m.event == "record" and m.data["id"] == record_holder.get("id"),
                on_open=lambda: ready.wait(10),
                timeout=15,
            )
        )

    threads = [threading.Thread(target=watch) for _ in range(8)]
    for thread in threads:
        thread.start()
    ready.wait(10)
    record_holder["id"] = post(lab, "slow/actions/sleep", {"seconds": 0.3})["id"]
    for thread in threads:
        thread.join(20)
    assert len(results) == 8
    counts = {len([m for m in got if m.event == "update"]) for got in results}
    assert len(counts) == 1  # everyone saw the same updates


def test_a_reconnecting_task_stream_starts_again_from_the_record(lab: ServedLab) -> None:
    record = post(lab, "slow/actions/sleep", {"seconds": 0.3})
    first = collect(f"{lab.url}actions/{record['id']}/events", lambda m: m.event == "update")
    again = collect(
        f"{lab.url}actions/{record['id']}/events",
        lambda m: m.event == "record" and m.data["status"] == "completed",
        headers={"Last-Event-ID": first[-1].id or ""},
    )
    assert again[0].event == "record"


def test_one_stream_carries_everything(lab: ServedLab) -> None:
    seen: dict[str, Message] = {}

    def act() -> None:
        requests.put(f"{lab.url}calc/properties/value", json=99.0, timeout=5)
        post(lab, "calc/actions/announce", {"text": "all"}, prefer="wait=5")

    def complete(message: Message) -> bool:
        seen.setdefault(message.event, message)
        return {"property", "event", "record"} <= set(seen)

    collect(f"{lab.url}events?thing=calc", complete, on_open=act)
    assert seen["property"].data == {"thing": "calc", "name": "value", "value": 99.0}
    assert seen["event"].data == {"thing": "calc", "name": "announced", "data": "all"}
    assert seen["record"].data["action"] == "announce"
    assert seen["record"].data["href"].startswith(lab.url)
    assert requests.get(f"{lab.url}events?thing=nope", timeout=5).status_code == 404
