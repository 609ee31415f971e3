"""node-wot, the W3C reference WoT consumer, drives the served demo lab through every
operation: the TDs as served, node-wot's default choices, nothing patched on its side.

Each test records what node-wot did in a table, written to
artifacts/node-wot-operations.md at the end of the module.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from served import ROOT, ServedLab
from tokens_for_tests import create_token
from wot_consumer import NODE_WOT, run_plan

DEMO = ROOT / "examples" / "microscope.py"
WOT_LAB = ROOT / "tests" / "support" / "wot_lab.py"
THINGS = ("stage", "camera", "light", "thermometer", "psu", "spectrometer")
# Readings that change by themselves between two reads.
DRIFTING = {
    ("thermometer", "temperature"),
    ("psu", "measured_voltage"),
    ("psu", "measured_current"),
}
TABLE: list[tuple[str, str, str]] = []


def record(operation: str, what: str, outcome: str) -> None:
    TABLE.append((operation, what, outcome))


@pytest.fixture(scope="module", autouse=True)
def operations_table(node_wot: str) -> Iterator[None]:
    yield
    if TABLE:
        lines = [
            f"node-wot {node_wot} against labthings (tests/wot/test_node_wot.py)",
            "",
            "| operation | on | result |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {op} | {what} | {outcome} |" for op, what, outcome in TABLE]
        (ROOT / "artifacts").mkdir(exist_ok=True)
        (ROOT / "artifacts" / "node-wot-operations.md").write_text("\n".join(lines) + "\n")


def serving(target: str) -> Iterator[ServedLab]:
    """`labthings serve TARGET` for the module; it must stop cleanly."""
    lab = ServedLab(target)
    try:
        yield lab
    finally:
        assert lab.stop() == 0, lab.output


@pytest.fixture(scope="module")
def demo() -> Iterator[ServedLab]:
    yield from serving(f"{DEMO}:labthing")


@pytest.fixture(scope="module")
def tds(demo: ServedLab) -> dict[str, dict[str, Any]]:
    """The demo's TDs as served, by Thing name."""
    return {name: requests.get(f"{demo.url}{name}/", timeout=5).json() for name in THINGS}


def consume(demo: ServedLab, *names: str) -> list[dict[str, Any]]:
    """Steps fetching and consuming the TDs of `names`."""
    return [{"op": "td", "url": f"{demo.url}{name}/", "as": name} for name in names]


def succeeded(results: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    failed = [result for result in results if not result["ok"]]
    assert not failed, failed
    return results


def test_every_td_is_accepted_as_served(demo: ServedLab, node_wot: str) -> None:
    introduction = requests.get(f"{demo.url}.well-known/wot", timeout=5).json()
    steps = [{"op": "td", "url": f"{demo.url}.well-known/wot", "as": "server"}]
    steps += consume(demo, *THINGS)
    results = succeeded(run_plan(steps))
    assert results[0]["title"] == "Demo microscope"
    titles = {
        link["href"]: link["title"] for link in introduction["links"] if link["rel"] == "item"
    }
    assert [result["title"] for result in results[1:]] == [
        titles[f"{demo.url}{name}/"] for name in THINGS
    ]
    record("requestThingDescription + consume", "/.well-known/wot and 6 Things", "all 7 accepted")


def test_read_all_properties_and_each_one(
    demo: ServedLab, tds: dict[str, dict[str, Any]], node_wot: str
) -> None:
    steps = consume(demo, *THINGS)
    for name in THINGS:
        steps.append({"op": "readAll", "thing": name})
        steps += [{"op": "read", "thing": name, "name": p} for p in tds[name]["properties"]]
    results = succeeded(run_plan(steps))[len(THINGS) :]
    count = 0
    for name in THINGS:
        every, *each = results[: 1 + len(tds[name]["properties"])]
        results = results[1 + len(tds[name]["properties"]) :]
        assert set(every["values"]) == set(tds[name]["properties"])
        for prop, read in zip(tds[name]["properties"], each, strict=True):
            count += 1
            if (name, prop) in DRIFTING:
                continue
            now = requests.get(f"{demo.url}{name}/properties/{prop}", timeout=5).json()
            assert read["value"] == every["values"][prop] == now, (name, prop)
    record("readAllProperties", "6 Things", "every value, as the server reads it")
    record("readProperty", f"all {count} properties", "every value valid against its schema")


def _new_value(schema: dict[str, Any], current: Any) -> Any:
    """A valid value near `current`, other than it, for a property of `schema`."""
    if "enum" in schema:
        return next(option for option in schema["enum"] if option != current)
    if schema["type"] == "boolean":
        return not current
    if schema["type"] == "string":
        return f"{current}-node-wot"
    step = 1 if schema["type"] == "integer" else 0.1
    value = current + step
    if value > schema.get("maximum", value):
        value = current - step
    return value if schema["type"] == "integer" else round(value, 3)


def test_write_every_writable_property(
    demo: ServedLab, tds: dict[str, dict[str, Any]], node_wot: str
) -> None:
    writes: list[tuple[str, str, Any]] = []
    for name in THINGS:
        for prop, schema in tds[name]["properties"].items():
            if not schema["readOnly"]:
                now = requests.get(f"{demo.url}{name}/properties/{prop}", timeout=5).json()
                writes.append((name, prop, _new_value(schema, now)))
    steps = consume(demo, *THINGS)
    for name, prop, value in writes:
        steps.append({"op": "write", "thing": name, "name": prop, "value": value})
        steps.append({"op": "read", "thing": name, "name": prop})
    results = succeeded(run_plan(steps))[len(THINGS) :]
    for index, (name, prop, value) in enumerate(writes):
        read_back = results[2 * index + 1]["value"]
        served = requests.get(f"{demo.url}{name}/properties/{prop}", timeout=5).json()
        assert read_back == served, (name, prop)
        assert math.isclose(read_back, value) if isinstance(value, float) else read_back == value
    record("writeProperty", f"all {len(writes)} writable properties", "written; read back equal")


def test_observe_a_property_and_receive_each_change(demo: ServedLab, node_wot: str) -> None:
    key = {"thing": "light", "name": "brightness"}
    initial = requests.get(f"{demo.url}light/properties/brightness", timeout=5).json()
    changes = [value for value in (10, 20, 30, 40) if value != initial][:3]
    steps = [*consume(demo, "light"), {"op": "observe", **key}]
    steps.append({"op": "collect", **key, "count": 1})
    steps += [{"op": "write", **key, "value": value} for value in changes]
    steps += [{"op": "collect", **key, "count": 4}, {"op": "stop", **key}]
    results = succeeded(run_plan(steps))
    assert results[2]["values"] == [initial]  # the value now, first
    assert results[-2] == {"op": "collect", "ok": True, "values": [initial, *changes], "errors": []}
    record("observeProperty", "light.brightness, 3 writes", "the value now, then each change")
    record("unobserveProperty", "light.brightness", "stop() resolves (same form and href)")


def test_subscribe_to_an_event_and_receive_it(demo: ServedLab, node_wot: str) -> None:
    key = {"thing": "camera", "name": "frame_ready"}
    steps = [*consume(demo, "camera"), {"op": "subscribe", **key}]
    steps.append(
        {"op": "invoke", "thing": "camera", "name": "acquire", "input": {"averages": 3, "width": 8}}
    )
    steps += [{"op": "collect", **key, "count": 3}, {"op": "stop", **key}]
    results = succeeded(run_plan(steps))
    assert len(results[2]["value"]) == 8
    events = results[3]["values"]
    assert [event["frame"] for event in events] == [1, 2, 3]
    assert all(isinstance(event["peak"], float) for event in events)
    record("subscribeEvent", "camera.frame_ready during acquire", "each of 3 events, in order")
    record("unsubscribeEvent", "camera.frame_ready", "stop() resolves (same form and href)")


INVOCATIONS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("stage", "move", {"x": 300, "y": 100}),
    ("stage", "move_relative", {"dx": -100, "dy": 50}),
    ("stage", "home", None),
    ("camera", "acquire", {"averages": 2, "width": 16}),
    ("light", "toggle", None),
    ("light", "blink", {"times": 2, "mode": "fast"}),
    ("thermometer", "log_temperature", {"samples": 3, "interval": 0.1}),
    ("psu", "ramp_voltage", {"target": 2.0, "rate": 20.0}),
    ("spectrometer", "acquire", {"averages": 1}),
    ("spectrometer", "dark", {"averages": 1}),
]


def test_invoke_every_action_and_get_its_output(demo: ServedLab, node_wot: str) -> None:
    steps = consume(demo, *THINGS)
    steps += [
        {"op": "invoke", "thing": thing, "name": name, "input": arguments}
        for thing, name, arguments in INVOCATIONS
    ]
    results = succeeded(run_plan(steps))[len(THINGS) :]
    outputs = {
        (t, n): result["value"] for (t, n, _), result in zip(INVOCATIONS, results, strict=True)
    }
    assert outputs["stage", "move"] == [300, 100]
    assert outputs["stage", "move_relative"] == [200, 150]
    assert outputs["stage", "home"] == [0, 0]
    assert len(outputs["camera", "acquire"]) == 16
    assert isinstance(outputs["light", "toggle"], bool)
    assert outputs["light", "blink"] == 2
    assert len(outputs["thermometer", "log_temperature"]) == 3
    assert math.isclose(outputs["psu", "ramp_voltage"], 2.0, abs_tol=0.01)
    pixels = requests.get(f"{demo.url}spectrometer/properties/pixels", timeout=5).json()
    assert len(outputs["spectrometer", "acquire"]) == len(outputs["spectrometer", "dark"]) == pixels
    # Each is an ordinary invocation, recorded like any other.
    listed = requests.get(f"{demo.url}actions", params={"limit": 100}, timeout=5).json()
    done = {(r["thing"], r["action"]) for r in listed if r["status"] == "completed"}
    assert {(thing, name) for thing, name, _ in INVOCATIONS} <= done
    record(
        "invokeAction", f"all {len(INVOCATIONS)} actions of the demo", "each output, as declared"
    )


def test_an_action_longer_than_the_posts_wait_still_gives_its_output(
    demo: ServedLab, node_wot: str
) -> None:
    requests.put(f"{demo.url}camera/properties/exposure", json=0.6, timeout=5).raise_for_status()
    arguments = {"averages": 3, "width": 4}  # 1.8 s: beyond the POST's own wait of 1 s
    started = requests.post(f"{demo.url}camera/actions/acquire", json=arguments, timeout=10).json()
    assert (started["status"], started["output"]) == ("running", None)  # what node-wot had
    steps = [*consume(demo, "camera")]
    steps.append({"op": "invoke", "thing": "camera", "name": "acquire", "input": arguments})
    [_, invoked] = succeeded(run_plan(steps))
    assert len(invoked["value"]) == 4 and all(isinstance(v, float) for v in invoked["value"])
    requests.put(f"{demo.url}camera/properties/exposure", json=0.2, timeout=5).raise_for_status()
    record("invokeAction", "camera.acquire taking 1.8 s", "its output (the POST waits for it)")


@pytest.fixture(scope="module")
def bench() -> Iterator[ServedLab]:
    yield from serving(f"{WOT_LAB}:make_labthing")


def test_failures_and_outputs_of_every_kind(bench: ServedLab, node_wot: str) -> None:
    def invoke(name: str, arguments: Any = None, **options: Any) -> dict[str, Any]:
        return {"op": "invoke", "thing": "bench", "name": name, "input": arguments, **options}

    steps = [
        {"op": "td", "url": f"{bench.url}bench/", "as": "bench"},
        invoke("fail", {"message": "no sample"}),
        invoke("fail", {"message": 5}),
        invoke("reset"),
        invoke("report", bytes=True),
        invoke("scan", {"seconds": 0.1}),
        invoke("scan", {"seconds": 1.5}, formIndex=3),
    ]
    _, failed, refused, reset, report, scan, scan_synchronously = run_plan(steps)
    assert not failed["ok"] and "Server error" in failed["error"]
    assert not refused["ok"] and "Client error" in refused["error"]
    assert reset == {"op": "invoke", "ok": True, "value": None}
    assert report == {"op": "invoke", "ok": True, "text": "x,y\n1,2\n"}
    # An action declared synchronous=False offers its record form first: node-wot gets
    # the record (it cannot query it later), or the output from the synchronous form.
    assert scan["ok"] and scan["value"]["status"] in {"running", "completed"}
    assert scan_synchronously == {"op": "invoke", "ok": True, "value": "scanned"}
    record("invokeAction", "an action that fails / bad input", "rejects: 500 / 422 problem")
    record("invokeAction", "no output / a file output", "undefined (204) / the file's bytes")
    record("invokeAction", "synchronous: false (long)", "the record; formIndex 3: the output")


def test_with_access_tokens_everything_but_streams_works(node_wot: str) -> None:
    with tempfile.TemporaryDirectory(prefix="labthings-wot-tokens-") as folder:
        token = create_token(Path(folder), "wot", "control")
        lab = ServedLab(f"{DEMO}:labthing", extra=["--data-dir", str(Path(folder))])
        try:
            headers = {"Authorization": f"Bearer {token}"}
            td = requests.get(f"{lab.url}light/", headers=headers, timeout=5).json()
            assert td["security"] == ["bearer_sc"]
            key = {"thing": "light", "name": "brightness"}
            steps = [
                {"op": "td", "url": f"{lab.url}light/", "as": "unread"},
                {"op": "consume", "td": td, "as": "light"},
                {"op": "write", **key, "value": 70},
                {"op": "read", **key},
                {"op": "invoke", "thing": "light", "name": "blink", "input": {"times": 1}},
                {"op": "observe", **key},
            ]
            fetched, consumed, written, read, blinked, observed = run_plan(
                steps, credentials={td["id"]: {"token": token}}
            )
        finally:
            assert lab.stop() == 0, lab.output
    # node-wot fetches a TD without credentials, and its EventSource sends no header.
    assert not fetched["ok"]
    assert consumed["ok"] and written["ok"] and blinked == {"op": "invoke", "ok": True, "value": 1}
    assert read == {"op": "read", "ok": True, "value": 70}
    assert not observed["ok"]
    record("with a bearer token", "requestThingDescription", "refused: node-wot sends no token")
    record("with a bearer token", "read, write, invoke (TD given)", "work")
    record("with a bearer token", "observe, subscribe", "refused: its EventSource sends no token")


def test_the_readme_example_runs(demo: ServedLab, node_wot: str, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"### Generic WoT consumers.*?```js\n(.*?)```", readme, re.S)
    assert example is not None
    script = example.group(1).replace("http://127.0.0.1:7485/", demo.url)
    (tmp_path / "example.mjs").write_text(script + "setTimeout(() => process.exit(0), 2000);\n")
    (tmp_path / "node_modules").symlink_to(NODE_WOT / "node_modules")
    ran = subprocess.run(
        ["node", "example.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[:3] == ["[ 400, 100 ]"] * 3  # moved, read, observed
