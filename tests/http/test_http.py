"""The HTTP contract through the Flask test client: every route and every error code."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from core_helpers import wait_until
from flask.testing import FlaskClient
from lab_for_tests import make_labthing
from werkzeug.test import TestResponse

from labthings import ConfigurationError, LabThing, Settings

RECORD_FIELDS = {
    "id", "action", "thing", "href", "status", "progress", "message", "data", "input",
    "output", "error", "log", "timeRequested", "timeStarted", "timeCompleted", "links",
    "requestedBy", "outputMediaType",
}  # fmt: skip


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def wait_for(client: FlaskClient, task_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll a record until it is finished (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/actions/{task_id}").get_json()
        if record["status"] not in ("pending", "running"):
            return record
        time.sleep(0.02)
    raise AssertionError(f"invocation {task_id} did not finish in {timeout} s")


# -- index and Thing Descriptions ------------------------------------------------------


def test_index_links_every_thing_and_the_docs(client: FlaskClient) -> None:
    body = client.get("/").get_json()
    assert body["title"] == "Test lab"
    assert body["description"] == "Things for tests"
    assert body["things"]["calc"] == {"title": "Calculator", "href": "http://localhost/calc/"}
    assert set(body["things"]) == {"calc", "slow", "recorder"}
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels["actions"] == "http://localhost/actions"
    assert rels["docs"] == "http://localhost/docs/"


def test_thing_description_follows_the_request_host(labthing: LabThing) -> None:
    labthing.configure_access(allowed_hosts=["lab-pc.example"])  # else 421
    client = labthing.create_app().test_client()
    response = client.get("/calc/", headers={"Host": "lab-pc.example:8080"})
    assert response.status_code == 200
    assert response.mimetype == "application/td+json"
    td = response.get_json()
    assert td["base"] == "http://lab-pc.example:8080/calc/"
    assert "add" in td["actions"] and "value" in td["properties"]


def test_unknown_thing_is_404(client: FlaskClient) -> None:
    assert "nope" in assert_problem(client.get("/nope/"), 404)["detail"]
    assert_problem(client.get("/nope/properties/value"), 404)
    assert_problem(client.post("/nope/actions/add", json={}), 404)


@pytest.mark.parametrize("accept", [None, "text/html", "application/xml", "*/*", "nonsense"])
def test_json_whatever_the_accept_header(client: FlaskClient, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    for path in ("/", "/calc/properties/value", "/actions", "/nope/"):
        if path == "/" and accept == "text/html":
            continue  # a browser asking for the index gets the web page instead
        response = client.get(path, headers=headers)
        assert response.is_json, (path, accept)


@pytest.mark.parametrize(
    "accept",
    ["text/html", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
)
def test_a_browser_asking_for_the_index_is_sent_to_the_web_page(
    client: FlaskClient, accept: str
) -> None:
    response = client.get("/", headers={"Accept": accept})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("ui/")
    both = "application/json, text/html"
    assert client.get("/", headers={"Accept": both}).is_json


# -- properties -------------------------------------------------------------------------


def test_read_and_write_a_property(client: FlaskClient) -> None:
    assert client.get("/calc/properties/value").get_json() == 1.5
    response = client.put("/calc/properties/value", json=2)
    assert response.status_code == 200
    assert response.get_json() == 2.0
    assert client.get("/calc/properties/value").get_json() == 2.0
    assert client.get("/calc/properties/answer").get_json() == 42


@pytest.mark.parametrize(
    ("name", "value"),
    [("value", "1.5"), ("value", True), ("value", None), ("limited", 11), ("limited", 1.5)],
)
def test_invalid_property_value_is_422_naming_it(
    client: FlaskClient, name: str, value: object
) -> None:
    response = client.put(
        f"/calc/properties/{name}", data=json.dumps(value), content_type="application/json"
    )
    body = assert_problem(response, 422)
    assert list(body["errors"]) == [name]
    assert body["errors"][name]


def test_read_only_properties_are_405_with_allow(client: FlaskClient) -> None:
    for name in ("readonly_value", "answer"):
        response = client.put(f"/calc/properties/{name}", json=1)
        assert_problem(response, 405)
        # What OPTIONS says too (RFC 9110 15.5.6: the methods the resource supports)
        allowed = client.options(f"/calc/properties/{name}").headers["Allow"]
        assert response.headers["Allow"] == allowed == "GET, HEAD, OPTIONS"
    assert client.get("/calc/properties/readonly_value").get_json() == 7


def test_unsupported_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/calc/properties/value")
    assert_problem(response, 405)
    assert {"GET", "PUT"} <= set(response.headers["Allow"].split(", "))
    response = client.delete("/calc/actions/add")
    assert_problem(response, 405)
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))


def test_unknown_property_is_404(client: FlaskClient) -> None:
    assert_problem(client.get("/calc/properties/nope"), 404)
    assert_problem(client.put("/calc/properties/nope", json=1), 404)


def test_bad_bodies(client: FlaskClient) -> None:
    assert_problem(client.put("/calc/properties/value"), 400)
    body = assert_problem(
        client.put("/calc/properties/value", data="2", content_type="text/plain"), 415
    )
    assert "application/json" in body["detail"]
    assert_problem(
        client.put("/calc/properties/value", data="{", content_type="application/json"), 400
    )
    assert_problem(
        client.post("/calc/actions/add", data=b"\xff\xfe", content_type="application/json"), 400
    )


def test_body_over_the_limit_is_413() -> None:
    with make_labthing(max_body_bytes=64) as labthing:
        client = labthing.create_app().test_client()
        assert_problem(client.put("/calc/properties/free", json="x" * 100), 413)
        assert_problem(client.post("/calc/actions/echo", json={"value": "x" * 100}), 413)
        assert client.put("/calc/properties/free", json="short").status_code == 200


def test_a_failing_getter_is_a_500_without_internals(client: FlaskClient) -> None:
    body = assert_problem(client.get("/calc/properties/broken"), 500)
    assert "secret" not in str(body)


# -- actions ---------------------------------------------------------------------------


def test_post_returns_201_with_the_finished_record(client: FlaskClient) -> None:
    response = client.post("/calc/actions/add", json={"a": 1, "b": 2})
    assert response.status_code == 201
    record = response.get_json()
    assert RECORD_FIELDS <= set(record)
    assert response.headers["Location"] == record["href"]
    assert record["href"] == f"http://localhost/actions/{record['id']}"
    assert {"rel": "self", "href": record["href"]} in record["links"]
    assert record["status"] == "completed"
    assert record["output"] == 3.0
    assert record["input"] == {"a": 1.0, "b": 2.0}
    assert record["error"] is None
    assert (record["action"], record["thing"]) == ("add", "calc")
    assert "Retry-After" not in response.headers
    times = [
        datetime.fromisoformat(record[key])
        for key in ("timeRequested", "timeStarted", "timeCompleted")
    ]
    assert all(moment.utcoffset() is not None for moment in times)
    assert times == sorted(times)


@pytest.mark.parametrize("value", [0, False, "", [], {}, None, 0.0])
def test_falsy_outputs_are_reported_as_themselves(client: FlaskClient, value: object) -> None:
    record = client.post("/calc/actions/echo", json={"value": value}).get_json()
    assert record["status"] == "completed"
    assert record["output"] == value
    assert type(record["output"]) is type(value)


def test_defaults_are_applied_to_the_recorded_input(client: FlaskClient) -> None:
    record = client.post("/calc/actions/fail").get_json()
    assert record["input"] == {"message": "it broke"}


def test_invalid_arguments_are_422_and_create_no_task(client: FlaskClient) -> None:
    before = len(client.get("/actions").get_json())
    body = assert_problem(client.post("/calc/actions/add", json={"a": "x", "c": 1}), 422)
    assert set(body["errors"]) == {"a", "b", "c"}
    body = assert_problem(client.post("/calc/actions/add", json=[1, 2]), 422)
    assert "object" in str(body["errors"])
    assert_problem(client.post("/calc/actions/add"), 422)
    assert_problem(client.post("/slow/actions/sleep", json={"seconds": -1}), 422)
    assert len(client.get("/actions").get_json()) == before


def test_unknown_action_is_404(client: FlaskClient) -> None:
    assert_problem(client.post("/calc/actions/nope", json={}), 404)
    assert_problem(client.get("/calc/actions/nope"), 404)


def test_wrong_content_type_is_415(client: FlaskClient) -> None:
    response = client.post(
        "/calc/actions/add", data="a=1&b=2", content_type="application/x-www-form-urlencoded"
    )
    assert_problem(response, 415)


def test_an_action_that_raises_ends_in_error_with_its_log(client: FlaskClient) -> None:
    record = client.post("/calc/actions/fail", json={"message": "bad"}).get_json()
    assert record["status"] == "error"
    assert record["output"] is None
    assert record["error"]["detail"] == "RuntimeError: bad"
    assert record["error"]["title"]
    assert any("about to fail" in entry["message"] for entry in record["log"])
    entry = record["log"][0]
    assert {"levelname", "levelno", "message", "created"} <= set(entry)


def test_slow_action_reports_progress_and_finishes_within_the_wait(client: FlaskClient) -> None:
    started = time.monotonic()
    record = client.post(
        "/slow/actions/sleep", json={"seconds": 0.2}, headers={"Prefer": "wait=10"}
    ).get_json()
    assert time.monotonic() - started < 5  # returned when the task ended, not after 10 s
    assert record["status"] == "completed"
    assert record["progress"] == 100
    assert record["data"] == {"steps": 4}
    assert record["output"] == "slept"


def test_prefer_wait_and_respond_async(client: FlaskClient) -> None:
    response = client.post("/slow/actions/nap", json={"seconds": 2}, headers={"Prefer": "wait=0.1"})
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait=0.1"
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["status"] == "running"

    response = client.post(
        "/slow/actions/nap", json={"seconds": 2}, headers={"Prefer": "respond-async"}
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "respond-async"
    assert response.get_json()["status"] in ("pending", "running")

    response = client.post(
        "/calc/actions/add", json={"a": 1, "b": 1}, headers={"Prefer": "wait=nonsense"}
    )
    assert response.status_code == 201 and "Preference-Applied" not in response.headers


def test_prefer_wait_is_capped() -> None:
    with make_labthing(max_wait=0.2) as labthing:
        client = labthing.create_app().test_client()
        started = time.monotonic()
        response = client.post(
            "/slow/actions/nap", json={"seconds": 3}, headers={"Prefer": "wait=100"}
        )
        assert time.monotonic() - started < 2
        assert response.headers["Preference-Applied"] == "wait=0.2"
        assert response.get_json()["status"] == "running"


def test_get_one_invocation_and_404_for_unknown(client: FlaskClient) -> None:
    record = client.post("/calc/actions/add", json={"a": 1, "b": 1}).get_json()
    response = client.get(f"/actions/{record['id']}")
    assert response.status_code == 200
    assert response.get_json()["output"] == 2.0
    assert_problem(client.get("/actions/not-an-id"), 404)
    assert_problem(client.delete("/actions/not-an-id"), 404)


# -- cancelling ------------------------------------------------------------------------


def test_cancel_a_running_task(client: FlaskClient) -> None:
    record = client.post(
        "/slow/actions/sleep", json={"seconds": 10}, headers={"Prefer": "wait=0.1"}
    ).get_json()
    response = client.delete(f"/actions/{record['id']}")
    assert response.status_code == 200
    cancelled = response.get_json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelRequested"] is True
    assert cancelled["timeCompleted"] is not None
    body = assert_problem(client.delete(f"/actions/{record['id']}"), 409)
    assert "already finished" in body["detail"]


def test_cancelling_a_finished_task_is_409_and_changes_nothing(client: FlaskClient) -> None:
    record = client.post("/calc/actions/add", json={"a": 1, "b": 2}).get_json()
    assert_problem(client.delete(f"/actions/{record['id']}"), 409)
    after = client.get(f"/actions/{record['id']}").get_json()
    assert after["status"] == "completed" and after["output"] == 3.0
    assert after["cancelRequested"] is False


def test_a_task_that_ignores_cancellation_says_so(client: FlaskClient) -> None:
    record = client.post("/slow/actions/stubborn", json={"seconds": 0.6}).get_json()
    href = f"/actions/{record['id']}"
    wait_until(lambda: client.get(href).get_json()["status"] == "running")
    response = client.delete(f"{href}?timeout=0.05")
    assert response.status_code == 202
    still = response.get_json()
    assert still["status"] == "running"
    assert still["cancelRequested"] is True
    assert still["message"] == "cancellation requested"
    assert wait_for(client, record["id"])["status"] == "completed"


def test_cancel_timeout_must_be_a_number(client: FlaskClient) -> None:
    record = client.post(
        "/slow/actions/nap", json={"seconds": 1}, headers={"Prefer": "respond-async"}
    ).get_json()
    for bad in ("abc", "-1", "nan"):
        body = assert_problem(client.delete(f"/actions/{record['id']}?timeout={bad}"), 422)
        assert "timeout" in body["errors"]
    assert client.delete(f"/actions/{record['id']}").status_code == 200


def test_a_pending_task_is_cancelled_at_once(client: FlaskClient) -> None:
    first = client.post(
        "/slow/actions/sleep", json={"seconds": 2}, headers={"Prefer": "respond-async"}
    ).get_json()
    second = client.post(
        "/slow/actions/sleep", json={"seconds": 2}, headers={"Prefer": "wait=0.1"}
    ).get_json()
    assert second["status"] == "pending"
    started = time.monotonic()
    response = client.delete(f"/actions/{second['id']}?timeout=5")
    assert time.monotonic() - started < 2.5  # not the 5 s timeout
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert response.get_json()["timeStarted"] is None
    client.delete(f"/actions/{first['id']}")


# -- the instrument lock ---------------------------------------------------------------


def test_property_write_while_an_action_holds_the_lock_is_409() -> None:
    with make_labthing(property_lock_timeout=0.1) as labthing:
        client = labthing.create_app().test_client()
        record = client.post(
            "/slow/actions/sleep", json={"seconds": 5}, headers={"Prefer": "wait=0.1"}
        ).get_json()
        body = assert_problem(client.put("/slow/properties/speed", json=2.0), 409)
        assert "sleep" in body["detail"] and record["id"] in body["detail"]
        assert client.get("/slow/properties/speed").get_json() == 1.0
        client.delete(f"/actions/{record['id']}")
        assert client.put("/slow/properties/speed", json=2.0).status_code == 200


def test_unlocked_property_can_be_written_while_busy(client: FlaskClient) -> None:
    client.post("/slow/actions/sleep", json={"seconds": 5}, headers={"Prefer": "wait=0.1"})
    assert client.put("/calc/properties/free", json="ok").get_json() == "ok"


# -- listing ---------------------------------------------------------------------------


def test_lists_are_newest_first_filtered_and_paginated(client: FlaskClient) -> None:
    ids = [
        client.post("/calc/actions/add", json={"a": n, "b": 0}).get_json()["id"] for n in range(5)
    ]
    failed = client.post("/calc/actions/fail").get_json()["id"]
    listed = client.get("/actions").get_json()
    assert [record["id"] for record in listed] == [failed, *reversed(ids)]
    assert all(record["href"].endswith(record["id"]) for record in listed)

    assert [r["id"] for r in client.get("/actions?status=error").get_json()] == [failed]
    assert len(client.get("/actions?action=add&thing=calc").get_json()) == 5
    assert len(client.get("/calc/actions/add").get_json()) == 5
    assert len(client.get("/actions?status=completed,error").get_json()) == 6
    assert client.get("/actions?thing=slow").get_json() == []

    seen: list[str] = []
    url: str | None = "/actions?limit=2&action=add"
    for _ in range(10):
        if url is None:
            break
        response = client.get(url)
        page = response.get_json()
        assert len(page) <= 2
        seen.extend(record["id"] for record in page)
        link = response.headers.get("Link")
        url = link[1 : link.index(">")].replace("http://localhost", "") if link else None
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    "query", ["status=done", "limit=0", "limit=abc", "limit=100000", "cursor=-1"]
)
def test_bad_list_queries_are_422(client: FlaskClient, query: str) -> None:
    body = assert_problem(client.get(f"/actions?{query}"), 422)
    assert query.split("=")[0] in body["errors"]


def test_history_never_evicts_running_tasks() -> None:
    with make_labthing(history_max_count=3) as labthing:
        client = labthing.create_app().test_client()
        running = client.post(
            "/slow/actions/nap", json={"seconds": 5}, headers={"Prefer": "respond-async"}
        ).get_json()
        finished = [
            client.post("/calc/actions/add", json={"a": 1, "b": n}).get_json()["id"]
            for n in range(10)
        ]
        listed = [record["id"] for record in client.get("/actions").get_json()]
        assert running["id"] in listed
        assert listed[:3] == list(reversed(finished[-3:]))
        assert len(listed) == 4
        assert_problem(client.get(f"/actions/{finished[0]}"), 404)
        assert client.delete(f"/actions/{running['id']}").status_code == 200


def test_things_cannot_be_added_after_the_app_is_built(labthing: LabThing) -> None:
    from lab_for_tests import Calculator

    from labthings import ConfigurationError

    labthing.create_app()
    with pytest.raises(ConfigurationError):
        labthing.add_thing("late", Calculator())


def test_a_null_body_starts_an_action_without_arguments(client: FlaskClient) -> None:
    # W3C WoT clients send `null` as the body of an action without input.
    response = client.post("/calc/actions/echo", data="null", content_type="application/json")
    assert response.status_code == 201
    assert response.get_json()["input"] == {"value": None}
    missing = client.post("/calc/actions/add", data="null", content_type="application/json")
    assert set(assert_problem(missing, 422)["errors"]) == {"a", "b"}


@pytest.mark.parametrize("tag", ['""', "", "*", '"nonsense"', 'W/""'])
def test_any_if_none_match_on_a_record_is_handled(client: FlaskClient, tag: str) -> None:
    task_id = client.post("/calc/actions/add", json={"a": 1, "b": 2}).get_json()["id"]
    response = client.get(f"/actions/{task_id}?wait=0.05", headers={"If-None-Match": tag})
    assert response.status_code in (200, 304)
    assert client.get(f"/actions/{task_id}", headers={"If-None-Match": tag}).status_code in (
        200,
        304,
    )


def test_settings_and_overrides_both_apply() -> None:
    labthing = LabThing(settings=Settings(cancel_wait=2.0), max_wait=5)
    assert (labthing.settings.cancel_wait, labthing.settings.max_wait) == (2.0, 5)
    with pytest.raises(ConfigurationError, match="max_wiat"):
        LabThing(max_wiat=5)


def test_if_none_match_compares_weakly_on_properties_and_records(client: FlaskClient) -> None:
    """RFC 9110 §13.1.2: a client may send back a tag as weak (`W/"..."`); it still matches."""
    task_id = client.post("/calc/actions/add", json={"a": 1, "b": 2}).get_json()["id"]
    for path in ("/calc/properties/value", f"/actions/{task_id}"):
        etag = client.get(path).headers["ETag"]
        for sent in (etag, f"W/{etag}", f'"other", W/{etag}'):
            response = client.get(path, headers={"If-None-Match": sent})
            assert response.status_code == 304, (path, sent)
            assert response.headers["ETag"] == etag
        assert client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_a_long_poll_waits_from_the_version_a_weak_tag_names(client: FlaskClient) -> None:
    started = client.post(
        "/slow/actions/nap", json={"seconds": 5}, headers={"Prefer": "respond-async"}
    )
    task_id, pending_tag = started.get_json()["id"], started.headers["ETag"]
    deadline = time.monotonic() + 5
    while client.get(f"/actions/{task_id}").get_json()["status"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    asked = time.monotonic()
    response = client.get(
        f"/actions/{task_id}?wait=5", headers={"If-None-Match": f"W/{pending_tag}"}
    )
    assert time.monotonic() - asked < 2  # that version is gone: no wait for the next
    assert response.status_code == 200 and response.get_json()["status"] == "running"
    assert client.delete(f"/actions/{task_id}").status_code == 200
