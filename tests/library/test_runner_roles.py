"""Running roles from code: ``serve`` with built-in roles and roles of one's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from venta_core import Role, RunnerError, Venta, serve
from venta_core.testing import embedded_settings


def new_app(tmp_path: Path) -> Venta:
    settings = embedded_settings(tmp_path / "venta.db")
    http = settings.http.model_copy(update={"host": "127.0.0.1", "port": 0})
    return Venta(settings.model_copy(update={"http": http}), load_entry_points=False)


async def test_an_asgi_role_is_served_with_its_lifespan_beside_the_gateway(
    tmp_path: Path,
) -> None:
    app = new_app(tmp_path)
    lifespan: list[str] = []

    @contextlib.asynccontextmanager
    async def dashboard_lifespan(_: Starlette) -> AsyncIterator[None]:
        lifespan.append("started")
        yield
        lifespan.append("stopped")

    async def ping(_: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{await app.geo.count()} on the map")

    dashboard = Starlette(routes=[Route("/ping", ping)], lifespan=dashboard_lifespan)
    stop = asyncio.Event()
    answers: dict[str, str] = {}

    async def on_ready(ports: dict[str, int]) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for role, path in (("gateway", "/health"), ("dashboard", "/ping")):
                answers[role] = (await http.get(f"http://127.0.0.1:{ports[role]}{path}")).text
        stop.set()

    await serve(app, ["gateway", Role("dashboard", asgi=dashboard)], stop=stop, on_ready=on_ready)

    assert answers["dashboard"] == "0 on the map"
    assert '"status"' in answers["gateway"]
    assert lifespan == ["started", "stopped"]
    assert app._started == []


async def test_a_task_role_runs_on_the_started_app_and_its_end_stops_the_process(
    tmp_path: Path,
) -> None:
    app = new_app(tmp_path)
    seen: list[Any] = []

    async def job(running: Venta) -> None:
        seen.append((running is app, await running.readiness()))

    await serve(app, ["worker", Role("job", task=job)])  # no stop event: the job ends it

    assert seen == [(True, dict.fromkeys(["database", "geo", "kv", "bus"]))]
    assert app._started == []


async def test_a_failing_task_is_raised_after_the_graceful_stop(tmp_path: Path) -> None:
    app = new_app(tmp_path)

    async def broken(_: Venta) -> None:
        raise LookupError("no such file: vendors.csv")

    with pytest.raises(LookupError, match=r"vendors\.csv"):
        await serve(app, ["gateway", Role("import", task=broken)])

    assert app._started == []


async def test_a_running_task_is_cancelled_at_shutdown(tmp_path: Path) -> None:
    app = new_app(tmp_path)
    cancelled = asyncio.Event()

    async def forever(_: Venta) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    stop = asyncio.Event()
    await serve(app, [Role("loop", task=forever)], stop=stop, on_ready=lambda _: stop.set())

    assert cancelled.is_set()


@pytest.mark.parametrize("name", ["gateway", "Upper", "", "a" * 40])
def test_a_custom_role_needs_a_name_of_its_own(name: str) -> None:
    async def task(_: Venta) -> None:
        return None

    with pytest.raises(RunnerError, match="name of its own"):
        Role(name, task=task)


def test_a_custom_role_does_something() -> None:
    with pytest.raises(RunnerError, match="neither a task nor an ASGI app"):
        Role("idle")


async def test_unknown_and_duplicate_roles_are_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    app = new_app(tmp_path)
    twice = [Role("job", asgi=Starlette()), Role("job", asgi=Starlette())]

    with pytest.raises(RunnerError, match="unknown role"):
        await serve(app, ["gateway", "scheduler"])
    with pytest.raises(RunnerError, match="same name"):
        await serve(app, twice)

    assert app._started == []
