"""Wire compatibility: the official JavaScript ``socket.io-client`` v4 (from npm, run by Node)
against a real server, on long-polling with the upgrade to websocket and on websocket alone."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.realtime.harness import Server, subject

JS = Path(__file__).parent / "js"


def _tooling() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed for the socket.io-client wire test"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message + " (CI must run it)")
        pytest.skip(message)
    return node, npm


@pytest.fixture(scope="session")
def node() -> str:
    node, npm = _tooling()
    if not (JS / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS,
            check=True,
            timeout=300,
        )
    return node


async def test_official_js_client(server: Server, node: str) -> None:
    owner = subject()
    vendor_id = await server.vendor(owner)
    config = {
        "url": server.url,
        "userToken": server.token(subject()),
        "ownerToken": server.token(owner),
        "vendorId": vendor_id,
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(JS / "client.mjs"),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])

    assert result["refused"]["data"]["code"] == "UNAUTHENTICATED"
    assert result["channels"] == []
    assert result["userTransport"] == "websocket"
    assert [s["id"] for s in result["syncs"]] == [vendor_id] * 3
    assert [s["location"]["long"] for s in result["syncs"]] == [13.401, 13.402, 13.403]
    assert result["left"] == {"id": vendor_id}
    assert result["error"]["code"] == "VALIDATION_ERROR"
    assert result["vendorStillConnected"] is True
