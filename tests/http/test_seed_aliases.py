"""The seed system's paths answer the seed's exact envelopes."""

from __future__ import annotations

import uuid

from tests.http.http_fakes import assert_error


async def test_create_and_list(client, alice, bob):
    created = await client.post(
        "/vendor", json={"name": "Seed Tacos", "imageUrl": "https://x.io/i.png"}, headers=alice
    )
    await client.post("/vendor", json={"name": "Bob's"}, headers=bob)

    assert created.status_code == 201
    vendor_id = created.json()["id"]
    assert created.json() == {"id": vendor_id}
    listed = await client.get("/user/vendors", headers=alice)
    assert listed.status_code == 200
    assert listed.json() == {"vendors": [{"id": vendor_id, "name": "Seed Tacos"}]}


async def test_list_is_wrapped_even_when_empty(client, alice):
    assert (await client.get("/user/vendors", headers=alice)).json() == {"vendors": []}


async def test_get_wraps_the_vendor(client, alice, create_vendor):
    vendor_id = await create_vendor(alice, name="Wrapped")
    canonical = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()

    response = await client.get(f"/vendor/{vendor_id}", headers=alice)

    assert response.status_code == 200
    assert response.json() == {"vendor": canonical}


async def test_update_answers_the_seed_message(client, alice, create_vendor):
    vendor_id = await create_vendor(alice, description="keep me")

    response = await client.put(f"/vendor/{vendor_id}", json={"name": "Renamed"}, headers=alice)

    assert response.status_code == 200
    assert response.json() == {"message": "Vendor updated successfully", "success": True}
    vendor = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()
    assert vendor["name"] == "Renamed"
    assert vendor["description"] == "keep me"


async def test_aliases_share_errors_and_rules(client, alice, bob, create_vendor):
    vendor_id = await create_vendor(alice)
    before = (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json()

    forbidden = await client.put(f"/vendor/{vendor_id}", json={"name": "Bob"}, headers=bob)
    missing = await client.get(f"/vendor/{uuid.uuid4()}", headers=alice)
    malformed = await client.get("/vendor/17", headers=alice)
    invalid = await client.post("/vendor", json={"description": "no name"}, headers=alice)

    assert_error(forbidden, 403, "FORBIDDEN")
    assert_error(missing, 404, "VENDOR_NOT_FOUND")
    assert_error(malformed, 404, "VENDOR_NOT_FOUND")
    assert_error(invalid, 400, "VALIDATION_ERROR")
    assert (await client.get(f"/v1/vendors/{vendor_id}", headers=alice)).json() == before
