"""Every Python block of docs/library.md runs here, as a user would run it: the scripts as
processes on a SQLite file of their own, the mounted and custom-role applications served on
real ports. So the page cannot drift from the code."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from venta_core import Venta
from venta_core.testing import embedded_settings

from .serving import free_port, served, wait_for_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"
EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)```", re.DOTALL)
EXAMPLES = dict(EXAMPLE.findall(DOC.read_text()))
BERLIN = {"swLocation": {"lat": 52.4, "long": 13.2}, "neLocation": {"lat": 52.6, "long": 13.6}}


def database(tmp_path: Path) -> Path:
    return tmp_path / "venta.db"


def run_script(name: str, tmp_path: Path) -> list[str]:
    """Run example ``name`` as ``python example.py`` on the test's SQLite file; its stdout lines."""
    script = tmp_path / f"{name}.py"
    script.write_text(EXAMPLES[name])
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTA_")}
    env["VENTA_DATABASE_URL"] = f"sqlite:///{database(tmp_path)}"
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def load_example(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Example ``name`` imported as a module (its ``__main__`` part not run)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VENTA_DATABASE_URL", f"sqlite:///{database(tmp_path)}")
    namespace: dict[str, Any] = {"__name__": f"library_{name.replace('-', '_')}"}
    exec(compile(EXAMPLES[name], f"{DOC}:{name}", "exec"), namespace)
    return namespace


def test_every_python_block_is_an_example_run_here() -> None:
    text = DOC.read_text()

    assert text.count("```python") == len(EXAMPLE.findall(text))
    assert set(EXAMPLES) == {"import-vendors", "close-vendors", "mount", "job-role", "asgi-role"}


async def test_an_import_script_acts_as_a_user(tmp_path: Path) -> None:
    (line,) = run_script("import-vendors", tmp_path)

    owner_id = line.removeprefix("imported 3 vendors for ")
    async with Venta(embedded_settings(database(tmp_path)), load_entry_points=False) as app:
        owned = await app.users.list_user_vendors(owner_id)
        assert sorted(v.name for v in owned) == ["Crepes Marie", "Falafel Haus", "Tacos El Rey"]
        assert await app.geo.count() == 3  # positions written behind, back on the map


async def test_a_back_office_job_acts_as_the_system(tmp_path: Path) -> None:
    run_script("import-vendors", tmp_path)

    lines = run_script("close-vendors", tmp_path)

    assert sorted(lines) == [
        f"{name}: open=False (a stranger got FORBIDDEN)"
        for name in ("Crepes Marie", "Falafel Haus", "Tacos El Rey")
    ]


async def test_mounted_venta_serves_rest_and_socketio_under_the_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = load_example("mount", tmp_path, monkeypatch)
    host, app = example["host"], example["app"]
    token = app.identity.issue("alice")
    auth = {"Authorization": f"Bearer {token}"}

    async with served(host) as base:
        assert app.components() and await app.readiness() == dict.fromkeys(app.checks())
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/")).json() == {"market": "open"}
            assert (await http.get("/venta/health")).status_code == 200
            assert (await http.get("/venta/v1/me", headers=auth)).status_code == 200
            created = await http.post("/venta/v1/vendors", json={"name": "Tacos"}, headers=auth)
            vendor_id = created.json()["id"]
            placed = await http.put(
                f"/venta/v1/vendors/{vendor_id}/location",
                json={"lat": 52.52, "long": 13.405},
                headers=auth,
            )
            assert placed.status_code == 200, placed.text
            assert (await http.get(f"/stalls/{vendor_id}")).json() == {"name": "Tacos"}
            assert (await http.get("/stalls/no-such-vendor")).status_code == 404
            assert (await http.get("/v1/me", headers=auth)).status_code == 404  # only under it
        in_view = await watch_map(base, "venta/socket.io", token)
    assert [v["id"] for v in in_view] == [vendor_id]
    assert app._started == []  # stopped with the host


async def watch_map(base: str, path: str, token: str) -> list[dict[str, Any]]:
    """Connect to ``/user`` at ``path`` (polling, then the websocket upgrade), send a Berlin
    viewport and return the vendors in view."""
    sio = socketio.AsyncClient(reconnection=False)
    channels: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    sio.on("vendor_channels", channels.put_nowait, namespace="/user")
    await sio.connect(
        base, namespaces=["/user"], socketio_path=path, auth={"token": token}, wait_timeout=10
    )
    try:
        await sio.emit("updateUserLocation", BERLIN, namespace="/user")
        return await asyncio.wait_for(channels.get(), 10)
    finally:
        await sio.disconnect()


async def test_a_job_role_runs_with_the_worker_and_stops_when_done(tmp_path: Path) -> None:
    lines = run_script("job-role", tmp_path)

    assert lines[-1] == "imported and indexed 3 vendors"
    async with Venta(embedded_settings(database(tmp_path)), load_entry_points=False) as app:
        assert await app.search_index.count() == 3  # the worker indexed them before exiting


async def test_a_custom_asgi_role_is_served_beside_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway, dashboard = free_port(), free_port()
    monkeypatch.setenv("VENTA_HTTP__HOST", "127.0.0.1")
    monkeypatch.setenv("VENTA_HTTP__PORT", str(gateway))
    monkeypatch.setenv("DASHBOARD_PORT", str(dashboard))
    example = load_example("asgi-role", tmp_path, monkeypatch)
    stop = asyncio.Event()

    serving = asyncio.create_task(example["main"](stop))
    try:
        await wait_for_port(gateway)
        await wait_for_port(dashboard)
        async with httpx.AsyncClient(timeout=10) as http:
            health = await http.get(f"http://127.0.0.1:{gateway}/health")
            stats = await http.get(f"http://127.0.0.1:{dashboard}/stats")
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)

    assert health.status_code == 200
    assert stats.json() == {"vendorsOnMap": 0}
