"""The counting geo index proves itself with venta's geo contract suite (on the in-process index
and on Redis), and the plugin wraps whatever index venta would otherwise use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from venta_core import Venta
from venta_core.domain import Actor, BoundingBox, Location, VendorCreate
from venta_core.ports.geo import GeoIndex
from venta_core.ports.geo_memory import MemoryGeoIndex
from venta_core.ports.geo_redis import RedisGeoIndex
from venta_core.settings import Settings
from venta_core.testing import GeoIndexContract, embedded_settings, real_service_url

from venta_counting_geo import CountingGeoIndex, CountingGeoPlugin


def settings_on(backend: str, tmp_path: Path) -> Settings:
    """Embedded settings; on "redis", the real Redis under a key prefix of the test's own."""
    overrides: dict[str, str] = {}
    if backend == "redis":
        overrides = {
            "redis_url": real_service_url("redis"),
            "key_prefix": f"counting{uuid.uuid4().hex[:8]}",
        }
    return embedded_settings(tmp_path / "venta.db", **overrides)


class TestCountingGeoIndex(GeoIndexContract):
    """venta's own geo contract, on the index the plugin builds inside an application."""

    @pytest.fixture(params=["memory", "redis"])
    async def geo(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GeoIndex]:
        plugin = CountingGeoPlugin()
        app = Venta(settings_on(request.param, tmp_path), plugins=[plugin], load_entry_points=False)
        index = app.geo
        assert isinstance(index, CountingGeoIndex)
        connection = app.connections.made_redis
        if connection is not None:
            await connection.start()
        await index.start()
        yield index
        await index.clear()
        await index.stop()
        if connection is not None:
            await connection.stop()


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_the_plugin_wraps_the_index_venta_would_use(backend: str, tmp_path: Path) -> None:
    plugin = CountingGeoPlugin()

    app = Venta(settings_on(backend, tmp_path), plugins=[plugin], load_entry_points=False)

    assert isinstance(app.geo, CountingGeoIndex)
    assert app.providers["venta_geo_index"] == app.pm.get_name(plugin)
    if backend == "memory":
        assert isinstance(app.geo.inner, MemoryGeoIndex)
    else:  # on the connection the key-value store and presence share
        assert isinstance(app.geo.inner, RedisGeoIndex)
        assert app.geo.inner._conn is app.redis_connection()  # type: ignore[attr-defined]


async def test_a_running_app_counts_its_geo_calls(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "venta.db")
    async with Venta(settings, plugins=[CountingGeoPlugin()], load_entry_points=False) as app:
        index = app.geo
        assert isinstance(index, CountingGeoIndex)
        started = index.calls.copy()  # the start-up warm-up counts the index's members
        owner = Actor.for_user(await app.users.ensure_user("alice"))
        vendor = await app.vendors.create_vendor(owner, VendorCreate(name="Tacos"))
        await app.locations.update_vendor_location(
            owner, vendor.id, Location(lat=52.52, long=13.405)
        )
        box = BoundingBox(sw=Location(lat=52.5, long=13.3), ne=Location(lat=52.6, long=13.5))
        found = await app.locations.vendors_in_box(box, 10)

    assert [p.id for p in found] == [vendor.id]
    assert started == {"claim_refill": 1, "add_missing": 1, "end_refill": 1}
    assert index.calls["set"] == 1 and index.calls["in_box"] == 1


@pytest.mark.skipif(
    not any(ep.name == "counting_geo" for ep in entry_points(group="venta")),
    reason="the example is not installed (pip install -e examples/counting_geo_index)",
)
def test_once_installed_it_provides_the_geo_index(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    done = subprocess.run(
        [sys.executable, "-m", "venta_cli.main", "plugins", "list", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["counting_geo"]["source"] == "entry point (venta-counting-geo-index)"
    assert rows["counting_geo"]["provides"] == ["venta_geo_index"]
    assert "venta_geo_index" not in rows["venta_core.builtins.memory"]["provides"]
