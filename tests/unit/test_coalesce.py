"""The coalescer: batches of what arrives during a flush, one outcome per caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from venta_core.ports.coalesce import Coalescer

Item = tuple[str, int]  # key, value


class Store:
    """A flush target: applies (key, value) items in order, one "round trip" per flush, which
    the test holds open until it lets it go (``gate``), and fails items on request."""

    def __init__(self) -> None:
        self.values: dict[str, list[int]] = {}
        self.batches: list[list[Item]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.fail_values: set[int] = set()
        self.raise_on: set[int] = set()

    async def flush(self, items: list[Item]) -> Sequence[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        await self.gate.wait()
        if any(value in self.raise_on for _, value in items):
            raise ConnectionError("the backend went away")
        outcomes: list[int | BaseException] = []
        for key, value in items:
            if value in self.fail_values:
                outcomes.append(ValueError(f"bad value {value}"))
                continue
            self.values.setdefault(key, []).append(value)
            outcomes.append(value * 10)
        return outcomes

    async def in_flight(self) -> None:
        """Wait until a flush has started (and is held at the gate)."""
        await self.started.wait()
        self.started.clear()


async def test_an_idle_coalescer_flushes_a_lone_item_at_once() -> None:
    store = Store()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    assert await coalescer.submit(("a", 1)) == 10
    assert await coalescer.submit(("a", 2)) == 20
    # One flush per item: nothing waited for company.
    assert store.batches == [[("a", 1)], [("a", 2)]]
    assert (coalescer.flushes, coalescer.flushed) == (2, 2)


async def test_items_submitted_during_a_flush_go_out_together_next() -> None:
    store = Store()
    store.gate.clear()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    first = asyncio.create_task(coalescer.submit(("a", 1)))
    await store.in_flight()
    rest = [asyncio.create_task(coalescer.submit((f"k{i}", i))) for i in range(2, 7)]
    await asyncio.sleep(0)
    assert coalescer.waiting == 5
    store.gate.set()
    assert await first == 10
    assert await asyncio.gather(*rest) == [20, 30, 40, 50, 60]
    assert store.batches == [[("a", 1)], [(f"k{i}", i) for i in range(2, 7)]]
    assert coalescer.waiting == 0


async def test_order_per_key_is_kept_across_and_within_batches() -> None:
    store = Store()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush, max_batch=7)

    async def writer(key: str) -> None:
        for value in range(20):
            await coalescer.submit((key, value))

    async def burst(key: str) -> None:  # many items of one key in flight at once
        await asyncio.gather(*(coalescer.submit((key, v)) for v in range(20)))

    await asyncio.gather(*(writer(f"w{i}") for i in range(10)), burst("burst"))
    for key, values in store.values.items():
        assert values == list(range(20)), key
    assert max(len(b) for b in store.batches) == 7
    assert coalescer.flushes < coalescer.flushed  # some batches held more than one item


async def test_an_item_failure_reaches_its_caller_only() -> None:
    store = Store()
    store.gate.clear()
    store.fail_values = {3}
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    first = asyncio.create_task(coalescer.submit(("a", 1)))
    await store.in_flight()
    tasks = [asyncio.create_task(coalescer.submit((f"k{v}", v))) for v in (2, 3, 4)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(first, *tasks, return_exceptions=True)
    assert results[0] == 10 and results[1] == 20 and results[3] == 40
    assert isinstance(results[2], ValueError) and "bad value 3" in str(results[2])
    assert store.values == {"a": [1], "k2": [2], "k4": [4]}


async def test_a_failed_flush_fails_every_item_of_its_batch_and_no_other() -> None:
    store = Store()
    store.gate.clear()
    store.raise_on = {3}
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    first = asyncio.create_task(coalescer.submit(("a", 1)))
    await store.in_flight()
    failing = [asyncio.create_task(coalescer.submit((f"k{v}", v))) for v in (2, 3)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await first == 10
    for task in failing:
        with pytest.raises(ConnectionError, match="went away"):
            await task
    # The coalescer is still usable afterwards.
    assert await coalescer.submit(("a", 5)) == 50


async def test_a_flush_returning_the_wrong_number_of_outcomes_fails_its_batch() -> None:
    async def short(items: list[Item]) -> Sequence[int | BaseException]:
        return []

    coalescer: Coalescer[Item, int] = Coalescer(short, name="short")
    with pytest.raises(RuntimeError, match="short: flush returned 0 outcomes for 1 items"):
        await coalescer.submit(("a", 1))


async def test_a_caller_cancelled_while_waiting_withdraws_its_item() -> None:
    store = Store()
    store.gate.clear()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    first = asyncio.create_task(coalescer.submit(("a", 1)))
    await store.in_flight()
    keep = asyncio.create_task(coalescer.submit(("b", 2)))
    withdrawn = asyncio.create_task(coalescer.submit(("c", 3)))
    keep_too = asyncio.create_task(coalescer.submit(("d", 4)))
    await asyncio.sleep(0)
    withdrawn.cancel()
    store.gate.set()
    assert list(await asyncio.gather(first, keep, keep_too)) == [10, 20, 40]
    assert withdrawn.cancelled()
    assert store.batches == [[("a", 1)], [("b", 2), ("d", 4)]]
    assert "c" not in store.values


async def test_a_caller_cancelled_in_flight_does_not_disturb_the_others() -> None:
    store = Store()
    store.gate.clear()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    tasks = [asyncio.create_task(coalescer.submit((f"k{v}", v))) for v in (1, 2, 3)]
    await store.in_flight()
    assert store.batches == [[("k1", 1), ("k2", 2), ("k3", 3)]]
    tasks[1].cancel()
    await asyncio.sleep(0)
    store.gate.set()
    assert await tasks[0] == 10 and await tasks[2] == 30
    assert tasks[1].cancelled()
    assert store.values["k2"] == [2]  # in flight: applied all the same
    assert await coalescer.submit(("k2", 5)) == 50


async def test_submits_beyond_max_pending_wait_for_room() -> None:
    store = Store()
    store.gate.clear()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush, max_pending=3, max_batch=2)
    tasks = [asyncio.create_task(coalescer.submit(("a", v))) for v in range(6)]
    await store.in_flight()
    await asyncio.sleep(0)
    # Two in flight, one queued; three wait for room without being queued.
    assert store.batches == [[("a", 0), ("a", 1)]]
    assert coalescer.waiting == 1
    store.gate.set()
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30, 40, 50]
    assert store.values["a"] == list(range(6))  # room is granted first come, first served
    assert all(len(batch) <= 2 for batch in store.batches)


async def test_cancelling_the_flush_task_cancels_every_waiting_caller() -> None:
    store = Store()
    store.gate.clear()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush, name="flusher")
    tasks = [asyncio.create_task(coalescer.submit(("a", v))) for v in range(3)]
    await store.in_flight()
    later = asyncio.create_task(coalescer.submit(("b", 9)))
    await asyncio.sleep(0)
    flusher = next(t for t in asyncio.all_tasks() if t.get_name() == "flusher")
    flusher.cancel()
    results = await asyncio.gather(*tasks, later, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    store.gate.set()
    assert await coalescer.submit(("c", 1)) == 10  # a new flush task starts


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Store().flush, max_batch=0)
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Store().flush, max_pending=0)
