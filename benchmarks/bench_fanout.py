"""Real-time fan-out benchmark: one vendor update to N watching clients.

    python benchmarks/bench_fanout.py [--clients 1000,5000] [--updates 200] [--samples 30]
    python benchmarks/bench_fanout.py --clients 1000 --only venta --profile fanout.prof

Three servers, each in its own process on uvloop, are measured in the same run with the same
watchers (a separate process of minimal websocket clients, so the client side costs little):

- ``bare``: a plain ``websockets`` server that broadcasts one pre-encoded message to every
  connection with ``websockets.broadcast`` (the floor: no protocol above websockets);
- ``socketio``: python-socketio under uvicorn, every watcher in one room, ``sio.emit(...,
  room=...)`` per update (the stock way);
- ``venta``: ``venta serve ws`` on embedded backends: watchers send ``updateUserLocation``,
  four vendor connections send ``updateVendorLocation`` (validation, ownership, geo index,
  write-behind, bus, cell fan-out: the whole path), with ``COALESCE_MOVES`` off so that every
  update of a burst is delivered, as by the other two.

Figures per server and client count:

- ``deliv/s`` and ``upd/s``: a burst of ``--updates`` updates sent as fast as the server takes
  them; deliveries per second and updates per second, from the first send to the last delivery
  at the last client (so: updates one process absorbs while fanning each out to N clients);
- ``p50/p99 ms``: ``--samples`` updates sent one at a time, spaced so that one is delivered
  before the next; latency from the send to each client's receipt.

A watcher reads only websocket frame headers (to count text frames) and takes one timestamp per
read, without decoding payloads; it answers pings and close frames (uvicorn closes a websocket
whose pong is 20 s late). Publishers, then watchers, then the server are closed at the end of
each measurement. See docs/performance.md for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import venta_core  # noqa: F401
except ImportError:  # a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

HOST = "127.0.0.1"
VENDORS = 4
BOX = {"swLocation": {"lat": 52.50, "long": 13.38}, "neLocation": {"lat": 52.54, "long": 13.43}}
SERVERS = ("bare", "socketio", "venta")


def _raise_fd_limit(need: int) -> None:
    """Raise the soft limit on open files to at least ``need`` (up to the hard limit): a server
    and the watcher process each hold one descriptor per client."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < need:
        raise SystemExit(f"{need} open files are needed; the hard limit (ulimit -Hn) is {hard}")


def _install_uvloop() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def position(k: int) -> tuple[float, float]:
    """A position in the watched box whose JSON text always has the same length."""
    return float(f"52.51{1000 + k % 9000:04d}"), float(f"13.40{1000 + k % 9000:04d}")


# -- servers ----------------------------------------------------------------------------------


async def _stdin_closed() -> None:
    """Return when the driver closes our stdin (its way of stopping a server)."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def serve_bare(port: int) -> None:
    import websockets
    from websockets.asyncio.server import serve

    watchers: set[Any] = set()
    frame = "42/user," + json.dumps(
        ["vendor_sync", {"id": "0" * 36, "location": {"lat": 52.511, "long": 13.401}}]
    )

    async def handler(ws: Any) -> None:
        first = await ws.recv()
        if first != "publisher":
            watchers.add(ws)
            try:
                await ws.wait_closed()
            finally:
                watchers.discard(ws)
            return
        async for _ in ws:
            websockets.broadcast(watchers, frame)

    async with serve(handler, HOST, port, ping_interval=None, compression=None, max_queue=None):
        print(json.dumps({"ready": True}), flush=True)
        await _stdin_closed()


async def serve_socketio(port: int) -> None:
    import socketio
    import uvicorn

    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=300, ping_timeout=60)

    @sio.on("connect", namespace="/user")
    async def watch(sid: str, environ: Any, auth: Any = None) -> None:
        await sio.enter_room(sid, "cell", namespace="/user")

    @sio.on("publish", namespace="/vendor")
    async def publish(sid: str, data: Any) -> None:
        body = {"id": data["vendorId"], "location": {"lat": data["lat"], "long": data["long"]}}
        await sio.emit("vendor_sync", body, room="cell", namespace="/user")

    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        host=HOST,
        port=port,
        log_level="error",
        lifespan="off",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        # No websocket keepalive, as for ``bare``: at 5,000 watchers one loop iteration of this
        # server runs hundreds of thousands of emit tasks for longer than uvicorn's 20 s pong
        # deadline, and uvloop runs overdue timers before reading the pong already received,
        # so uvicorn would close connections (the publisher's first) mid-measurement.
        ws_ping_interval=None,
        loop="uvloop",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(600):  # uvicorn offers no event for "listening"
        if server.started or serving.done():
            break
        await asyncio.sleep(0.05)
    print(json.dumps({"ready": True}), flush=True)
    await _stdin_closed()
    server.should_exit = True
    await serving


async def serve_venta(port: int, profile: str | None) -> None:
    from venta_core.app import Venta
    from venta_core.domain import Actor, VendorCreate
    from venta_core.runner import serve
    from venta_core.testing import embedded_settings

    tmp = tempfile.mkdtemp(prefix="venta-bench-")
    base = embedded_settings(Path(tmp) / "venta.db")
    realtime = base.realtime.model_copy(
        update={
            "port": port,
            "vendor_messages_per_minute": 10**9,
            "user_messages_per_minute": 10**9,
            "max_connections_per_user": 10**6,  # every watcher uses one identity
            "connects_per_ip_per_minute": 0,  # every watcher comes from loopback
            "ping_interval_seconds": 300.0,
            "max_send_buffer_bytes": 64 * 1024 * 1024,
            # every update reaches every watcher, as with the other servers (a burst would
            # otherwise be coalesced to each vendor's latest position)
            "coalesce_moves": False,
        }
    )
    log = base.log.model_copy(update={"level": "WARNING"})
    settings = base.model_copy(update={"realtime": realtime, "log": log})
    app = Venta(settings, load_entry_points=False)
    stop = asyncio.Event()

    async def ready(_: dict[str, int]) -> None:
        vendors = []
        for i in range(VENDORS):
            owner = await app.users.ensure_user(f"bench-owner-{i}")
            vendor = await app.vendors.create_vendor(
                Actor.for_user(owner), VendorCreate(name=f"Bench {i}")
            )
            vendors.append(vendor.id)
        print(json.dumps({"ready": True, "vendors": vendors}), flush=True)

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    task = asyncio.create_task(serve(app, ["ws"], stop=stop, on_ready=ready))
    await _stdin_closed()
    stop.set()
    await task
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)


# -- minimal websocket clients ----------------------------------------------------------------


TEXT, CLOSE, PING, PONG = 1, 8, 9, 10


def _frame(text: str) -> bytes:
    """A masked client text frame (mask key zero: the payload goes unchanged)."""
    return _control(TEXT, text.encode())


def _control(opcode: int, payload: bytes) -> bytes:
    """A masked client frame of ``opcode`` (mask key zero)."""
    n = len(payload)
    first = 128 | opcode
    header = (
        bytes((first, 128 | n)) if n < 126 else bytes((first, 128 | 126)) + n.to_bytes(2, "big")
    )
    return header + b"\0\0\0\0" + payload


class Client(asyncio.Protocol):
    """A websocket client that decodes text frames only until ``measuring`` starts; then it
    reads frame headers only, counting and stamping text frames.

    In both modes it answers the server's keepalive pings (uvicorn pings every 20 s and closes
    a connection whose pong does not come within 20 s) and its close frame, as any websocket
    client does; pings are not counted as deliveries."""

    def __init__(self, path: str, hello: list[str], expect: list[str]) -> None:
        self.path = path
        self.hello = hello
        self.expect = list(expect)
        self.buffer = b""
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.measuring = False
        self.frames = 0
        self.rest = b""
        self.stamps: list[float] = []
        self.transport: Any = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed_by_server = ""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before it was ready"))

    def send(self, text: str) -> None:
        if self.transport.is_closing():
            raise ConnectionError(f"the server closed this connection {self.closed_by_server}")
        self.transport.write(_frame(text))

    def _control_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == PING:
            self.transport.write(_control(PONG, payload))
        elif opcode == CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.closed_by_server = f"(close {code} {payload[2:].decode(errors='replace')!r})"
            self.transport.write(_control(CLOSE, payload[:2]))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.measuring:
            now = time.perf_counter()
            buf = self.rest + data if self.rest else data
            i, end = 0, len(buf)
            while i + 2 <= end:
                n, head = buf[i + 1] & 0x7F, 2
                if n == 126:
                    if i + 4 > end:
                        break
                    n, head = int.from_bytes(buf[i + 2 : i + 4], "big"), 4
                if i + head + n > end:
                    break
                opcode = buf[i] & 0x0F
                if opcode == TEXT:
                    self.frames += 1
                    self.stamps.append(now)
                elif opcode >= CLOSE:
                    self._control_frame(opcode, bytes(buf[i + head : i + head + n]))
                i += head + n
            self.rest = buf[i:]
            return
        self.buffer += data
        if not self.upgraded:
            _head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.upgraded, self.buffer = True, rest
            for text in self.hello[:1]:
                self.send(text)
            self.hello = self.hello[1:]
            if not self.expect and not self.ready.done():
                self.ready.set_result(None)
        while len(self.buffer) >= 2:
            n = self.buffer[1] & 0x7F
            offset = 2
            if n == 126:
                n, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            if len(self.buffer) < offset + n:
                return
            opcode, payload = self.buffer[0] & 0x0F, self.buffer[offset : offset + n]
            self.buffer = self.buffer[offset + n :]
            if opcode == TEXT:
                self.on_text(payload.decode())
            elif opcode >= CLOSE:
                self._control_frame(opcode, payload)

    def on_text(self, text: str) -> None:
        if text == "2":
            self.send("3")
            return
        if self.expect and text.startswith(self.expect[0]):
            self.expect.pop(0)
            if self.hello:
                self.send(self.hello.pop(0))
            if not self.expect and not self.ready.done():
                self.ready.set_result(None)


def _eio_path(query: str = "") -> str:
    return f"/socket.io/?EIO=4&transport=websocket{query}"


def watcher_spec(server: str, token: str | None) -> tuple[str, list[str], list[str]]:
    if server == "bare":
        return "/", ["watcher"], []
    auth = json.dumps({"token": token}) if token else "{}"
    if server == "socketio":
        return _eio_path(), [f"40/user,{auth}"], ["0{", "40/user,"]
    view = json.dumps(["updateUserLocation", BOX])
    return (
        _eio_path(),
        [f"40/user,{auth}", f"42/user,{view}"],
        ["0{", "40/user,", '42/user,["vendor_channels"'],
    )


async def open_client(port: int, path: str, hello: list[str], expect: list[str]) -> Client:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: Client(path, hello, expect), HOST, port)
    await asyncio.wait_for(client.ready, 60)
    return client


async def watchers_main(server: str, port: int, count: int, token: str | None) -> None:
    """The watcher process: connect, then obey the driver's commands on stdin."""
    path, hello, expect = watcher_spec(server, token)
    clients: list[Client] = []
    for start in range(0, count, 200):
        batch = [open_client(port, path, hello, expect) for _ in range(min(200, count - start))]
        clients.extend(await asyncio.gather(*batch))
    await asyncio.sleep(0.3)
    print(json.dumps({"connected": len(clients)}), flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        command, _, arg = line.partition(" ")
        if command == "measure":
            for c in clients:
                c.measuring, c.frames, c.stamps, c.rest = True, 0, [], b""
            print(json.dumps({"ok": True}), flush=True)
        elif command == "total":
            print(json.dumps({"frames": sum(c.frames for c in clients)}), flush=True)
        elif command == "report":
            keep = int(arg or 0)
            report = {
                "frames": sum(c.frames for c in clients),
                "last": max((c.stamps[-1] for c in clients if c.stamps), default=0.0),
                "stamps": [c.stamps[:keep] for c in clients],
            }
            print(json.dumps(report), flush=True)
    await close_all(clients)


async def close_all(clients: list[Client]) -> None:
    """Close our side (a close frame, then the socket) and wait until each transport has let
    go of its socket, so that the event loop is not closed with connections still open."""
    for c in clients:
        if not c.transport.is_closing():
            c.transport.write(_control(CLOSE, (1000).to_bytes(2, "big")))
            c.transport.close()
    if clients:
        await asyncio.wait([c.lost for c in clients], timeout=10)


# -- driver -----------------------------------------------------------------------------------


class Proc:
    def __init__(self, args: list[str]) -> None:
        self.p = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.p.args} exited with {self.p.wait()}")
        return dict(json.loads(line))

    def send(self, line: str) -> dict[str, Any]:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.p.stdin is not None:
            self.p.stdin.close()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def _publishers(
    server: str, port: int, info: dict[str, Any], tokens: list[str]
) -> tuple[list[Client], Any]:
    """Connections that send updates, and a function sending update ``k``."""
    if server == "bare":
        pub = await open_client(port, "/", ["publisher"], [])
        return [pub], lambda k: pub.send("x")
    if server == "socketio":
        pub = await open_client(port, _eio_path(), ["40/vendor,{}"], ["0{", "40/vendor,"])

        def send_sio(k: int) -> None:
            lat, long = position(k)
            body = {"vendorId": "0" * 36, "lat": lat, "long": long}
            pub.send("42/vendor," + json.dumps(["publish", body]))

        return [pub], send_sio
    pubs = [
        await open_client(
            port, _eio_path(), [f"40/vendor,{json.dumps({'token': t})}"], ["0{", "40/vendor,"]
        )
        for t in tokens
    ]

    def send_venta(k: int) -> None:
        lat, long = position(k)
        body = {"lat": lat, "long": long}
        pubs[k % len(pubs)].send("42/vendor," + json.dumps(["updateVendorLocation", body]))

    return pubs, send_venta


async def measure(
    server: str, clients: int, updates: int, samples: int, prof: str | None
) -> dict[str, float]:
    from venta_core.ports.identity import DevTokenProvider
    from venta_core.settings import Settings

    provider = DevTokenProvider(Settings(_env_file=None).auth)
    port = _free_port()
    srv = Proc(
        ["--serve", server, "--port", str(port), "--count", str(clients)]
        + (["--profile", prof] if prof else [])
    )
    info = srv.read()
    watcher_token = provider.issue("bench-user", ttl_seconds=3600)
    watchers = Proc(
        [
            "--watchers",
            server,
            "--port",
            str(port),
            "--count",
            str(clients),
            "--token",
            watcher_token,
        ]
    )
    pubs: list[Client] = []
    try:
        watchers.read()
        tokens = [provider.issue(f"bench-owner-{i}", ttl_seconds=3600) for i in range(VENDORS)]
        pubs, publish = await _publishers(server, port, info, tokens)
        for k in range(3):  # warm up (first updates of a vendor do extra work)
            for _ in range(VENDORS):
                publish(k)
            await asyncio.sleep(0.3)
        watchers.send("measure")
        await _settle(watchers, 1 << 62)  # quiet: the warm-up has been delivered
        # throughput: a burst
        watchers.send("measure")
        start = time.perf_counter()
        for k in range(updates):
            publish(k)
            if k % 20 == 19:
                await asyncio.sleep(0)
        await _settle(watchers, clients * updates)
        report = watchers.send("report")
        elapsed = report["last"] - start
        delivered = report["frames"]
        # latency: one update at a time
        spacing = max(0.02, 3 * elapsed / updates)
        watchers.send("measure")
        sent = []
        for k in range(samples):
            sent.append(time.perf_counter())
            publish(k)
            await asyncio.sleep(spacing)
        await _settle(watchers, clients * samples)
        report = watchers.send(f"report {samples}")
        latencies = [
            (stamp - sent[i]) * 1000
            for stamps in report["stamps"]
            for i, stamp in enumerate(stamps[:samples])
        ]
    finally:
        # Teardown order: our publishers, then the watchers, then the server, so the server
        # never closes connections whose client has gone (the bare server would wait its close
        # timeout for each), and this event loop closes with no transport left open.
        await close_all(pubs)
        watchers.close()
        srv.close()
    q = statistics.quantiles(latencies, n=100)
    return {
        "deliveries_s": delivered / elapsed,
        "updates_s": delivered / clients / elapsed,
        "p50_ms": q[49],
        "p99_ms": q[98],
        "complete": delivered / (clients * updates),
    }


async def _settle(watchers: Proc, expected: int) -> None:
    """Wait until the watchers have every expected frame, or nothing more came for 2 s."""
    previous, still = -1, 0
    while True:
        await asyncio.sleep(0.25)
        frames = watchers.send("total")["frames"]
        if frames >= expected:
            return
        still = still + 1 if frames == previous else 0
        if still >= 8:
            return
        previous = frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1000,5000")
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--only", default=",".join(SERVERS))
    parser.add_argument("--profile", help="cProfile the venta server into this file")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--watchers", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_fd_limit((args.count or max(int(c) for c in args.clients.split(","))) + 1024)
    _install_uvloop()
    if args.serve == "bare":
        asyncio.run(serve_bare(args.port))
    elif args.serve == "socketio":
        asyncio.run(serve_socketio(args.port))
    elif args.serve == "venta":
        asyncio.run(serve_venta(args.port, args.profile))
    elif args.watchers:
        asyncio.run(watchers_main(args.watchers, args.port, args.count, args.token))
    else:
        _drive(args)


def _drive(args: argparse.Namespace) -> None:
    counts = [int(c) for c in args.clients.split(",")]
    servers = [s for s in args.only.split(",") if s]
    print(
        f"fan-out: {args.updates}-update bursts, {args.samples} latency samples, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'clients':>7} {'server':<9} {'deliv/s':>9} {'upd/s':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'vs bare':>8} {'vs sio':>7}"
    )
    for n in counts:
        rows = {
            s: asyncio.run(
                measure(s, n, args.updates, args.samples, args.profile if s == "venta" else None)
            )
            for s in servers
        }
        for s, r in rows.items():
            vs_bare = (
                r["deliveries_s"] / rows["bare"]["deliveries_s"] if "bare" in rows else float("nan")
            )
            vs_sio = (
                r["deliveries_s"] / rows["socketio"]["deliveries_s"]
                if "socketio" in rows
                else float("nan")
            )
            flag = "" if r["complete"] >= 0.999 else f"  ({r['complete']:.1%} delivered)"
            print(
                f"{n:>7} {s:<9} {r['deliveries_s']:>9.0f} {r['updates_s']:>7.1f} "
                f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {vs_bare:>8.2f} {vs_sio:>7.2f}{flag}"
            )


if __name__ == "__main__":
    main()
