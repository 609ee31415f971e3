"""The event hub: fan-out, bounded queues with missed counts, replay, and closing."""

from __future__ import annotations

import threading
import time

from labthings.core.live.hub import Event, EventHub, Missed, ThingPublisher


def everything(event: Event) -> bool:
    return True


def test_subscribers_get_matching_events_in_order() -> None:
    hub = EventHub()
    tasks = hub.subscribe(lambda event: event.topic.startswith("task/"))
    every = hub.subscribe(everything)
    hub.publish("task/1", "update", {"n": 1})
    hub.publish("property/stage/x", "x", 5)
    hub.publish("task/1", "record", {"n": 2})
    got = [tasks.get(1), tasks.get(1)]
    assert [(e.kind, e.data) for e in got if isinstance(e, Event)] == [
        ("update", {"n": 1}),
        ("record", {"n": 2}),
    ]
    assert tasks.get(0.01) is None
    assert [every.get(1) for _ in range(3)][1] == Event(2, "property/stage/x", "x", 5)


def test_a_slow_subscriber_loses_the_oldest_and_is_told() -> None:
    hub = EventHub(queue_size=3)
    slow = hub.subscribe(everything)
    started = time.monotonic()
    for n in range(100):
        hub.publish("t", "k", n)  # never blocks, whatever the subscriber does
    assert time.monotonic() - started < 2
    assert slow.get(1) == Missed(97)
    assert [event.data for event in (slow.get(1), slow.get(1), slow.get(1))] == [97, 98, 99]


def test_replay_after_a_last_event_id() -> None:
    hub = EventHub(replay=5)
    for n in range(10):
        hub.publish("t", "k", n)
    resumed = hub.subscribe(everything, last_event_id=7)
    assert [resumed.get(1).data for _ in range(3)] == [7, 8, 9]  # ids 8, 9, 10
    too_old = hub.subscribe(everything, last_event_id=2)
    assert too_old.get(1) == Missed(3)  # ids 3-5 left the buffer
    assert too_old.get(1).data == 5
    nonsense = hub.subscribe(everything, last_event_id=999)
    assert nonsense.get(0.01) is None


def test_get_waits_for_a_publish_and_close_wakes_it() -> None:
    hub = EventHub()
    subscription = hub.subscribe(everything)
    threading.Timer(0.1, lambda: hub.publish("t", "k", "late")).start()
    event = subscription.get(5)
    assert isinstance(event, Event) and event.data == "late"
    threading.Timer(0.1, hub.close).start()
    started = time.monotonic()
    assert subscription.get(5) is None
    assert subscription.closed and time.monotonic() - started < 2
    assert hub.subscribe(everything).closed  # no new watchers after closing
    assert hub.watchers == 0


def test_thing_publisher_topics() -> None:
    hub = EventHub()
    subscription = hub.subscribe(everything)
    publisher = ThingPublisher(hub, "stage")
    publisher.property_changed("speed", 2.0)
    publisher.event("limit", {"x": 1})
    first, second = subscription.get(1), subscription.get(1)
    assert isinstance(first, Event) and isinstance(second, Event)
    assert (first.topic, first.kind, first.data) == ("property/stage/speed", "speed", 2.0)
    assert (second.topic, second.kind) == ("event/stage/limit", "limit")
    assert publisher.watching_property("speed")
    subscription.close()
    assert not publisher.watching_property("speed")


def test_a_slow_watcher_loses_updates_before_final_records() -> None:
    hub = EventHub(queue_size=3)
    watcher = hub.subscribe(lambda event: True)
    hub.publish("task/a", "record", {"id": "a"})
    for step in range(5):
        hub.publish("task/b", "update", {"step": step})
    hub.publish("task/b", "record", {"id": "b"})
    got = [watcher.get(0) for _ in range(4)]
    assert isinstance(got[0], Missed)
    kinds = [(item.kind, item.data) for item in got[1:] if isinstance(item, Event)]
    assert kinds == [("record", {"id": "a"}), ("update", {"step": 4}), ("record", {"id": "b"})]
    watcher.close()


def test_a_slow_watcher_loses_progress_updates_before_log_lines() -> None:
    hub = EventHub(queue_size=4)
    watcher = hub.subscribe(everything)
    hub.publish("task/a", "log", {"message": "first"})
    for step in range(10):
        hub.publish("task/a", "update", {"step": step})
    hub.publish("task/a", "log", {"message": "second"})
    hub.publish("property/stage/log", "log", 1.0)  # a property called "log" is not spared
    hub.publish("task/a", "record", {"id": "a"})
    got = [watcher.get(0) for _ in range(5)]
    assert got[0] == Missed(10)
    kinds = [(item.topic, item.kind) for item in got[1:] if isinstance(item, Event)]
    assert kinds == [
        ("task/a", "log"),
        ("task/a", "log"),
        ("property/stage/log", "log"),
        ("task/a", "record"),
    ]
    hub.publish("property/stage/log", "log", 2.0)
    for name in "bcde":
        hub.publish(f"task/{name}", "record", {"id": name})
    assert watcher.get(0) == Missed(1)
    records = [watcher.get(0) for _ in range(4)]
    assert [item.data for item in records if isinstance(item, Event)] == [
        {"id": name} for name in "bcde"
    ]
