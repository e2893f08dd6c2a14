"""Headless Chromium driven over the DevTools protocol, on the ``websockets`` client venta
already depends on: no WebDriver package, no browser download.

``chromium()`` starts the system's Chromium with a throw-away profile and yields a ``Page``:
``goto(url)``, ``evaluate(js)`` (the value, JSON-serialised by the browser), ``wait_for(js)``
(until the expression is truthy) and ``screenshot(path)``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

__all__ = ["Page", "chromium", "chromium_path"]

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """The Chromium binary; skipped when there is none, except under CI (``CI=true``), where
    a missing browser fails the test."""
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("Chromium is not installed (apt-get install chromium); CI runs this test")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


class Page:
    """One browser tab over its DevTools websocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=30))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20.0) -> Any:
        """The first truthy value of ``expression``, polled; fails naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                status = self.evaluate("document.getElementById('status')?.textContent")
                raise AssertionError(f"timed out waiting for {what} (page status: {status})")
            time.sleep(0.1)

    def drag(self, start: tuple[int, int], end: tuple[int, int], steps: int = 8) -> None:
        """Press the left button at ``start``, move to ``end`` in ``steps``, release."""
        mouse = "Input.dispatchMouseEvent"
        self.call(mouse, type="mouseMoved", x=start[0], y=start[1])
        self.call(
            mouse,
            type="mousePressed",
            x=start[0],
            y=start[1],
            button="left",
            buttons=1,
            clickCount=1,
        )
        for i in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * i // steps
            y = start[1] + (end[1] - start[1]) * i // steps
            self.call(mouse, type="mouseMoved", x=x, y=y, button="left", buttons=1)
        self.call(
            mouse, type="mouseReleased", x=end[0], y=end[1], button="left", buttons=0, clickCount=1
        )

    def click(self, x: float, y: float) -> None:
        mouse = "Input.dispatchMouseEvent"
        for kind in ("mousePressed", "mouseReleased"):
            self.call(mouse, type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@contextmanager
def chromium(width: int = 1024, height: int = 768) -> Iterator[Page]:
    """A headless Chromium with one blank tab, stopped (and its profile removed) at the end."""
    binary = chromium_path()
    profile = Path(tempfile.mkdtemp(prefix="venta-chromium-"))
    log = profile / "chromium.log"  # a file: a pipe nobody reads would stall Chromium
    try:
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    binary,
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--remote-debugging-port=0",
                    "--remote-allow-origins=*",
                    f"--user-data-dir={profile}",
                    f"--window-size={width},{height}",
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
        try:
            with connect(_page_target(process, log), max_size=None, open_timeout=10) as ws:
                page = Page(ws)
                page.call("Page.enable")
                page.call("Runtime.enable")
                yield page
        finally:
            _stop(process)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _page_target(process: subprocess.Popen[bytes], log: Path) -> str:
    """The DevTools websocket of the browser's first tab."""
    port = _devtools_endpoint(process, log).split("/")[2].split(":")[1]
    targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
    return str(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _devtools_endpoint(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = _LISTENING.search(log.read_text(errors="replace"))
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError("Chromium did not start:\n" + log.read_text(errors="replace")[-3000:])
