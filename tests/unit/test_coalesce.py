"""The coalescer: batches of what arrives during a flush, one outcome per caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from venta_core.ports.coalesce import Coalescer

Item = tuple[str, int]  # key, value


class Store:
    """A flush target: applies (key, value) items in order, one "round trip" per flush. A held
    store keeps each flush waiting until the test lets it through (``let_through``)."""

    def __init__(self, *, held: bool = False) -> None:
        self.values: dict[str, list[int]] = {}
        self.batches: list[list[Item]] = []
        self.held = held
        self._permits = asyncio.Semaphore(0)
        self.started = asyncio.Event()
        self.fail_values: set[int] = set()
        self.raise_on: set[int] = set()

    def let_through(self, flushes: int = 1) -> None:
        for _ in range(flushes):
            self._permits.release()

    async def flush(self, items: list[Item]) -> Sequence[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        await asyncio.sleep(0)  # a round trip always lets other tasks run
        if self.held:
            await self._permits.acquire()
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
        """Wait until a flush has started (and, held, waits to be let through)."""
        await self.started.wait()
        self.started.clear()


async def start_batch(
    coalescer: Coalescer[Item, int], store: Store, items: list[Item]
) -> tuple[asyncio.Task[int], list[asyncio.Task[int]]]:
    """Submit ("lone", 0), which an idle coalescer flushes alone, then ``items`` while it is in
    flight; let the lone one through. Returns its task and those of ``items``, whose batch is
    then in flight (held)."""
    lone = asyncio.create_task(coalescer.submit(("lone", 0)))
    await store.in_flight()
    tasks = [asyncio.create_task(coalescer.submit(item)) for item in items]
    await asyncio.sleep(0)
    assert coalescer.waiting == len(items)
    store.let_through()
    await store.in_flight()
    assert store.batches[-1] == items
    return lone, tasks


async def test_an_idle_coalescer_flushes_a_lone_item_at_once() -> None:
    store = Store()
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    assert await coalescer.submit(("a", 1)) == 10
    assert await coalescer.submit(("a", 2)) == 20
    # One flush per item, by its caller: nothing waited for company.
    assert store.batches == [[("a", 1)], [("a", 2)]]
    assert (coalescer.flushes, coalescer.flushed) == (2, 2)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == coalescer.name]


async def test_items_submitted_during_a_flush_go_out_together_next() -> None:
    store = Store(held=True)
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    items = [(f"k{i}", i) for i in range(2, 7)]
    lone, tasks = await start_batch(coalescer, store, items)
    assert await lone == 0
    store.let_through()
    assert list(await asyncio.gather(*tasks)) == [20, 30, 40, 50, 60]
    assert store.batches == [[("lone", 0)], items]
    assert coalescer.waiting == 0
    assert (coalescer.flushes, coalescer.flushed) == (2, 6)


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
    store = Store(held=True)
    store.fail_values = {3}
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    lone, tasks = await start_batch(coalescer, store, [("k2", 2), ("k3", 3), ("k4", 4)])
    store.let_through()
    results = await asyncio.gather(lone, *tasks, return_exceptions=True)
    assert results[0] == 0 and results[1] == 20 and results[3] == 40
    assert isinstance(results[2], ValueError) and "bad value 3" in str(results[2])
    assert store.values == {"lone": [0], "k2": [2], "k4": [4]}
    # Alone, a failing item raises its own error too.
    store.held = False
    with pytest.raises(ValueError, match="bad value 3"):
        await coalescer.submit(("k3", 3))


async def test_a_failed_flush_fails_every_item_of_its_batch_and_no_other() -> None:
    store = Store(held=True)
    store.raise_on = {3}
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    lone, failing = await start_batch(coalescer, store, [("k2", 2), ("k3", 3)])
    store.let_through()
    assert await lone == 0
    for task in failing:
        with pytest.raises(ConnectionError, match="went away"):
            await task
    # The coalescer is still usable afterwards.
    store.held = False
    assert await coalescer.submit(("a", 5)) == 50


async def test_a_flush_returning_the_wrong_number_of_outcomes_fails_its_items() -> None:
    async def short(items: list[Item]) -> Sequence[int | BaseException]:
        await asyncio.sleep(0)
        return []

    coalescer: Coalescer[Item, int] = Coalescer(short, name="short")
    results = await asyncio.gather(
        *(coalescer.submit(("a", v)) for v in range(3)), return_exceptions=True
    )
    assert [str(r) for r in results] == [
        "short: flush returned 0 outcomes for 1 item",
        "short: flush returned 0 outcomes for 2 items",
        "short: flush returned 0 outcomes for 2 items",
    ]


async def test_a_caller_cancelled_while_waiting_withdraws_its_item() -> None:
    store = Store(held=True)
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    lone = asyncio.create_task(coalescer.submit(("a", 1)))
    await store.in_flight()
    keep = asyncio.create_task(coalescer.submit(("b", 2)))
    withdrawn = asyncio.create_task(coalescer.submit(("c", 3)))
    keep_too = asyncio.create_task(coalescer.submit(("d", 4)))
    await asyncio.sleep(0)
    withdrawn.cancel()
    store.let_through(2)
    assert list(await asyncio.gather(lone, keep, keep_too)) == [10, 20, 40]
    assert withdrawn.cancelled()
    assert store.batches == [[("a", 1)], [("b", 2), ("d", 4)]]
    assert "c" not in store.values


async def test_a_caller_cancelled_in_flight_does_not_disturb_the_others() -> None:
    store = Store(held=True)
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    lone, tasks = await start_batch(coalescer, store, [("k1", 1), ("k2", 2), ("k3", 3)])
    assert await lone == 0
    tasks[1].cancel()
    await asyncio.sleep(0)
    store.let_through()
    assert await tasks[0] == 10 and await tasks[2] == 30
    assert tasks[1].cancelled()
    assert store.values["k2"] == [2]  # in flight: applied all the same
    store.held = False
    assert await coalescer.submit(("k2", 5)) == 50


async def test_a_lone_caller_cancelled_in_flight_hands_the_queue_on() -> None:
    """Cancelling the caller that flushes its lone item cancels that flush only: the items
    queued behind it still go out."""
    store = Store(held=True)
    coalescer: Coalescer[Item, int] = Coalescer(store.flush)
    lone = asyncio.create_task(coalescer.submit(("a", 1)))
    await store.in_flight()
    queued = [asyncio.create_task(coalescer.submit(("b", v))) for v in (2, 3)]
    await asyncio.sleep(0)
    lone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lone
    store.let_through()
    assert list(await asyncio.gather(*queued)) == [20, 30]
    assert store.values == {"b": [2, 3]}


async def test_submits_beyond_max_pending_wait_for_room() -> None:
    store = Store(held=True)
    coalescer: Coalescer[Item, int] = Coalescer(store.flush, max_pending=3, max_batch=2)
    tasks = [asyncio.create_task(coalescer.submit(("a", v))) for v in range(6)]
    await store.in_flight()
    await asyncio.sleep(0)
    # One in flight alone, three queued; two wait for room without being queued.
    assert store.batches == [[("a", 0)]]
    assert coalescer.waiting == 3
    store.let_through(10)
    assert list(await asyncio.gather(*tasks)) == [0, 10, 20, 30, 40, 50]
    assert store.values["a"] == list(range(6))  # room is granted first come, first served
    assert all(len(batch) <= 2 for batch in store.batches)


async def test_cancelling_the_flush_task_cancels_every_waiting_caller() -> None:
    store = Store(held=True)
    coalescer: Coalescer[Item, int] = Coalescer(store.flush, name="flusher")
    lone, tasks = await start_batch(coalescer, store, [("a", 1), ("a", 2)])
    assert await lone == 0
    later = asyncio.create_task(coalescer.submit(("b", 9)))
    await asyncio.sleep(0)
    flusher = next(t for t in asyncio.all_tasks() if t.get_name() == "flusher")
    flusher.cancel()
    results = await asyncio.gather(*tasks, later, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    store.held = False
    assert await coalescer.submit(("c", 1)) == 10  # idle again: flushed alone


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Store().flush, max_batch=0)
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Store().flush, max_pending=0)
