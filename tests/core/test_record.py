"""The invocation record is defined once: snapshots, live updates and the schema agree."""

from __future__ import annotations

import json
from typing import Any

from core_helpers import finish, start_task

from labthings import TaskThread, update_task_progress
from labthings.core.tasks.record import RECORD_FIELDS, linked_text, record_schema, with_links


def test_snapshots_updates_and_the_schema_name_the_same_fields() -> None:
    updates: list[dict[str, Any]] = []

    def listener(task: TaskThread, kind: str, data: dict[str, Any]) -> None:
        if kind == "update":
            updates.append(data)

    record = finish(start_task(lambda: update_task_progress(5, "going"), listener=listener))
    names = [spec.name for spec in RECORD_FIELDS]
    assert list(record) == names
    assert updates and all(
        list(update) == [s.name for s in RECORD_FIELDS if s.live] for update in updates
    )
    linked = with_links(record, "http://lab:7485/")
    schema = record_schema()
    assert set(schema["properties"]) == set(linked)
    assert set(schema["required"]) == set(linked)


def test_links_are_absolute_and_the_record_is_not_changed() -> None:
    record = finish(start_task(lambda: None))
    linked = with_links(record, "http://lab:7485/")
    assert "href" not in record
    assert linked["href"] == f"http://lab:7485/actions/{record['id']}"
    assert {link["rel"]: link["href"] for link in linked["links"]} == {
        "self": linked["href"],
        "thing": "http://lab:7485/thing/",
        "invocations": f"http://lab:7485/thing/actions/{record['action']}",
        "monitor": f"{linked['href']}/events",
    }


def test_a_finished_task_keeps_its_stored_text_which_splices_to_its_linked_record() -> None:
    task = start_task(lambda: {"peak": 512.5})
    record = finish(task)
    stored = task.final_listing
    assert stored is not None
    assert json.loads(stored.text) == record == task.snapshot()
    root = "http://lab:7485/"
    assert json.loads(linked_text(stored, root)) == with_links(record, root)
