"""A ws process that cannot keep up: how late positions are fanned out, coalescing on and off.

    python benchmarks/bench_backlog.py [--vendors 50] [--watchers 5000] [--rate 1.5]
                                       [--seconds 10]

One ``CellHub`` with its real ``Sender`` and the in-process bus, as in a ws process, and
``--watchers`` sessions watching the vendors' cell through transports that discard what they
are written (so that only the process's own work counts, not a client's). ``--vendors`` vendors
publish positions on the bus at ``--rate`` times what the process can fan out (measured first,
in the same run), for ``--seconds``: every position due by the clock is published whenever the
publisher gets to run, as messages from other processes arrive however busy this one is.

Printed per mode: positions published and fanned out, and the delay from each published
position to its fan-out (p50, p99, max) over the whole run and for the positions published in
its last second. With coalescing the delay stays within about one pass over the vendors;
without it, it grows for as long as the overload lasts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

try:
    import venta_core  # noqa: F401
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from prometheus_client import CollectorRegistry

from venta_core.domain import BoundingBox, Location
from venta_core.domain.cells import encode
from venta_core.events import live_subject
from venta_core.ports.bus_memory import MemoryEventBus
from venta_core.transports.realtime.fanout import Sender
from venta_core.transports.realtime.hub import CellHub
from venta_core.transports.realtime.metrics import RealtimeMetrics
from venta_core.transports.realtime.session import Session, WindowLimiter
from venta_core.transports.realtime.wire import WireSocket

PREFIX = "bench"
PRECISION = 5
CENTRE = (52.51, 13.39)
VIEW = BoundingBox(sw=Location(lat=52.40, long=13.20), ne=Location(lat=52.60, long=13.60))


class _Discard:
    """A websocket transport that takes every write and sends nothing."""

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        pass


class _NoVendors:
    async def vendors_in_box(self, box: Any, limit: int) -> list[Any]:
        return []


def _session(i: int) -> Session:
    from venta_core.domain import Actor

    wire = WireSocket(None, None)
    wire.transport = _Discard()
    session = Session(
        sid=f"w{i}",
        namespace="/user",
        eio_sid=f"w{i}",
        user_id="u",
        subject="s",
        actor=Actor(user_id="u"),
        expires_at=None,
        limiter=WindowLimiter(100),
    )
    session.wire = wire
    return session


class _Run:
    def __init__(self, coalesce: bool, watchers: int) -> None:
        self.coalesce = coalesce
        self.watchers = watchers
        self.published: dict[tuple[str, int], float] = {}
        self.delays: list[tuple[float, float]] = []  # (published at, delay)

    async def __aenter__(self) -> _Run:
        self.bus = MemoryEventBus()
        await self.bus.start()
        metrics = RealtimeMetrics(CollectorRegistry())
        sender = Sender(
            None,
            None,  # type: ignore[arg-type]
            max_buffer_bytes=1 << 30,
            on_slow=lambda session: None,
            deliveries=metrics.deliveries,
            conflated=metrics.conflated,
        )
        self.hub = CellHub(
            bus=self.bus,
            locations=_NoVendors(),  # type: ignore[arg-type]
            sender=sender,
            metrics=metrics,
            prefix=PREFIX,
            precision=PRECISION,
            max_cells=4096,
            max_vendors=1000,
            coalesce=self.coalesce,
        )
        for i in range(self.watchers):
            await self.hub.set_view(_session(i), VIEW)
        apply = self.hub._apply

        def timed(cell: Any, vid: str, pos: Any) -> None:  # observe each fan-out
            apply(cell, vid, pos)
            started = self.published.pop((vid, round(pos[1] * 1e7)), None)
            if started is not None:
                self.delays.append((started, time.perf_counter() - started))

        self.hub._apply = timed  # type: ignore[method-assign]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hub.close()
        await self.bus.stop()

    async def publish(self, vid: str, step: int) -> None:
        long = CENTRE[1] + step * 1e-6
        subject = live_subject(PREFIX, encode(CENTRE[0], long, PRECISION), vid)
        self.published[(vid, round(long * 1e7))] = time.perf_counter()
        body = {"vendorId": vid, "lat": CENTRE[0], "long": long}
        await self.bus.publish(subject, json.dumps(body).encode())


async def _capacity(watchers: int) -> float:
    """Positions per second the process fans out to ``watchers``, one at a time."""
    async with _Run(False, watchers) as run:
        for step in range(1, 6):  # warm up
            await run.publish("warm", step)
            await run.bus.flush()
            await run.hub.fanned_out()
        started = time.perf_counter()
        n = 40
        for step in range(6, 6 + n):
            await run.publish("warm", step)
            await run.bus.flush()
            await run.hub.fanned_out()
        return n / (time.perf_counter() - started)


async def _overload(coalesce: bool, args: argparse.Namespace, rate: float) -> dict[str, Any]:
    async with _Run(coalesce, args.watchers) as run:
        vendors = [f"v{i}" for i in range(args.vendors)]
        started = time.perf_counter()
        end = started + args.seconds
        sent = 0
        while (now := time.perf_counter()) < end:
            # every position due by now, however late this task runs: the rate of arrivals
            # follows the clock, as messages from other processes do
            due = int((now - started) * rate)
            while sent < due:
                await run.publish(vendors[sent % len(vendors)], sent // len(vendors) + 1)
                sent += 1
            await asyncio.sleep(0.001)
        stopped = time.perf_counter()
        await run.bus.flush()
        await run.hub.fanned_out()
    delays = [d for _, d in run.delays]
    last = [d for at, d in run.delays if at >= stopped - 1.0]
    return {"sent": sent, "fanned": len(delays), "all": delays, "last": last}


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:,.0f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vendors", type=int, default=50)
    parser.add_argument("--watchers", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1.5, help="times the measured capacity")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    capacity = await _capacity(args.watchers)
    rate = capacity * args.rate
    print(
        f"{args.watchers} watchers: the process fans out {capacity:,.0f} positions/s; "
        f"publishing {rate:,.0f}/s from {args.vendors} vendors for {args.seconds:g} s"
    )
    print(
        f"{'mode':<14} {'published':>9} {'fanned out':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'last-s p50':>10} {'last-s max':>10}"
    )
    for coalesce in (False, True):
        r = await _overload(coalesce, args, rate)
        mode = "coalesce" if coalesce else "every-position"
        delays, last = r["all"], r["last"]
        print(
            f"{mode:<14} {r['sent']:>9,} {r['fanned']:>10,} {_ms(delays, 0.5):>8} "
            f"{_ms(delays, 0.99):>8} {_ms(delays, 1.0):>8} "
            f"{(statistics.median(last) * 1000 if last else 0):>10,.0f} {_ms(last, 1.0):>10}"
        )


if __name__ == "__main__":
    asyncio.run(main())
