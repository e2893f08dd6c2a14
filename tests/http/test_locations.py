from __future__ import annotations

import uuid

import pytest

from tests.http.http_fakes import assert_error


async def test_set_and_read_location(client, alice, bob, create_vendor):
    vendor_id = await create_vendor(alice)

    put = await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": 52.52, "long": 13.405}, headers=alice
    )
    got = await client.get(f"/v1/vendors/{vendor_id}/location", headers=bob)

    assert put.status_code == 200
    assert put.json()["id"] == vendor_id
    assert put.json()["location"] == {"lat": 52.52, "long": 13.405}
    assert got.status_code == 200
    assert set(got.json()) == {"id", "location", "updatedAt"}
    assert got.json()["location"] == {"lat": 52.52, "long": 13.405}
    assert got.json()["updatedAt"].endswith("Z")


async def test_unknown_location(client, alice, create_vendor):
    vendor_id = await create_vendor(alice)
    response = await client.get(f"/v1/vendors/{vendor_id}/location", headers=alice)
    assert_error(response, 404, "LOCATION_NOT_FOUND")


async def test_location_of_unknown_vendor(client, alice):
    put = await client.put(
        f"/v1/vendors/{uuid.uuid4()}/location", json={"lat": 1, "long": 1}, headers=alice
    )
    assert_error(put, 404, "VENDOR_NOT_FOUND")
    bad = await client.get("/v1/vendors/xyz/location", headers=alice)
    assert_error(bad, 404, "VENDOR_NOT_FOUND")


async def test_someone_elses_vendor_location_is_forbidden(client, alice, bob, create_vendor, venta):
    vendor_id = await create_vendor(alice)
    await client.put(f"/v1/vendors/{vendor_id}/location", json={"lat": 1, "long": 2}, headers=alice)

    response = await client.put(
        f"/v1/vendors/{vendor_id}/location", json={"lat": 40, "long": 40}, headers=bob
    )

    assert_error(response, 403, "FORBIDDEN")
    assert venta.locations.positions[vendor_id].location.lat == 1


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('{"lat": 91, "long": 0}', "lat"),
        ('{"lat": -90.5, "long": 0}', "lat"),
        ('{"lat": 0, "long": 180.01}', "long"),
        ('{"lat": 0, "long": -181}', "long"),
        ('{"lat": "12", "long": 0}', "lat"),
        ('{"lat": true, "long": 0}', "lat"),
        ('{"lat": null, "long": 0}', "lat"),
        ('{"lat": 0}', "long"),
        ('{"lat": NaN, "long": 0}', "lat"),
        ('{"lat": 0, "long": Infinity}', "long"),
        ('{"lat": 0, "long": 0, "alt": 3}', "alt"),
        ('"here"', "body"),
    ],
)
async def test_set_location_rejects_bad_bodies(client, alice, create_vendor, content, field):
    vendor_id = await create_vendor(alice)
    headers = {**alice, "Content-Type": "application/json"}
    response = await client.put(
        f"/v1/vendors/{vendor_id}/location", content=content, headers=headers
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in [e["field"] for e in error["details"]["errors"]]


@pytest.fixture
async def placed(client, alice, create_vendor):
    """Three vendors: two in Berlin (about 1.1 km apart), one in Paris."""
    spots = {"mitte": (52.52, 13.40), "east": (52.52, 13.4165), "paris": (48.8566, 2.3522)}
    ids = {}
    for name, (lat, long) in spots.items():
        ids[name] = await create_vendor(alice, name=name)
        body = {"lat": lat, "long": long}
        await client.put(f"/v1/vendors/{ids[name]}/location", json=body, headers=alice)
    return ids


async def test_nearby_box(client, alice, placed, venta):
    query = {"swLat": 52.4, "swLong": 13.3, "neLat": 52.6, "neLong": 13.5}
    response = await client.get("/v1/vendors/nearby", params=query, headers=alice)

    assert response.status_code == 200
    vendors = response.json()["vendors"]
    assert {v["id"] for v in vendors} == {placed["mitte"], placed["east"]}
    assert all({"id", "location"} <= set(v) and "distance" not in v for v in vendors)
    assert venta.locations.calls[-1][1][1] == venta.settings.location.default_limit


async def test_nearby_circle_has_distances(client, alice, placed, venta):
    query = {"lat": 52.52, "long": 13.40, "radius": 5000, "limit": 7}
    response = await client.get("/v1/vendors/nearby", params=query, headers=alice)

    assert response.status_code == 200
    vendors = response.json()["vendors"]
    assert [v["id"] for v in vendors] == [placed["mitte"], placed["east"]]
    assert vendors[0]["distance"] == 0
    assert 1000 < vendors[1]["distance"] < 1200
    assert venta.locations.calls[-1] == ("near", (venta.locations.calls[-1][1][0], 5000, 7))


async def test_nearby_box_across_antimeridian_is_valid(client, alice):
    query = {"swLat": -10, "swLong": 170, "neLat": 10, "neLong": -170}
    response = await client.get("/v1/vendors/nearby", params=query, headers=alice)
    assert response.status_code == 200


async def test_nearby_is_not_taken_for_a_vendor_id(client, alice):
    response = await client.get("/v1/vendors/nearby?lat=0&long=0&radius=10", headers=alice)
    assert response.status_code == 200
    assert response.json() == {"vendors": []}


BOX = "swLat=1&swLong=1&neLat=2&neLong=2"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "query"),
        (f"{BOX}&lat=1&long=1&radius=5", "query"),
        (f"{BOX}&radius=5", "query"),
        ("swLat=1&swLong=1&neLat=2", "neLong"),
        ("lat=1&long=1", "radius"),
        ("long=1&radius=4", "lat"),
        ("swLat=91&swLong=1&neLat=2&neLong=2", "swLat"),
        ("swLat=1&swLong=-181&neLat=2&neLong=2", "swLong"),
        ("swLat=3&swLong=1&neLat=2&neLong=2", "swLat"),
        ("swLat=nan&swLong=1&neLat=2&neLong=2", "swLat"),
        ("lat=inf&long=1&radius=4", "lat"),
        ("lat=1&long=-Infinity&radius=4", "long"),
        ("lat=abc&long=1&radius=4", "lat"),
        ("lat=1&long=1&radius=0", "radius"),
        ("lat=1&long=1&radius=-5", "radius"),
        ("lat=1&long=1&radius=nan", "radius"),
        ("lat=1&long=1&radius=100001", "radius"),
        (f"{BOX}&limit=0", "limit"),
        (f"{BOX}&limit=1001", "limit"),
        (f"{BOX}&limit=2.5", "limit"),
    ],
)
async def test_nearby_rejects_bad_queries(client, alice, query, field):
    response = await client.get(f"/v1/vendors/nearby?{query}", headers=alice)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == field


async def test_nearby_requires_auth(client):
    response = await client.get("/v1/vendors/nearby?lat=1&long=1&radius=5")
    assert_error(response, 401, "UNAUTHENTICATED")


NOT_A_NUMBER = "Input should be a valid number, unable to parse string as a number"


async def test_nearby_reports_every_invalid_parameter_in_declaration_order(client, alice):
    """The parameters are validated together: each invalid one is reported, in the order
    they are declared (box, circle, limit), whatever their order in the query string."""
    query = "limit=0&neLat=200&swLong=x&swLat=abc"
    response = await client.get(f"/v1/vendors/nearby?{query}", headers=alice)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Validation failed for swLat"
    assert error["details"]["errors"] == [
        {"field": "swLat", "message": NOT_A_NUMBER},
        {"field": "swLong", "message": NOT_A_NUMBER},
        {"field": "neLat", "message": "Input should be less than or equal to 90"},
        {"field": "limit", "message": "Input should be greater than or equal to 1"},
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (f"{BOX}&limit=", "Input should be a valid integer, unable to parse string as an integer"),
        ("swLat=&swLong=1&neLat=2&neLong=2", NOT_A_NUMBER),
        ("lat=1&long=1&radius=1e9", "Input should be less than or equal to 100000"),
    ],
)
async def test_nearby_empty_and_out_of_range_values_are_invalid(client, alice, query, message):
    response = await client.get(f"/v1/vendors/nearby?{query}", headers=alice)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["message"] == message


async def test_nearby_takes_the_last_of_a_repeated_parameter_and_ignores_others(client, alice):
    fine = "swLat=3&swLat=1&swLong=1&neLat=2&neLong=2&limit=10&zoom=3"
    assert (await client.get(f"/v1/vendors/nearby?{fine}", headers=alice)).status_code == 200
    crossed = "swLat=1&swLat=3&swLong=1&neLat=2&neLong=2"
    response = await client.get(f"/v1/vendors/nearby?{crossed}", headers=alice)
    assert assert_error(response, 400, "VALIDATION_ERROR")["details"]["errors"] == [
        {"field": "swLat", "message": "must not exceed neLat"}
    ]


async def test_nearby_limit_bounds_the_answer(client, alice, placed):
    response = await client.get(
        "/v1/vendors/nearby?lat=52.52&long=13.405&radius=5000&limit=1", headers=alice
    )
    assert response.status_code == 200
    assert len(response.json()["vendors"]) == 1
