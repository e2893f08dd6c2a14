"""Raw Engine.IO clients for the tests that send what no Socket.IO library would: a websocket
(``websockets``) or long-polling requests (``httpx``), frame by frame."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import websockets

from tests.realtime.harness import TIMEOUT, Server

#: Frames the gateway cannot take: each ends its connection.
MALFORMED_ENGINEIO = ["", "x", "7", "9", "b!!!"]
MALFORMED_SOCKETIO = [
    "42/user,[",  # not JSON
    '42/user,{"event":"x"}',  # an event is an array
    "42/user,[]",  # ... that starts with the event name
    '42/user,[{"a":1}]',  # ... which is a string or a number
    '42/user,["disconnect"]',  # reserved names are the server's
    '42/user,["connect",{},{"token":"x"}]',
    "49/user,[]",  # no such Socket.IO packet type
    '44/user,"x"',  # a client never sends CONNECT_ERROR
]


class RawSocket:
    """A websocket speaking Engine.IO v4 by hand, connected to ``/user``."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, server: Server, token: str, namespace: str = "/user") -> RawSocket:
        url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
        ws = await websockets.connect(url, open_timeout=TIMEOUT)
        raw = cls(ws)
        opened = await raw.recv()
        assert opened.startswith("0{"), opened
        await ws.send(f"40{namespace}," + json.dumps({"token": token}))
        connected = await raw.recv()
        assert connected.startswith(f"40{namespace},"), connected
        return raw

    async def recv(self) -> str:
        frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        return frame if isinstance(frame, str) else frame.decode()

    async def event(self, namespace: str = "/user") -> list[Any]:
        """The next Socket.IO event: ``[name, data...]`` (pings answered on the way)."""
        while True:
            frame = await self.recv()
            if frame == "2":
                await self.ws.send("3")
            elif frame.startswith(f"42{namespace},"):
                event: list[Any] = json.loads(frame[len(namespace) + 3 :])
                return event

    async def closed(self) -> bool:
        """True once the server has closed the websocket (frames before that are skipped)."""
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic())
        except websockets.ConnectionClosed:
            return True
        except TimeoutError:
            return False
        return False

    async def close(self) -> None:
        await self.ws.close()


async def polling_session(http: httpx.AsyncClient) -> str:
    """A long-polling Engine.IO session: its ``sid``."""
    opened = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert opened.status_code == 200, opened.text
    sid: str = json.loads(opened.text[1:])["sid"]
    return sid


def polling(sid: str) -> dict[str, str]:
    return {"EIO": "4", "transport": "polling", "sid": sid}
