"""``venta serve`` settles its heap for the garbage collector once everything runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from venta_core import runner
from venta_core.testing import embedded_settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_settle_heap_freezes_what_start_up_built_and_collects_the_young_less_often(
    restored_gc: None,
) -> None:
    gc.set_threshold(700, 10, 10)
    built_at_start_up = [{"route": i} for i in range(100)]

    runner.settle_heap({"gateway": 8000})

    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold() == (runner.GC_YOUNG_THRESHOLD, 10, 10)


def test_settle_heap_keeps_a_higher_threshold_set_before(restored_gc: None) -> None:
    gc.set_threshold(50_000, 20, 5)

    runner.settle_heap()

    assert gc.get_threshold() == (50_000, 20, 5)


def test_cyclic_garbage_made_after_it_is_still_collected(restored_gc: None) -> None:
    runner.settle_heap()

    class Node:
        other: Any = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b

    assert gc.collect() >= 2


def test_run_settles_the_heap_once_the_roles_are_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    seen: dict[str, Any] = {}

    async def fake_serve(app: Any, roles: Any, **kwargs: Any) -> None:
        seen.update(roles=roles, **kwargs)

    monkeypatch.setattr(runner, "serve", fake_serve)
    monkeypatch.setattr(runner, "Venta", lambda settings: object())
    monkeypatch.setattr(runner, "configure_tracing", lambda name: None)
    monkeypatch.setattr("venta_core.observability.logging.configure_logging", lambda log: None)

    runner.run(embedded_settings(tmp_path / "venta.db"), ["gateway"])

    assert seen == {"roles": ["gateway"], "on_ready": runner.settle_heap}
