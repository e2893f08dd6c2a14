"""venta as an ASGI application of its own (``create_asgi_app``) and mounted on a Starlette host
whose lifespan it shares (``mount``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from venta_core import Venta, create_asgi_app, mount
from venta_core.testing import embedded_settings

from .serving import served
from .test_library_doc import watch_map


def new_app(tmp_path: Path) -> Venta:
    return Venta(embedded_settings(tmp_path / "venta.db"), load_entry_points=False)


async def test_on_its_own_it_runs_its_lifespan_under_a_server(tmp_path: Path) -> None:
    app = new_app(tmp_path)
    token = app.identity.issue("bob")  # type: ignore[attr-defined]

    async with served(create_asgi_app(app)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            ready = await http.get("/ready")
            me = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        in_view = await watch_map(base, "socket.io", token)

    assert ready.status_code == 200 and me.status_code == 200
    assert in_view == []
    assert app._started == []


async def test_mounted_it_starts_before_the_hosts_startup_and_stops_after_its_shutdown(
    tmp_path: Path,
) -> None:
    app = new_app(tmp_path)
    seen: list[tuple[str, bool]] = []

    @contextlib.asynccontextmanager
    async def host_lifespan(_: Starlette) -> AsyncIterator[None]:
        seen.append(("host startup", bool(app._started)))
        yield
        seen.append(("host shutdown", bool(app._started)))

    host = Starlette(lifespan=host_lifespan)
    mounted = mount(host, app, prefix="/api/venta", realtime=False)

    async with host.router.lifespan_context(host):
        assert mounted.realtime is None
        seen.append(("serving", bool(app._started)))

    assert seen == [("host startup", True), ("serving", True), ("host shutdown", True)]
    assert app._started == []


@pytest.mark.parametrize("prefix", ["venta", "/venta/", ""])
def test_the_prefix_is_a_path(prefix: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix"):
        mount(Starlette(), new_app(tmp_path), prefix=prefix)
