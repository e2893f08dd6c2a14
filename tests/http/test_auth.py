from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.http.http_fakes import FakeVenta, assert_error, make_settings
from venta_core.domain import User
from venta_core.transports.http import create_http_app
from venta_core.transports.http.auth import IdentityCache


def signed_token(venta: FakeVenta, secret: str | None = None, **overrides: object) -> str:
    auth = venta.settings.auth
    now = int(time.time())
    claims = {"sub": "user_alice", "iss": auth.dev_issuer, "aud": auth.dev_audience,
              "iat": now, "exp": now + 600, **overrides}  # fmt: skip
    key = secret if secret is not None else auth.dev_secret.get_secret_value()
    return jwt.encode(claims, key, algorithm="HS256")


async def test_missing_token(client):
    response = await client.get("/v1/me")
    error = assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in error["message"]


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer ", "bearer", "abc.def.ghi"],
)
async def test_wrong_scheme_or_empty_token(client, authorization):
    response = await client.get("/v1/me", headers={"Authorization": authorization})
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_scheme_is_case_insensitive(client, token_for):
    for scheme in ("bearer", "BEARER", "Bearer"):
        headers = {"Authorization": f"{scheme} {token_for('user_alice')}"}
        assert (await client.get("/v1/me", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "kind", ["forged", "expired", "garbage", "other-audience", "no-subject", "alg-none"]
)
async def test_invalid_tokens(client, venta, token_for, kind):
    tokens = {
        "forged": lambda: signed_token(venta, secret="x" * 32 + "not-the-secret"),
        "expired": lambda: token_for("user_alice", ttl_seconds=-3600),
        "garbage": lambda: "not.a.jwt",
        "other-audience": lambda: signed_token(venta, aud="someone-else"),
        "no-subject": lambda: signed_token(venta, sub=""),
        "alg-none": lambda: jwt.encode({"sub": "user_alice"}, None, algorithm="none"),
    }
    headers = {"Authorization": f"Bearer {tokens[kind]()}"}
    response = await client.get("/v1/me", headers=headers)
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert venta.users.rows == {}


async def test_every_api_route_needs_a_token(client):
    vid = "6f1c1a54-6c9c-4d3c-9a43-6c2b9c5b0c11"
    routes = [
        ("GET", "/v1/me"), ("GET", "/v1/me/vendors"), ("POST", "/v1/vendors"),
        ("GET", f"/v1/vendors/{vid}"), ("PUT", f"/v1/vendors/{vid}"),
        ("DELETE", f"/v1/vendors/{vid}"), ("PUT", f"/v1/vendors/{vid}/location"),
        ("GET", f"/v1/vendors/{vid}/location"), ("GET", "/v1/vendors/nearby"),
        ("GET", "/user/vendors"), ("POST", "/vendor"), ("GET", f"/vendor/{vid}"),
        ("PUT", f"/vendor/{vid}"),
    ]  # fmt: skip
    for method, path in routes:
        response = await client.request(method, path, json={"name": "x"})
        assert_error(response, 401, "UNAUTHENTICATED")


async def test_auth_comes_before_id_validation(client):
    assert_error(await client.get("/v1/vendors/not-a-uuid"), 401, "UNAUTHENTICATED")


async def test_identity_is_cached_per_subject(client, alice, bob, venta):
    for _ in range(3):
        await client.get("/v1/me", headers=alice)
    await client.get("/v1/me", headers=bob)
    assert venta.users.ensure_calls == 2


async def test_identity_cache_can_be_disabled():
    venta = FakeVenta(make_settings(auth={"identity_cache_seconds": 0}))
    transport = httpx.ASGITransport(app=create_http_app(venta))
    headers = {"Authorization": f"Bearer {venta.identity.issue('user_alice')}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(3):
            assert (await client.get("/v1/me/vendors", headers=headers)).status_code == 200
    assert venta.users.ensure_calls == 3


def _user(n: int) -> User:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return User(id=f"u{n}", external_id=f"s{n}", created_at=now, updated_at=now)


def test_identity_cache_expires_and_is_bounded(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("venta_core.transports.http.auth.time.monotonic", lambda: clock[0])
    cache = IdentityCache(ttl_seconds=30, max_entries=2)
    cache.put("a", _user(1))
    cache.put("b", _user(2))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", _user(3))
    assert cache.get("b") is None and len(cache) == 2
    clock[0] += 31
    assert cache.get("a") is None and cache.get("c") is None


def test_identity_cache_discard():
    cache = IdentityCache(ttl_seconds=30)
    cache.put("a", _user(1))
    cache.discard("a")
    cache.discard("never-seen")
    assert cache.get("a") is None


def test_identity_cache_does_not_take_back_a_deleted_user():
    """A lookup that started before the deletion arrived cannot put the user back."""
    cache = IdentityCache(ttl_seconds=30, max_entries=2)
    stale = _user(1)
    cache.put("a", stale)
    cache.discard("a", stale.id)
    cache.put("a", stale)  # the late lookup finishes
    assert cache.get("a") is None and cache.is_deleted(stale.id)
    cache.put("b", _user(2))
    assert cache.get("b") is not None and not cache.is_deleted(_user(2).id)
    for n in (3, 4):  # the newest max_entries deleted ids are remembered
        cache.discard(f"x{n}", _user(n).id)
    assert not cache.is_deleted(stale.id) and cache.is_deleted(_user(4).id)


def test_identity_cache_zero_ttl_keeps_nothing():
    cache = IdentityCache(ttl_seconds=0)
    cache.put("a", _user(1))
    assert cache.get("a") is None
