"""``venta serve`` settles its heap for the garbage collector once everything runs
(``settle_heap``: start-up frozen, the youngest generation collected after
``VENTA_GC_THRESHOLD`` allocations); an application embedding venta keeps its own settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from venta_core import runner
from venta_core.app import Venta
from venta_core.settings import Settings
from venta_core.testing import embedded_settings


@pytest.fixture(autouse=True)
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return embedded_settings(tmp_path / "venta.db").model_copy(update=values)


def test_settle_heap_freezes_what_start_up_built_and_collects_the_young_less_often(
    tmp_path: Path,
) -> None:
    gc.set_threshold(700, 10, 10)
    built_at_start_up = [{"route": i} for i in range(100)]

    runner.settle_heap(_settings(tmp_path, gc_threshold=25_000))

    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold() == (25_000, 10, 10)


def test_a_threshold_of_zero_leaves_pythons(tmp_path: Path) -> None:
    gc.set_threshold(700, 11, 12)

    runner.settle_heap(_settings(tmp_path, gc_threshold=0))

    assert gc.get_threshold() == (700, 11, 12)


def test_the_default_threshold(tmp_path: Path) -> None:
    assert _settings(tmp_path).gc_threshold == 50_000


def test_cyclic_garbage_made_after_it_is_still_collected(tmp_path: Path) -> None:
    runner.settle_heap(_settings(tmp_path))

    class Node:
        other: Any = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b

    assert gc.collect() >= 2


def test_run_settles_the_heap_once_the_roles_are_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    async def fake_serve(app: Any, roles: Any, **kwargs: Any) -> None:
        seen.update(roles=roles, **kwargs)

    monkeypatch.setattr(runner, "serve", fake_serve)
    monkeypatch.setattr(runner, "Venta", lambda settings: object())
    monkeypatch.setattr(runner, "configure_tracing", lambda name: None)
    monkeypatch.setattr("venta_core.observability.logging.configure_logging", lambda log: None)
    gc.set_threshold(700, 10, 10)

    runner.run(_settings(tmp_path, gc_threshold=30_000), ["gateway"])

    assert seen["roles"] == ["gateway"]
    assert gc.get_threshold() == (700, 10, 10)  # not before the roles are ready
    seen["on_ready"]({"gateway": 8000})
    assert gc.get_threshold() == (30_000, 10, 10)


async def test_an_application_embedding_venta_keeps_its_own(tmp_path: Path) -> None:
    gc.set_threshold(700, 10, 10)

    async with Venta(_settings(tmp_path), load_entry_points=False):
        assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
