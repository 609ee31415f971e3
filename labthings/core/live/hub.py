"""The event hub: what changes (tasks, properties, Thing events) fans out to watchers.

Publishing never blocks and never waits for a watcher: each subscription has a bounded
queue, and a watcher that falls behind loses the least needed events (progress updates
first, final records last) and is told how many it missed. Every event gets an id,
increasing across the hub; a bounded replay buffer lets a watcher that reconnects resume
after the last id it saw (SSE's `Last-Event-ID`).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labthings.core.errors import ServerBusyError

__all__ = ["Event", "EventHub", "Missed", "Subscription", "ThingPublisher"]


@dataclass(frozen=True)
class Event:
    """One update: `topic` says what it is about, `kind` what happened, `data` the JSON."""

    id: int
    topic: str
    kind: str
    data: Any


@dataclass(frozen=True)
class Missed:
    """Stands in for `count` updates a watcher did not get (too slow, or too old to replay)."""

    count: int


Filter = Callable[[Event], bool]


def _is_progress_update(event: Event) -> bool:
    return event.topic.startswith("task/") and event.kind == "update"


def _is_not_final_record(event: Event) -> bool:
    return not (event.topic.startswith("task/") and event.kind == "record")


class Subscription:
    """A watcher's bounded queue of events; `get()` them, `close()` when done."""

    def __init__(self, hub: EventHub, accept: Filter, size: int) -> None:
        self._hub = hub
        self.accept = accept
        self._queue: deque[Event] = deque()
        self._size = size
        self._missed = 0
        self._ready = threading.Condition(hub.lock)
        self.closed = False

    def _offer(self, event: Event) -> None:
        """Queue `event` (hub lock held); when full, drop one queued event and count it.

        The one dropped is the oldest task progress update (a later update or the final
        record supersedes it), else the oldest event that is not a task's final record
        (those say how an invocation ended, and come once), else the oldest.
        """
        if len(self._queue) >= self._size:
            del self._queue[self._least_needed()]
            self._missed += 1
        self._queue.append(event)
        self._ready.notify()

    def _least_needed(self) -> int:
        """Index of the queued event a full queue gives up first (see `_offer`)."""
        for droppable in (_is_progress_update, _is_not_final_record):
            for index, queued in enumerate(self._queue):
                if droppable(queued):
                    return index
        return 0

    def get(self, timeout: float) -> Event | Missed | None:
        """The next event, a `Missed` marker if updates were dropped, or None on timeout."""
        with self._ready:
            if not self._queue and not self._missed and not self.closed:
                self._ready.wait(timeout)
            if self._missed:
                missed, self._missed = self._missed, 0
                return Missed(missed)
            return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        """Stop receiving; wakes a waiting `get`."""
        self._hub.unsubscribe(self)


class EventHub:
    """Publish/subscribe with bounded queues and a bounded replay buffer."""

    def __init__(self, replay: int = 1000, queue_size: int = 256) -> None:
        self.lock = threading.Lock()
        self.epoch = uuid.uuid4().hex[:8]
        """Names this hub's run: event ids restart with a new hub, so resumption checks it."""
        self._last_id = 0
        self._replay: deque[Event] = deque(maxlen=replay)
        self._queue_size = queue_size
        self._subscriptions: list[Subscription] = []
        self._closed = False

    @property
    def watchers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscriptions)

    def publish(self, topic: str, kind: str, data: Any) -> Event:
        """Record an event and offer it to every matching subscription (never blocks)."""
        with self.lock:
            self._last_id += 1
            event = Event(self._last_id, topic, kind, data)
            self._replay.append(event)
            for subscription in self._subscriptions:
                if subscription.accept(event):
                    subscription._offer(event)
        return event

    def subscribe(
        self, accept: Filter, last_event_id: int | None = None, *, limit: int | None = None
    ) -> Subscription:
        """A new subscription to events `accept` says yes to.

        With `last_event_id`, buffered events after it are queued first; if some of
        them have already left the buffer, a `Missed` marker comes first. With `limit`,
        ServerBusyError if that many subscriptions are open already.
        """
        subscription = Subscription(self, accept, self._queue_size)
        with self.lock:
            if limit is not None and len(self._subscriptions) >= limit:
                raise ServerBusyError(
                    f"the server already has {limit} event streams open; try again later"
                )
            if last_event_id is not None and 0 <= last_event_id <= self._last_id:
                oldest = self._replay[0].id if self._replay else self._last_id + 1
                if last_event_id + 1 < oldest:
                    subscription._missed = oldest - last_event_id - 1
                for event in self._replay:
                    if event.id > last_event_id and accept(event):
                        subscription._offer(event)
            if self._closed:
                subscription.closed = True
            else:
                self._subscriptions.append(subscription)
        return subscription

    def close(self) -> None:
        """End every subscription (at shutdown, so that event streams finish)."""
        with self.lock:
            self._closed = True
            subscriptions, self._subscriptions = self._subscriptions, []
            for subscription in subscriptions:
                subscription.closed = True
                subscription._ready.notify_all()

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription (idempotent) and wake its reader."""
        with self.lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            subscription.closed = True
            subscription._ready.notify_all()


class ThingPublisher:
    """Publishes one served Thing's property changes and events to a hub.

    Topics: `property/<thing>/<name>` (the event's kind is the property name, its data
    the value) and `event/<thing>/<name>` (kind: the event name, data: its data).
    """

    def __init__(self, hub: EventHub, thing: str) -> None:
        self.hub = hub
        self.thing = thing

    def property_changed(self, name: str, value: Any) -> None:
        """Publish a property's new JSON value."""
        self.hub.publish(f"property/{self.thing}/{name}", name, value)

    def event(self, name: str, data: Any) -> None:
        """Publish an event's JSON data."""
        self.hub.publish(f"event/{self.thing}/{name}", name, data)

    def watching_property(self, name: str) -> bool:
        """True if any subscription is open (reading a value for nobody is wasted work)."""
        return self.hub.watchers > 0
