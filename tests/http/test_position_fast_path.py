"""``PUT /v1/vendors/{id}/location``: the fast path and the FastAPI route give the same answers.

Each request is sent to two gateways of one started ``Venta`` (embedded backends): one as
built, one with the fast path turned off, so every answer is compared with the FastAPI
route's own. The fast path must take well-formed updates itself and pass everything else on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from tests.http.fast_path_pair import Gateways, comparable, gateways_of, passed_on
from venta_core.transports.http import create_http_app
from venta_core.transports.http.middleware import find_route
from venta_core.transports.http.position_fast_path import (
    MAX_BODY_BYTES,
    ROUTE,
    PositionFastPath,
)

JSON = "application/json"


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[Gateways]:
    async with gateways_of(tmp_path, PositionFastPath, route=None) as pair:
        yield pair


GOOD = b'{"lat": 52.52, "long": 13.405}'

CASES: list[tuple[str, str, bytes, str | None, str, bool]] = [
    # (name, whose vendor / which id, body, content type, who calls, taken by the fast path)
    ("well formed", "own", GOOD, JSON, "alice", True),
    ("integers", "own", b'{"lat": 52, "long": 13}', JSON, "alice", True),
    ("charset", "own", GOOD, "application/json; charset=utf-8", "alice", True),
    ("upper-case id", "own-upper", GOOD, JSON, "alice", True),
    ("someone else's vendor", "own", GOOD, JSON, "bob", True),
    ("unknown vendor", "unknown", GOOD, JSON, "alice", True),
    ("malformed id", "xyz", GOOD, JSON, "alice", False),
    ("malformed id, invalid body", "xyz", b"{", JSON, "alice", False),
    ("no token", "own", GOOD, JSON, "nobody", True),
    ("no token, invalid body", "own", b"{", JSON, "nobody", False),
    ("bad token", "own", GOOD, JSON, "forger", True),
    ("invalid JSON", "own", b'{"lat": 52.5,', JSON, "alice", False),
    ("empty body", "own", b"", JSON, "alice", False),
    ("latitude out of range", "own", b'{"lat": 91, "long": 13}', JSON, "alice", False),
    ("latitude as a string", "own", b'{"lat": "52.5", "long": 13}', JSON, "alice", False),
    ("latitude as a boolean", "own", b'{"lat": true, "long": 13}', JSON, "alice", False),
    ("NaN", "own", b'{"lat": NaN, "long": 13}', JSON, "alice", False),
    ("missing longitude", "own", b'{"lat": 52.5}', JSON, "alice", False),
    ("extra field", "own", b'{"lat": 52.5, "long": 13, "speed": 3}', JSON, "alice", False),
    ("a list", "own", b"[52.5, 13]", JSON, "alice", False),
    ("byte order mark", "own", b"\xef\xbb\xbf" + GOOD, JSON, "alice", False),
    ("invalid UTF-8", "own", b'{"lat": 52.5, "long": 13, "\xff": 1}', JSON, "alice", False),
    ("text/plain", "own", GOOD, "text/plain", "alice", False),
    ("+json media type", "own", GOOD, "application/merge-patch+json", "alice", False),
    ("no content type", "own", GOOD, None, "alice", False),
    ("large body", "own", GOOD[:-1] + b" " * MAX_BODY_BYTES + b"}", JSON, "alice", False),
    ("the nearby path", "nearby", GOOD, JSON, "alice", False),
]


@pytest.mark.parametrize(("name", "which", "body", "content_type", "caller", "taken"), CASES)
async def test_the_fast_path_answers_as_the_fastapi_route_does(
    gateways: Gateways,
    name: str,
    which: str,
    body: bytes,
    content_type: str | None,
    caller: str,
    taken: bool,
) -> None:
    alice = gateways.auth("alice")
    created = await gateways.fast.post("/v1/vendors", json={"name": "Cart"}, headers=alice)
    own = created.json()["id"]
    vendor = {"own": own, "own-upper": own.upper(), "unknown": str(uuid.uuid4())}.get(which, which)
    headers = {
        "alice": alice,
        "bob": gateways.auth("bob"),
        "nobody": {},
        "forger": {"Authorization": "Bearer not.a.token"},
    }[caller]
    if content_type is not None:
        headers = {**headers, "Content-Type": content_type}

    passed = passed_on(gateways.fast_api, PositionFastPath)

    fast, plain = await gateways.both("PUT", f"/v1/vendors/{vendor}/location", headers, body)

    assert comparable(fast, ("updatedAt",)) == comparable(plain, ("updatedAt",)), name
    assert fast.status_code < 500, fast.text
    assert passed == ([] if taken else [f"/v1/vendors/{vendor}/location"])


async def test_a_position_set_by_the_fast_path_is_the_vendors_position(
    gateways: Gateways,
) -> None:
    alice = gateways.auth("alice")
    vendor = (await gateways.fast.post("/v1/vendors", json={"name": "Cart"}, headers=alice)).json()
    path = f"/v1/vendors/{vendor['id']}/location"
    sent = await gateways.fast.put(path, json={"lat": 48.85, "long": 2.35}, headers=alice)

    read = await gateways.fast.get(path, headers=alice)

    assert sent.status_code == 200 and read.status_code == 200
    assert read.json()["location"] == {"lat": 48.85, "long": 2.35}
    assert sent.json() == read.json()


class Inner:
    """The app behind the fast path: records what reaches it, answers 418."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _call(app: Any, path: str, body: bytes, content_type: bytes = b"application/json") -> int:
    scope = {
        "type": "http",
        "method": "PUT",
        "path": path,
        "root_path": "",
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        "query_string": b"",
    }
    chunks = [body[:5], body[5:]]  # two messages: the fast path reads them all

    async def receive() -> Message:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    status = 0

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def test_what_the_fast_path_does_not_take_reaches_the_app_with_its_body() -> None:
    inner = Inner()
    layer = PositionFastPath(inner, route=object())  # type: ignore[arg-type]
    vendor = uuid.uuid4()

    assert await _call(layer, f"/v1/vendors/{vendor}/location", b'{"lat": "x"}') == 418
    assert await _call(layer, "/v1/vendors/xyz/location", GOOD) == 418
    assert await _call(layer, f"/v1/vendors/{vendor}/location", GOOD, b"text/plain") == 418
    assert await _call(layer, f"/v1/vendors/{vendor}", GOOD) == 418

    assert inner.bodies == [b'{"lat": "x"}', GOOD, GOOD, GOOD]


def test_the_fast_path_labels_its_requests_with_the_fastapi_route(gateways: Gateways) -> None:
    route = find_route(create_http_app(gateways.app).state.route_table, "PUT", ROUTE)

    assert route is not None and getattr(route, "path_format", None) == ROUTE
    assert "PUT" in getattr(route, "methods", ())
