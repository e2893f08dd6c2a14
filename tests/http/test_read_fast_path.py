"""``GET /v1/vendors/nearby`` and ``GET /v1/vendors/{id}``: the fast path and the FastAPI
routes give the same answers.

Each request is sent to two gateways of one started ``Venta`` (embedded backends): one as
built, one with the read fast path turned off, so every answer is compared with the FastAPI
route's own. The fast path must take well-formed reads itself and pass everything else on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http.fast_path_pair import Gateways, comparable, gateways_of, passed_on
from venta_core.transports.http import create_http_app
from venta_core.transports.http.middleware import find_route
from venta_core.transports.http.read_fast_path import (
    NEARBY_ROUTE,
    VENDOR_ROUTE,
    ReadFastPath,
)

BOX = "swLat=52.4&swLong=13.3&neLat=52.6&neLong=13.5"
CIRCLE = "lat=52.52&long=13.405&radius=5000"


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[Gateways]:
    async with gateways_of(tmp_path, ReadFastPath, nearby=None, vendor=None) as pair:
        alice = pair.auth("alice")
        for name, lat, long in [("Cart", 52.52, 13.405), ("Stall", 52.5, 13.41), ("Far", 48, 2)]:
            sent = {"name": name, "description": "Crêpes ✓"}
            created = await pair.fast.post("/v1/vendors", json=sent, headers=alice)
            path = f"/v1/vendors/{created.json()['id']}/location"
            await pair.fast.put(path, json={"lat": lat, "long": long}, headers=alice)
        yield pair


def _caller(gateways: Gateways, who: str) -> dict[str, str]:
    return {
        "alice": gateways.auth("alice"),
        "bob": gateways.auth("bob"),
        "nobody": {},
        "forger": {"Authorization": "Bearer not.a.token"},
    }[who]


NEARBY_CASES: list[tuple[str, str, str, bool]] = [
    # (name, query string, who calls, taken by the fast path)
    ("a box", BOX, "alice", True),
    ("a circle", CIRCLE, "alice", True),
    ("a box and a limit", f"{BOX}&limit=1", "bob", True),
    ("a box across the antimeridian", "swLat=-10&swLong=170&neLat=10&neLong=-170", "alice", True),
    ("a parameter twice", f"swLat=10&{BOX}", "alice", True),
    ("an unknown parameter", f"{BOX}&zoom=3", "alice", True),
    ("integers", "swLat=52&swLong=13&neLat=53&neLong=14", "alice", True),
    ("no token", BOX, "nobody", True),
    ("a bad token", BOX, "forger", True),
    ("no token, an invalid query", "swLat=x", "nobody", False),
    ("no query", "", "alice", False),
    ("half a box", "swLat=52.4&swLong=13.3", "alice", False),
    ("a box and a circle", f"{BOX}&{CIRCLE}", "alice", False),
    ("south above north", "swLat=53&swLong=13.3&neLat=52&neLong=13.5", "alice", False),
    ("latitude out of range", "swLat=-91&swLong=13.3&neLat=52&neLong=13.5", "alice", False),
    ("not a number", "swLat=nan&swLong=13.3&neLat=52&neLong=13.5", "alice", False),
    ("a word", "swLat=north&swLong=13.3&neLat=52&neLong=13.5", "alice", False),
    ("a limit of 0", f"{BOX}&limit=0", "alice", False),
    ("a limit too large", f"{BOX}&limit=100000", "alice", False),
    ("a radius too large", "lat=52.52&long=13.405&radius=1e12", "alice", False),
    ("a radius of 0", "lat=52.52&long=13.405&radius=0", "alice", False),
]


@pytest.mark.parametrize(("name", "query", "caller", "taken"), NEARBY_CASES)
async def test_the_nearby_fast_path_answers_as_the_fastapi_route_does(
    gateways: Gateways, name: str, query: str, caller: str, taken: bool
) -> None:
    passed = passed_on(gateways.fast_api, ReadFastPath)

    fast, plain = await gateways.both("GET", f"{NEARBY_ROUTE}?{query}", _caller(gateways, caller))

    assert comparable(fast) == comparable(plain), name
    assert fast.status_code < 500, fast.text
    assert passed == ([] if taken else [NEARBY_ROUTE])


async def test_the_nearby_fast_path_finds_the_vendors_in_view(gateways: Gateways) -> None:
    found = await gateways.fast.get(f"{NEARBY_ROUTE}?{BOX}", headers=gateways.auth("alice"))

    assert found.status_code == 200
    assert sorted(v["name"] for v in found.json()["vendors"]) == ["Cart", "Stall"]


VENDOR_CASES: list[tuple[str, str, str, str, bool]] = [
    # (name, which id, path after the id, who calls, taken by the fast path)
    ("the owner", "own", "", "alice", True),
    ("another user", "own", "", "bob", True),
    ("an upper-case id", "own-upper", "", "alice", True),
    ("a query string", "own", "?fields=name", "alice", True),
    ("an unknown vendor", "unknown", "", "alice", True),
    ("no token", "own", "", "nobody", True),
    ("a bad token", "own", "", "forger", True),
    ("a malformed id", "xyz", "", "alice", False),
    ("a malformed id, no token", "xyz", "", "nobody", False),
    ("a trailing slash", "own", "/", "alice", False),
    ("the clusters path", "clusters", "", "alice", False),
]


@pytest.mark.parametrize(("name", "which", "tail", "caller", "taken"), VENDOR_CASES)
async def test_the_vendor_fast_path_answers_as_the_fastapi_route_does(
    gateways: Gateways, name: str, which: str, tail: str, caller: str, taken: bool
) -> None:
    alice = gateways.auth("alice")
    own = (await gateways.fast.get(f"{NEARBY_ROUTE}?{BOX}", headers=alice)).json()["vendors"][0]
    ids = {"own": own["id"], "own-upper": own["id"].upper(), "unknown": str(uuid.uuid4())}
    path = f"/v1/vendors/{ids.get(which, which)}"
    passed = passed_on(gateways.fast_api, ReadFastPath)

    fast, plain = await gateways.both("GET", path + tail, _caller(gateways, caller))

    assert comparable(fast) == comparable(plain), name
    assert fast.status_code < 500, fast.text
    assert passed == ([] if taken else [path + tail.partition("?")[0]])


async def test_a_vendor_read_by_the_fast_path_is_the_whole_record(gateways: Gateways) -> None:
    alice = gateways.auth("alice")
    own = (await gateways.fast.get(f"{NEARBY_ROUTE}?{BOX}", headers=alice)).json()["vendors"][0]

    read = await gateways.fast.get(f"/v1/vendors/{own['id']}", headers=alice)
    head = await gateways.fast.head(f"/v1/vendors/{own['id']}", headers=alice)

    assert read.status_code == 200
    assert read.json()["description"] == "Crêpes ✓"
    assert read.json()["id"] == own["id"] and read.json()["name"] == own["name"]
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == read.headers["content-length"]


async def test_fast_path_reads_are_measured_under_their_route(gateways: Gateways) -> None:
    alice = gateways.auth("alice")
    own = (await gateways.fast.get(f"{NEARBY_ROUTE}?{BOX}", headers=alice)).json()["vendors"][0]
    await gateways.fast.get(f"/v1/vendors/{own['id']}", headers=alice)

    exposed = (await gateways.fast.get("/metrics")).text

    for route in (NEARBY_ROUTE, VENDOR_ROUTE):
        assert f'route="{route}"' in exposed, route


def test_the_fast_path_finds_both_fastapi_routes(gateways: Gateways) -> None:
    table = create_http_app(gateways.app).state.route_table

    for template in (NEARBY_ROUTE, VENDOR_ROUTE):
        route = find_route(table, "GET", template)
        assert route is not None and getattr(route, "path_format", None) == template
        assert "GET" in getattr(route, "methods", ())
