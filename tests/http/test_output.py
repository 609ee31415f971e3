"""Large and binary outputs: stored as files, linked from the record, served with their
media type at `/actions/<id>/output`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from labthings import Blob, LabThing, Thing, action, cancellable_sleep


class Camera(Thing):
    @action(lock=False)
    def snap(self) -> Blob:
        return Blob(b"\x89PNG\r\n\x1a\n fake image", "image/png")

    @action(lock=False)
    def histogram(self, bins: int) -> list[int]:
        return list(range(bins))

    @action(lock=False)
    def slow(self) -> int:
        cancellable_sleep(30)
        return 1


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    labthing = LabThing(title="Camera lab", blob_threshold=1000)
    labthing.add_thing("camera", Camera())
    with labthing:
        yield labthing.create_app().test_client()


def test_a_binary_output_is_served_by_link_with_its_media_type(client: FlaskClient) -> None:
    record = client.post("/camera/actions/snap", headers={"Prefer": "wait=5"}).get_json()
    assert record["status"] == "completed"
    assert (record["output"], record["outputMediaType"]) == (None, "image/png")
    link = next(link for link in record["links"] if link["rel"] == "output")
    assert link["type"] == "image/png"
    assert link["href"] == record["href"] + "/output"
    with client.get(f"/actions/{record['id']}/output") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/png"
        assert response.get_data() == b"\x89PNG\r\n\x1a\n fake image"


def test_a_large_json_output_is_a_file_and_a_small_one_stays_in_the_record(
    client: FlaskClient,
) -> None:
    large = client.post("/camera/actions/histogram", json={"bins": 1000}).get_json()
    assert large["output"] is None and large["outputMediaType"] == "application/json"
    with client.get(f"/actions/{large['id']}/output") as served:
        assert served.mimetype == "application/json"
        assert served.get_json() == list(range(1000))
    small = client.post("/camera/actions/histogram", json={"bins": 3}).get_json()
    assert small["output"] == [0, 1, 2]
    assert "output" not in {link["rel"] for link in small["links"]}
    assert client.get(f"/actions/{small['id']}/output").get_json() == [0, 1, 2]


def test_no_output_before_completion_or_for_unknown_ids(client: FlaskClient) -> None:
    running = client.post("/camera/actions/slow", headers={"Prefer": "respond-async"})
    task_id = running.get_json()["id"]
    pending = client.get(f"/actions/{task_id}/output")
    assert pending.status_code == 404
    assert "has no output" in pending.get_json()["detail"]
    client.delete(f"/actions/{task_id}")
    assert client.get("/actions/../../etc/passwd/output").status_code == 404
    assert client.get("/actions/nope/output").status_code == 404
