from __future__ import annotations

import re
import uuid

import pytest

from tests.http.http_fakes import assert_error

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
VENDOR_FIELDS = {
    "id", "ownerId", "name", "description", "phone", "email", "website", "open",
    "primaryImage", "lat", "long", "createdAt", "updatedAt",
}  # fmt: skip


async def test_create_then_get(client, alice, create_vendor):
    response = await client.post(
        "/v1/vendors",
        json={"name": "Taco Truck", "email": "t@example.com", "imageUrl": "https://x.io/a.png"},
        headers=alice,
    )
    assert response.status_code == 201
    vendor_id = response.json()["id"]
    assert response.json() == {"id": vendor_id}
    assert response.headers["location"] == f"/v1/vendors/{vendor_id}"

    got = await client.get(f"/v1/vendors/{vendor_id}", headers=alice)
    assert got.status_code == 200
    vendor = got.json()
    assert set(vendor) == VENDOR_FIELDS
    assert vendor["name"] == "Taco Truck"
    assert vendor["primaryImage"] == "https://x.io/a.png"
    assert vendor["open"] is False
    assert RFC3339_UTC.match(vendor["createdAt"]) and RFC3339_UTC.match(vendor["updatedAt"])
    me = (await client.get("/v1/me", headers=alice)).json()
    assert vendor["ownerId"] == me["id"]


async def test_any_authenticated_user_may_read_a_vendor(client, alice, bob, create_vendor):
    vendor_id = await create_vendor(alice)
    assert (await client.get(f"/v1/vendors/{vendor_id}", headers=bob)).status_code == 200


async def test_uppercase_uuid_is_the_same_vendor(client, alice, create_vendor):
    vendor_id = await create_vendor(alice)
    response = await client.get(f"/v1/vendors/{vendor_id.upper()}", headers=alice)
    assert response.status_code == 200
    assert response.json()["id"] == vendor_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": 123}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "email": "not-an-email"}, "email"),
        ({"name": "ok", "website": "ftp//nope"}, "website"),
        ({"name": "ok", "open": "maybe"}, "open"),
        ({"name": "ok", "unknown": 1}, "unknown"),
        (["name"], "body"),
    ],
)
async def test_create_rejects_bad_bodies(client, alice, body, field):
    response = await client.post("/v1/vendors", json=body, headers=alice)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in [e["field"] for e in error["details"]["errors"]]
    assert all(set(e) == {"field", "message"} for e in error["details"]["errors"])


async def test_create_rejects_malformed_json(client, alice):
    headers = {**alice, "Content-Type": "application/json"}
    response = await client.post("/v1/vendors", content=b'{"name": "x",', headers=headers)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Malformed JSON body"
    assert error["details"]["errors"][0]["field"] == "body"


async def test_create_without_body(client, alice):
    response = await client.post("/v1/vendors", headers=alice)
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("vendor_id", [str(uuid.uuid4()), "not-a-uuid", "123", "nearby-ish"])
async def test_unknown_or_malformed_id_is_vendor_not_found(client, alice, vendor_id):
    for method in ("GET", "PUT", "DELETE"):
        body = {"name": "x"} if method == "PUT" else None
        response = await client.request(
            method, f"/v1/vendors/{vendor_id}", json=body, headers=alice
        )
        error = assert_error(response, 404, "VENDOR_NOT_FOUND")
        assert error["details"] == {"vendorId": vendor_id}


async def test_partial_update_changes_only_sent_fields(client, alice, create_vendor):
    vendor_id = await create_vendor(alice, description="Best tacos", phone="+1 555 0100")
    before = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()

    response = await client.put(
        f"/v1/vendors/{vendor_id}", json={"open": True, "phone": None}, headers=alice
    )

    assert response.status_code == 200
    after = response.json()
    assert after["open"] is True
    assert after["phone"] is None
    assert after["description"] == "Best tacos"
    assert after["name"] == before["name"]
    assert after["createdAt"] == before["createdAt"]
    assert (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json() == after


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": None}, "name"), ({"open": None}, "open"), ({"email": 5}, "email")],
)
async def test_update_rejects_bad_bodies(client, alice, create_vendor, body, field):
    vendor_id = await create_vendor(alice)
    response = await client.put(f"/v1/vendors/{vendor_id}", json=body, headers=alice)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert any(field in e["field"] or field in e["message"] for e in error["details"]["errors"])


async def test_someone_elses_vendor_is_forbidden_and_unchanged(client, alice, bob, create_vendor):
    vendor_id = await create_vendor(alice)
    before = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()

    put = await client.put(f"/v1/vendors/{vendor_id}", json={"name": "Mine"}, headers=bob)
    delete = await client.delete(f"/v1/vendors/{vendor_id}", headers=bob)

    assert_error(put, 403, "FORBIDDEN")
    assert_error(delete, 403, "FORBIDDEN")
    assert (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json() == before


async def test_delete(client, alice, create_vendor):
    vendor_id = await create_vendor(alice)
    await client.put(f"/v1/vendors/{vendor_id}/location", json={"lat": 1, "long": 2}, headers=alice)

    response = await client.delete(f"/v1/vendors/{vendor_id}", headers=alice)

    assert response.status_code == 204
    assert response.content == b""
    assert_error(
        await client.get(f"/v1/vendors/{vendor_id}", headers=alice), 404, "VENDOR_NOT_FOUND"
    )
    location = await client.get(f"/v1/vendors/{vendor_id}/location", headers=alice)
    assert_error(location, 404, "LOCATION_NOT_FOUND")


async def test_me_and_my_vendors(client, alice, bob, create_vendor):
    mine = await create_vendor(alice, name="Alice Tacos")
    await create_vendor(bob, name="Bob Burgers")

    me = await client.get("/v1/me", headers=alice)
    vendors = await client.get("/v1/me/vendors", headers=alice)

    assert me.status_code == 200
    body = me.json()
    assert set(body) == {"id", "externalId", "subscription", "location"}
    assert body["externalId"] == "user_alice"
    assert body["subscription"] == {"status": "inactive", "productId": None, "expiresAt": None}
    assert body["location"] is None
    assert vendors.json() == [{"id": mine, "name": "Alice Tacos"}]


async def test_me_shows_current_subscription_despite_identity_cache(client, alice, venta):
    from datetime import UTC, datetime

    from venta_core.domain import SubscriptionStatus, SubscriptionUpdate

    user_id = (await client.get("/v1/me", headers=alice)).json()["id"]
    update = SubscriptionUpdate(
        status=SubscriptionStatus.ACTIVE,
        provider="revenuecat",
        product_id="pro",
        expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    await venta.users.set_subscription(user_id, update)

    body = (await client.get("/v1/me", headers=alice)).json()

    assert body["subscription"] == {
        "status": "active",
        "productId": "pro",
        "expiresAt": "2030-01-02T03:04:05.000Z",
    }
