"""Reused invocations in the core: the Idempotency-Key store, per-key locks, input digests,
and `InvocationReuse` handing back keyed, de-duplicated and cached invocations."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from core_helpers import WAIT, FakeClock, finish, wait_until
from lab_dedupe import Counter

from labthings.core.errors import ConfigurationError, ShuttingDownError, ValidationError
from labthings.core.settings import Settings
from labthings.core.tasks import idempotency, reuse
from labthings.core.tasks.idempotency import (
    KEYS_FILE,
    IdempotencyKeyBusy,
    IdempotencyKeyReused,
    IdempotencyKeys,
    KeyedRequest,
)
from labthings.core.tasks.keyedlocks import KeyedLocks
from labthings.core.tasks.record import TaskStatus
from labthings.core.tasks.reuse import InvocationReuse, Invoked, Reuse, input_digest
from labthings.core.tasks.runner import TaskRunner
from labthings.core.tasks.thread import TaskThread
from labthings.core.things.actions import ActionAffordance, action
from labthings.core.things.registry import ThingEntry, ThingRegistry

# -- input digests ----------------------------------------------------------------------


def test_the_digest_of_an_input_ignores_key_order_and_tells_values_apart() -> None:
    assert input_digest({"a": 1, "b": [1, 2]}) == input_digest({"b": [1, 2], "a": 1})
    assert input_digest({"a": 1}) != input_digest({"a": 2})
    assert input_digest({"a": 1.0}) != input_digest({"a": "1.0"})
    assert len(input_digest({})) == 64


def test_defaults_make_equal_inputs_equal() -> None:
    measure = Counter.measure
    assert isinstance(measure, ActionAffordance)

    def digest(body: dict[str, Any]) -> str:
        return input_digest(measure.dump_input(measure.validate_input(body)))

    assert digest({"x": 1}) == digest({"y": 0, "x": 1})
    assert digest({"x": 1}) != digest({"x": 1, "y": 1})


def test_cache_for_must_be_a_number_of_seconds() -> None:
    for bad in (-1, float("inf"), float("nan"), True, "60"):
        with pytest.raises(ConfigurationError, match="cache_for"):
            action(cache_for=bad)(lambda self: None)


# -- per-key locks ----------------------------------------------------------------------


def test_one_holder_per_key_and_none_kept_afterwards() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    with locks.hold("a", WAIT, RuntimeError):
        with locks.hold("b", 0.01, RuntimeError):  # another key: never waits
            assert len(locks) == 2
        with pytest.raises(TimeoutError):
            with locks.hold("a", 0.05, lambda: TimeoutError("busy")):
                pytest.fail("the block ran without the lock")
    assert len(locks) == 0


# -- the key store ------------------------------------------------------------------------

REQUEST = KeyedRequest("counter", "measure", input_digest({"x": 1, "y": 0}))


def test_a_key_leads_to_its_invocation_until_it_expires() -> None:
    clock = FakeClock()
    keys = IdempotencyKeys(None, lifetime=60, clock=clock)
    keys.remember("alice", "k", REQUEST, "id-1")
    found = keys.find("alice", "k")
    assert found is not None and found.invocation == "id-1" and found.request == REQUEST
    assert keys.find("bob", "k") is None  # keys belong to their holder
    clock.advance(59)
    assert keys.find("alice", "k") is not None
    clock.advance(2)
    assert keys.find("alice", "k") is None
    keys.remember("alice", "k", REQUEST, "id-2")  # an expired key is a new one
    assert (found := keys.find("alice", "k")) is not None and found.invocation == "id-2"
    keys.close()


def test_expired_keys_are_purged() -> None:
    clock = FakeClock()
    keys = IdempotencyKeys(None, lifetime=10, clock=clock)
    for n in range(5):
        keys.remember("", f"k{n}", REQUEST, f"id-{n}")
    clock.advance(idempotency.PURGE_EVERY + 1)
    keys.remember("", "fresh", REQUEST, "id-fresh")
    assert len(keys) == 1
    keys.close()


def test_keys_survive_reopening_the_file(tmp_path: Path) -> None:
    keys = IdempotencyKeys(tmp_path / KEYS_FILE, lifetime=60)
    keys.remember("", "k", REQUEST, "id-1")
    keys.close()
    reopened = IdempotencyKeys(tmp_path / KEYS_FILE, lifetime=60)
    try:
        assert (found := reopened.find("", "k")) is not None and found.invocation == "id-1"
    finally:
        reopened.close()


def test_a_closed_store_says_the_server_is_stopping() -> None:
    keys = IdempotencyKeys(None, lifetime=60)
    keys.close()
    keys.close()
    with pytest.raises(ShuttingDownError):
        keys.find("", "k")


def test_a_key_sent_with_another_request_is_refused() -> None:
    keys = IdempotencyKeys(None, lifetime=60)
    keys.remember("", "k", REQUEST, "id-1")
    stored = keys.find("", "k")
    assert stored is not None
    stored.check(REQUEST)
    with pytest.raises(IdempotencyKeyReused, match="another body") as raised:
        stored.check(KeyedRequest("counter", "measure", input_digest({"x": 2, "y": 0})))
    assert isinstance(raised.value, ValidationError)
    assert list(raised.value.errors) == ["Idempotency-Key"]
    with pytest.raises(IdempotencyKeyReused, match=r"another action \(counter/measure"):
        stored.check(KeyedRequest("counter", "hold", REQUEST.digest))
    keys.close()


# -- InvocationReuse ---------------------------------------------------------------------------


class Lab:
    """A runner, a Counter and an InvocationReuse over them; POST-like calls."""

    def __init__(
        self,
        data_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        **settings: Any,
    ) -> None:
        self.counter = Counter()
        self.registry = ThingRegistry("lab")
        self.entry: ThingEntry = self.registry.add("counter", self.counter)
        self.runner = TaskRunner(Settings(**settings), data_dir=data_dir)
        self.keys = IdempotencyKeys(
            None if data_dir is None else data_dir / KEYS_FILE, lifetime=3600
        )
        self.reuse = InvocationReuse(self.runner, self.registry, self.keys, clock=clock)

    def post(self, name: str, body: Any = None, **options: Any) -> Invoked:
        affordance = self.entry.affordance(name, ActionAffordance)
        return self.reuse.invoke(self.entry, affordance, body or {}, **options)

    def runs(self, name: str) -> int:
        return self.counter.runs.get(name, 0)

    def close(self) -> None:
        self.runner.shutdown(WAIT)
        self.runner.close()
        self.keys.close()


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    made: list[Lab] = []

    def make(*args: Any, **kwargs: Any) -> Lab:
        made.append(Lab(*args, **kwargs))
        return made[-1]

    yield make
    for lab in made:
        lab.close()


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab()


def done(invoked: Invoked) -> dict[str, Any]:
    task = invoked.invocation
    assert isinstance(task, TaskThread)
    return finish(task)


def test_plain_requests_are_never_reused(lab: Lab) -> None:
    first, second = lab.post("measure", {"x": 1}), lab.post("measure", {"x": 1})
    assert first.reused is None and second.reused is None
    assert first.invocation.id != second.invocation.id
    done(first), done(second)
    assert lab.runs("measure") == 2


def test_a_key_hands_back_its_invocation_to_the_same_request_only(lab: Lab) -> None:
    first = lab.post("measure", {"x": 1}, key="k")
    done(first)
    again = lab.post("measure", {"x": 1, "y": 0}, key="k")
    assert again == Invoked(again.invocation, Reuse.IDEMPOTENCY_KEY)
    assert again.invocation.id == first.invocation.id
    with pytest.raises(IdempotencyKeyReused):
        lab.post("measure", {"x": 2}, key="k")
    with pytest.raises(IdempotencyKeyReused):
        lab.post("hold", {"seconds": 0}, key="k")
    other = lab.post("measure", {"x": 1}, key="k", requested_by="bob")  # bob's own key
    assert other.reused is None and other.invocation.id != first.invocation.id
    done(other)
    assert lab.runs("measure") == 2


def test_bad_input_with_a_key_starts_nothing_and_keeps_no_key(lab: Lab) -> None:
    with pytest.raises(ValidationError):
        lab.post("measure", {"x": "one"}, key="k")
    assert lab.keys.find("", "k") is None
    assert lab.post("measure", {"x": 1}, key="k").reused is None


def test_a_key_whose_invocation_left_the_history_starts_anew(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab(history_max_count=1)
    first = lab.post("measure", {"x": 1}, key="k")
    done(first)
    done(lab.post("measure", {"x": 5}))  # evicts the first
    again = lab.post("measure", {"x": 1}, key="k")
    assert again.reused is None and again.invocation.id != first.invocation.id
    done(again)
    assert (stored := lab.keys.find("", "k")) is not None
    assert stored.invocation == again.invocation.id


def test_same_key_from_many_threads_starts_one_invocation(lab: Lab) -> None:
    barrier = threading.Barrier(8)
    results: list[Invoked] = []

    def post() -> None:
        barrier.wait(WAIT)
        results.append(lab.post("hold", {"seconds": 0.5}, key="together"))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len(results) == 8
    assert len({result.invocation.id for result in results}) == 1
    assert [result.reused for result in results].count(None) == 1
    done(results[0])
    assert lab.runs("hold") == 1


def test_a_repeat_waits_for_the_first_request_with_its_key_but_not_for_ever(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reuse, "LOCK_WAIT", 0.1)
    storing, release = threading.Event(), threading.Event()
    remember = lab.keys.remember

    def slow_remember(*args: Any) -> None:
        storing.set()
        release.wait(WAIT)
        remember(*args)

    monkeypatch.setattr(lab.keys, "remember", slow_remember)
    results: list[Invoked] = []
    first = threading.Thread(target=lambda: results.append(lab.post("measure", {"x": 1}, key="k")))
    first.start()
    assert storing.wait(WAIT)
    with pytest.raises(IdempotencyKeyBusy, match="still being started"):
        lab.post("measure", {"x": 1}, key="k")
    assert lab.post("measure", {"x": 1}, key="other-key").reused is None  # never waits
    release.set()
    first.join(WAIT)
    again = lab.post("measure", {"x": 1}, key="k")
    assert again.reused is Reuse.IDEMPOTENCY_KEY
    assert again.invocation.id == results[0].invocation.id


def test_dedupe_joins_a_running_invocation_until_it_ends(lab: Lab) -> None:
    first = lab.post("scan", {"seconds": 10})
    wait_until(lambda: lab.runs("scan") == 1)
    joined = lab.post("scan", {"seconds": 10, "label": ""})
    assert joined == Invoked(first.invocation, Reuse.DEDUPE)
    other = lab.post("scan", {"seconds": 10, "label": "other"})
    assert other.reused is None
    wait_until(lambda: lab.runs("scan") == 2)
    assert first.invocation.cancel() and other.invocation.cancel()
    assert done(first)["status"] == "cancelled"
    done(other)
    after = lab.post("scan", {"seconds": 0})
    assert after.reused is None and after.invocation.id != first.invocation.id
    done(after)
    assert lab.runs("scan") == 3


def test_dedupe_does_not_join_an_invocation_being_cancelled(lab: Lab) -> None:
    first = lab.post("hold", {"seconds": 0})  # a plain action: never joined
    done(first)
    scan = lab.post("scan", {"seconds": 10})
    wait_until(lambda: lab.runs("scan") == 1)
    scan.invocation.cancel()
    fresh = lab.post("scan", {"seconds": 0})
    assert fresh.reused is None
    done(scan), done(fresh)


def test_dedupe_from_many_threads_starts_one_invocation(lab: Lab) -> None:
    barrier = threading.Barrier(8)
    results: list[Invoked] = []

    def post() -> None:
        barrier.wait(WAIT)
        results.append(lab.post("scan", {"seconds": 0.5}))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len({result.invocation.id for result in results}) == 1
    done(results[0])
    assert lab.runs("scan") == 1


def test_cache_for_hands_back_a_completed_result_within_its_lifetime(
    make_lab: Callable[..., Lab],
) -> None:
    clock = FakeClock()
    lab = make_lab(clock=clock)
    first = lab.post("dark", {"exposure": 0.01})
    assert done(first)["status"] == "completed"
    cached = lab.post("dark", {"exposure": 0.01, "fail": False})
    assert cached.reused is Reuse.CACHE and cached.invocation.id == first.invocation.id
    assert cached.invocation.status is TaskStatus.COMPLETED
    assert lab.post("dark", {"exposure": 0.02}).reused is None  # another input
    clock.advance(3601)
    later = lab.post("dark", {"exposure": 0.01})
    assert later.reused is None and later.invocation.id != first.invocation.id
    done(later)
    assert lab.runs("dark") == 3


def test_failed_and_cancelled_results_are_never_cached(lab: Lab) -> None:
    failed = lab.post("dark", {"fail": True})
    assert done(failed)["status"] == "error"
    assert lab.post("dark", {"fail": True}).reused is None
    slow = lab.post("dark", {"exposure": 10})
    wait_until(lambda: lab.runs("dark") == 3)
    while_running = lab.post("dark", {"exposure": 10})  # not dedupe: another one
    assert while_running.reused is None
    slow.invocation.cancel(), while_running.invocation.cancel()
    assert done(slow)["status"] == "cancelled"
    done(while_running)
    again = lab.post("dark", {"exposure": 10})
    assert again.reused is None
    again.invocation.cancel()
    done(again)


def test_dedupe_and_cache_together(lab: Lab) -> None:
    first = lab.post("both", {"seconds": 0.3})
    assert lab.post("both", {"seconds": 0.3}).reused is Reuse.DEDUPE
    done(first)
    cached = lab.post("both", {"seconds": 0.3})
    assert cached.reused is Reuse.CACHE and cached.invocation.id == first.invocation.id
    assert lab.runs("both") == 1


def test_a_keyed_request_may_be_deduped_and_the_key_then_leads_there(lab: Lab) -> None:
    first = lab.post("scan", {"seconds": 10})
    keyed = lab.post("scan", {"seconds": 10}, key="k")
    assert keyed.reused is Reuse.DEDUPE and keyed.invocation.id == first.invocation.id
    again = lab.post("scan", {"seconds": 10}, key="k")
    assert again.reused is Reuse.IDEMPOTENCY_KEY and again.invocation.id == first.invocation.id
    first.invocation.cancel()
    done(first)


def test_cached_results_and_keys_survive_a_restart(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab(tmp_path)
    dark = lab.post("dark", {"exposure": 0.01})
    keyed = lab.post("measure", {"x": 3}, key="k")
    done(dark), done(keyed)
    lab.close()

    again = make_lab(tmp_path)
    cached = again.post("dark", {"exposure": 0.01})
    assert cached.reused is Reuse.CACHE and cached.invocation.id == dark.invocation.id
    repeated = again.post("measure", {"x": 3}, key="k")
    assert repeated.reused is Reuse.IDEMPOTENCY_KEY
    assert repeated.invocation.id == keyed.invocation.id
    assert repeated.invocation.snapshot()["output"] == 3
    assert again.counter.runs == {}


def test_a_failing_finish_listener_is_logged_and_the_record_kept(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(record: dict[str, Any]) -> None:
        raise RuntimeError("listener broke")

    lab.runner.on_finish(fail)
    with caplog.at_level(logging.ERROR):
        record = done(lab.post("flash", {"level": 2}))
    assert record["status"] == "completed"
    assert "a finish listener failed" in caplog.text
    assert lab.post("flash", {"level": 2}).reused is Reuse.CACHE  # ours still ran
