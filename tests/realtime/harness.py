"""Real servers and real clients for the real-time tests.

``running(settings)`` serves a ``Venta`` with ``venta_core.runner.serve`` on a free port;
``SioClient`` is python-socketio's ``AsyncClient`` recording every event it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import socketio

from venta_core.app import Venta
from venta_core.domain import Actor, VendorCreate
from venta_core.ports.identity import DevTokenProvider
from venta_core.runner import serve
from venta_core.settings import Settings
from venta_core.transports.realtime.session import Session, WindowLimiter

TIMEOUT = 5.0


def realtime_settings(base: Settings, **realtime: Any) -> Settings:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "offline_grace_seconds": 0.3}
    values.update(realtime)
    rt = base.realtime.model_copy(update=values)
    http = base.http.model_copy(update={"host": "127.0.0.1", "port": 0})
    # The real-service runs share one database: a fresh geo index must not be refilled with
    # the positions other tests left there.
    location = base.location.model_copy(update={"warm_geo_index": False})
    return base.model_copy(update={"realtime": rt, "http": http, "location": location})


@dataclass
class Server:
    app: Venta
    port: int
    tokens: DevTokenProvider

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, subject: str, ttl: int = 600) -> str:
        return self.tokens.issue(subject, ttl_seconds=ttl)

    async def located(self, vendor_id: str, lat: float, long: float) -> None:
        """Wait until the vendor's live position is (lat, long)."""
        from venta_core.errors import LocationNotFound

        for _ in range(int(TIMEOUT / 0.02)):
            try:
                position = await self.app.locations.get_vendor_location(vendor_id)
            except LocationNotFound:
                position = None
            if position is not None and (position.location.lat, position.location.long) == (
                lat,
                long,
            ):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"vendor {vendor_id} never reached {lat}, {long}")

    async def vendor(self, owner: str, name: str = "Taco Truck") -> str:
        user = await self.app.users.ensure_user(owner)
        vendor = await self.app.vendors.create_vendor(Actor.for_user(user), VendorCreate(name=name))
        return vendor.id


@contextlib.asynccontextmanager
async def running(
    settings: Settings, roles: tuple[str, ...] = ("ws",), plugins: Iterable[object] = ()
) -> AsyncIterator[Server]:
    app = Venta(settings, plugins=plugins, load_entry_points=False)
    stop = asyncio.Event()
    ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(app, roles, stop=stop, on_ready=ready.set_result))
    done, _ = await asyncio.wait([task, ready], timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    ports = ready.result()
    role = "gateway" if "gateway" in roles else "ws"
    try:
        yield Server(app, ports[role], DevTokenProvider(settings.auth))
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def subject() -> str:
    return f"user_{uuid.uuid4().hex[:10]}"


class SioClient:
    """One namespace of a python-socketio client, with every received event kept in order."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.connect_error: Any = None

        @self.sio.on("*", namespace=namespace)
        async def any_event(event: str, *args: Any) -> None:
            self.events[event].put_nowait(args[0] if len(args) == 1 else list(args))

        @self.sio.on("connect_error", namespace=namespace)
        async def refused(data: Any) -> None:
            self.connect_error = data

    async def connect(
        self,
        server: Server,
        token: str | None,
        *,
        how: str = "auth",
        transports: list[str] | None = None,
    ) -> None:
        url = server.url
        headers: dict[str, str] = {}
        auth: dict[str, str] | None = None
        if token is not None:
            if how == "auth":
                auth = {"token": token}
            elif how == "header":
                headers["Authorization"] = f"Bearer {token}"
            else:
                url += f"?token={token}"
        await self.sio.connect(
            url,
            namespaces=[self.namespace],
            auth=auth,
            headers=headers,
            transports=transports or ["websocket"],
            wait_timeout=TIMEOUT,
        )

    async def emit(self, event: str, data: Any) -> None:
        await self.sio.emit(event, data, namespace=self.namespace)

    async def next(self, event: str, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout)

    async def nothing(self, event: str, wait: float = 0.3) -> None:
        """Assert that no ``event`` arrives within ``wait`` seconds."""
        await asyncio.sleep(wait)
        assert self.events[event].empty(), f"unexpected {event}: {self.events[event].get_nowait()}"

    async def close(self) -> None:
        await self.sio.disconnect()

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected) and self.namespace in self.sio.namespaces


@contextlib.asynccontextmanager
async def client(
    server: Server, namespace: str, token: str | None, **kwargs: Any
) -> AsyncIterator[SioClient]:
    c = SioClient(namespace)
    await c.connect(server, token, **kwargs)
    try:
        yield c
    finally:
        await c.close()


def box(sw: tuple[float, float], ne: tuple[float, float]) -> dict[str, Any]:
    return {
        "swLocation": {"lat": sw[0], "long": sw[1]},
        "neLocation": {"lat": ne[0], "long": ne[1]},
    }


def at(payload: dict[str, Any], lat: float, long: float) -> bool:
    """``payload`` is ``{id, location: {lat, long}}`` at (lat, long), within Redis GEO's
    precision (about 0.6 m)."""
    loc = payload["location"]
    return abs(loc["lat"] - lat) < 1e-5 and abs(loc["long"] - long) < 1e-5


def plain_session(sid: str, namespace: str = "/user") -> Session:
    """A ``Session`` with no connection behind it, for tests of the hub and presence alone."""
    return Session(
        sid=sid,
        namespace=namespace,
        eio_sid=sid,
        user_id="u",
        subject="s",
        actor=Actor(user_id="u"),
        expires_at=None,
        limiter=WindowLimiter(100),
    )
