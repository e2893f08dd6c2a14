"""The Socket.IO edge: malformed frames end their connection with one WARNING line and no
traceback, oversized long-polling POSTs are answered 413 at once, and new connections are
limited per client IP at the Engine.IO handshake."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import socketio
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.realtime.harness import (
    Server,
    SioClient,
    box,
    client,
    realtime_settings,
    running,
    subject,
)
from tests.realtime.raw import (
    MALFORMED_ENGINEIO,
    MALFORMED_SOCKETIO,
    RawSocket,
    polling,
    polling_session,
)
from venta_core.settings import Settings

MAX_PAYLOAD = 4096


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.WARNING)
    yield caplog


def _problems(logs: pytest.LogCaptureFixture) -> tuple[list[str], list[logging.LogRecord]]:
    """(WARNING lines about closed connections, records that are errors or carry a traceback)."""
    closed = [r.getMessage() for r in logs.records if "closed Socket.IO connection" in r.message]
    bad = [r for r in logs.records if r.levelno >= logging.ERROR or r.exc_info]
    return closed, bad


async def _still_serving(server: Server) -> None:
    async with client(server, "/user", server.token(subject())) as user:
        await user.emit("updateUserLocation", box((52.5, 13.38), (52.54, 13.43)))
        assert await user.next("vendor_channels") == []


@pytest.mark.parametrize("frame", MALFORMED_ENGINEIO + MALFORMED_SOCKETIO)
async def test_a_malformed_frame_ends_its_connection_with_one_warning(
    server: Server, logs: pytest.LogCaptureFixture, frame: str
) -> None:
    raw = await RawSocket.open(server, server.token(subject()))
    await raw.ws.send(frame)
    assert await raw.closed()
    closed, bad = _problems(logs)
    assert len(closed) == 1 and "malformed" in closed[0], closed
    assert not bad, [r.getMessage() for r in bad]
    await _still_serving(server)


@pytest.mark.parametrize("frame", ["9", '42/user,{"event":"x"}'])
async def test_a_hundred_bad_frames_log_one_line(
    server: Server, logs: pytest.LogCaptureFixture, frame: str
) -> None:
    raw = await RawSocket.open(server, server.token(subject()))
    try:
        for _ in range(100):
            await raw.ws.send(frame)
    except websockets.ConnectionClosed:
        pass  # the server closed it after the first
    assert await raw.closed()
    await asyncio.sleep(0.2)  # frames still queued in the server have been handled
    closed, bad = _problems(logs)
    assert len(closed) == 1, closed
    assert not bad, [r.getMessage() for r in bad]


async def test_a_number_as_event_name_is_a_validation_error(server: Server) -> None:
    raw = await RawSocket.open(server, server.token(subject()))
    await raw.ws.send("42/user,[123,{}]")
    name, error = await raw.event()
    assert name == "error" and error["code"] == "VALIDATION_ERROR", error
    await raw.ws.send(
        '42/user,["updateUserLocation",' + json.dumps(box((52.5, 13.38), (52.54, 13.43))) + "]"
    )
    assert await raw.event() == ["vendor_channels", []]  # the connection stays up
    await raw.close()


@pytest.fixture
async def small_server(backend_settings: Settings) -> AsyncIterator[Server]:
    async with running(realtime_settings(backend_settings, max_payload_bytes=MAX_PAYLOAD)) as srv:
        yield srv


async def _connected(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    line = next(
        x for x in text.splitlines() if x.startswith('venta_ws_connected{namespace="/user"}')
    )
    return float(line.rsplit(" ", 1)[1])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_long_polling_post_is_answered_413_at_once(
    small_server: Server, logs: pytest.LogCaptureFixture, chunked: bool
) -> None:
    server = small_server
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        sid = await polling_session(http)
        token = server.token(subject())
        hello = await http.post(
            "/socket.io/", params=polling(sid), content=f'40/user,{{"token":"{token}"}}'
        )
        assert hello.status_code == 200, hello.text
        assert (await http.get("/socket.io/", params=polling(sid))).text.startswith("40/user,")
        assert await _connected(http) == 1

        body = "4" + "x" * (MAX_PAYLOAD + 10)

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000].encode()

        started = time.monotonic()
        content = chunks() if chunked else body
        too_large = await http.post("/socket.io/", params=polling(sid), content=content)
        assert time.monotonic() - started < 5
        assert too_large.status_code == 413, too_large.text
        assert too_large.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        # the connection is gone, and its session with it
        assert await _connected(http) == 0
        closed, bad = _problems(logs)
        assert len(closed) == 1 and not bad, (closed, bad)
        assert (await http.get("/socket.io/", params=polling(sid))).status_code == 400


async def test_a_chunked_long_polling_post_within_the_limit_is_delivered(
    small_server: Server,
) -> None:
    server = small_server
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        sid = await polling_session(http)
        hello = f'40/user,{{"token":"{server.token(subject())}"}}'.encode()

        async def chunks() -> AsyncIterator[bytes]:
            yield hello[:10]
            yield hello[10:]

        posted = await http.post("/socket.io/", params=polling(sid), content=chunks())
        assert posted.status_code == 200, posted.text
        assert (await http.get("/socket.io/", params=polling(sid))).text.startswith("40/user,")


async def test_a_malformed_long_polling_post_ends_the_session(
    server: Server, logs: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        sid = await polling_session(http)
        bad = await http.post("/socket.io/", params=polling(sid), content="9oops")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
        closed, errors = _problems(logs)
        assert len(closed) == 1 and not errors, (closed, errors)
        assert (await http.get("/socket.io/", params=polling(sid))).status_code == 400


@pytest.fixture
def limited(backend_settings: Settings) -> Settings:
    settings = realtime_settings(backend_settings, connects_per_ip_per_minute=3)
    http = settings.http.model_copy(update={"trust_forwarded_for": True})
    return settings.model_copy(update={"http": http})


async def _handshake(http: httpx.AsyncClient, ip: str | None = None) -> httpx.Response:
    headers = {} if ip is None else {"X-Forwarded-For": f"203.0.113.99, {ip}"}
    return await http.get(
        "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers=headers
    )


async def test_new_connections_are_limited_per_client_ip(limited: Settings) -> None:
    async with running(limited) as server, httpx.AsyncClient(base_url=server.url) as http:
        before = _ws_connect_rejections((await http.get("/metrics")).text)
        for _ in range(3):
            assert (await _handshake(http, "198.51.100.1")).status_code == 200
        refused = await _handshake(http, "198.51.100.1")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # another address (the proxy's last X-Forwarded-For entry) has its own budget
        assert (await _handshake(http, "198.51.100.2")).status_code == 200

        # the socket peer (127.0.0.1) too, and a websocket handshake counts the same
        for _ in range(3):
            assert (await _handshake(http)).status_code == 200
        url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
        with pytest.raises(websockets.InvalidStatus) as info:
            await websockets.connect(url, open_timeout=10)
        assert info.value.response.status_code == 429
        assert json.loads(info.value.response.body)["error"]["code"] == "RATE_LIMITED"
        official = SioClient("/user")  # python-socketio's client sees a failed connect
        with pytest.raises(socketio.exceptions.ConnectionError):
            await official.connect(server, server.token(subject()))
        await official.sio.disconnect()
        metrics = (await http.get("/metrics")).text
    assert 'venta_ws_connections_refused_total{code="RATE_LIMITED"} 3.0' in metrics
    assert _ws_connect_rejections(metrics) == before + 3  # polling, websocket, client


def _ws_connect_rejections(metrics: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name == "venta_rate_limit_rejections_total" and labels == {"limit": "ws_connect_ip"}:
                return sample.value
    return 0.0


async def test_forwarded_for_is_ignored_unless_trusted(backend_settings: Settings) -> None:
    settings = realtime_settings(backend_settings, connects_per_ip_per_minute=2)
    async with running(settings) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await _handshake(http, "198.51.100.1")).status_code == 200
        assert (await _handshake(http, "198.51.100.2")).status_code == 200
        assert (await _handshake(http, "198.51.100.3")).status_code == 429
