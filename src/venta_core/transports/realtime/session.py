"""Per-connection state: who is connected, its rate window, and (users) what it watches."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from venta_core.domain import Actor, BoundingBox
from venta_core.errors import RateLimited
from venta_core.transports.realtime.wire import WireSocket

if TYPE_CHECKING:
    from venta_core.transports.realtime.conflate import Backlog
    from venta_core.transports.realtime.recovery import Saved

__all__ = ["NO_WIRE", "Rect", "Session", "WindowLimiter", "rect_of"]

#: A placeholder for sessions not (yet) on a websocket: its ``transport`` is always ``None``.
NO_WIRE = WireSocket(None, None)

#: (south, west, north, east, crosses_antimeridian): a viewport as plain floats, so the hot
#: path's containment test does not go through a pydantic model.
Rect = tuple[float, float, float, float, bool]


def rect_of(box: BoundingBox) -> Rect:
    return (box.sw.lat, box.sw.long, box.ne.lat, box.ne.long, box.crosses_antimeridian)


def in_rect(rect: Rect, lat: float, long: float) -> bool:
    s, w, n, e, crosses = rect
    if not s <= lat <= n:
        return False
    if crosses:
        return long >= w or long <= e
    return w <= long <= e


class WindowLimiter:
    """A fixed one-minute window counted in process (shared by an identity's connections, see
    ``limits.IdentityLimits``)."""

    __slots__ = ("_count", "_limit", "_scope", "_start", "_window")

    def __init__(
        self, limit: int, window_seconds: float = 60.0, *, scope: str = "on this connection"
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._scope = scope
        self._start = -math.inf
        self._count = 0

    def hit(self) -> None:
        """Count one message; raise ``RateLimited`` past the limit."""
        now = time.monotonic()
        if now - self._start >= self._window:
            self._start, self._count = now, 0
        self._count += 1
        if self._count > self._limit:
            retry = math.ceil(self._window - (now - self._start))
            raise RateLimited(
                retry,
                f"More than {self._limit} messages per {self._window:g} s {self._scope}",
            )


@dataclass(eq=False, slots=True)
class Session:
    """One Socket.IO connection to ``/user`` or ``/vendor``."""

    sid: str
    namespace: str
    eio_sid: str
    user_id: str
    subject: str
    actor: Actor
    expires_at: float | None
    limiter: WindowLimiter
    wire: WireSocket = NO_WIRE
    #: frames waiting while the client does not keep up (``conflate``); its wire is set aside
    backlog: Backlog | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False
    # /user: the viewport, the cells it covers (fully or partly), and the vendors of partly
    # covered cells that are in view (vendors of fully covered cells are in view by definition)
    rect: Rect | None = None
    full_cells: frozenset[str] = frozenset()
    edge_cells: frozenset[str] = frozenset()
    edge_visible: set[str] = field(default_factory=set)
    # /vendor: the vendors whose positions this connection has sent
    vendors: set[str] = field(default_factory=set)
    default_vendor: str | None = None
    presence_token: str = ""
    # recovery: the private session id announced in CONNECT, the dropped session this
    # connection takes over (until restored), and (/user) the vendors it was last told left
    pid: str = ""
    restoring: Saved | None = None
    left: dict[str, None] | None = None

    @property
    def cells(self) -> frozenset[str]:
        return self.full_cells | self.edge_cells

    def token_expired(self, leeway: float) -> bool:
        return self.expires_at is not None and time.time() > self.expires_at + leeway
