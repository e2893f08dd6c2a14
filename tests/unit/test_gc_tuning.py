"""``tune_gc``: the collector of a ``venta serve`` process, and only of one."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from venta_core.app import Venta
from venta_core.runner import tune_gc
from venta_core.settings import Settings


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_the_youngest_generation_grows_to_the_setting() -> None:
    gc.set_threshold(700, 10, 10)

    tune_gc(Settings(_env_file=None, gc_threshold=25_000))  # type: ignore[call-arg]

    assert gc.get_threshold() == (25_000, 10, 10)


def test_zero_leaves_pythons_setting() -> None:
    gc.set_threshold(700, 11, 12)

    tune_gc(Settings(_env_file=None, gc_threshold=0))  # type: ignore[call-arg]

    assert gc.get_threshold() == (700, 11, 12)


async def test_an_application_embedding_venta_keeps_its_own(tmp_path: Path) -> None:
    gc.set_threshold(700, 10, 10)
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/v.db")  # type: ignore[call-arg]
    assert settings.gc_threshold == 50_000

    async with Venta(settings, load_entry_points=False):
        assert gc.get_threshold() == (700, 10, 10)
