"""Verified bearer tokens are remembered (``VerifiedTokens``): a token is verified once, yet an
expired one is refused even while remembered, only the very token verified is served from the
cache, and a deleted account is refused however recently its token was verified."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from tests.http.http_fakes import FakeVenta
from venta_core.app import Venta
from venta_core.domain import Identity
from venta_core.ports.identity import DevTokenProvider, VerifiedTokens
from venta_core.transports.http import create_http_app

Headers = dict[str, str]


class CountingProvider(DevTokenProvider):
    """The development provider, counting the tokens it is asked to verify."""

    calls = 0

    async def verify(self, token: str) -> Identity:
        self.calls += 1
        return await super().verify(token)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.fixture
def counting(venta: FakeVenta) -> CountingProvider:
    provider = CountingProvider(venta.settings.auth)
    venta.identity = provider
    return provider


async def test_a_token_is_verified_once(
    client: httpx.AsyncClient, counting: CountingProvider, token_for: Callable[..., str]
) -> None:
    headers = bearer(token_for("user_once"))
    for _ in range(3):
        assert (await client.get("/v1/me", headers=headers)).status_code == 200
    assert counting.calls == 1


async def test_another_token_of_the_same_subject_is_verified(
    client: httpx.AsyncClient, counting: CountingProvider, token_for: Callable[..., str]
) -> None:
    first, second = token_for("user_two", ttl_seconds=600), token_for("user_two", ttl_seconds=900)
    assert (await client.get("/v1/me", headers=bearer(first))).status_code == 200
    assert (await client.get("/v1/me", headers=bearer(second))).status_code == 200
    assert counting.calls == 2


async def test_an_expired_token_is_refused_even_when_remembered(
    client: httpx.AsyncClient, api: FastAPI, venta: FakeVenta, token_for: Callable[..., str]
) -> None:
    """The token expired beyond the leeway; the cache holds it as verified before it did."""
    token = token_for("user_expired", ttl_seconds=-120)
    claims = jwt.decode(token, options={"verify_signature": False})
    tokens: VerifiedTokens = api.state.verified_tokens
    tokens.put(token, Identity(subject="user_expired", provider="dev", claims=claims))
    assert len(tokens) == 1

    response = await client.get("/v1/me", headers=bearer(token))

    assert response.status_code == 401, response.text
    assert error_of(response)["details"] == {"reason": "expired"}
    assert len(tokens) == 0


async def test_a_token_is_forgotten_when_it_expires(
    client: httpx.AsyncClient,
    api: FastAPI,
    counting: CountingProvider,
    token_for: Callable[..., str],
) -> None:
    clock = Clock()
    api.state.verified_tokens = VerifiedTokens(clock=clock)
    headers = bearer(token_for("user_later", ttl_seconds=60))
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    clock.now += 59
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    assert counting.calls == 1
    clock.now += 1  # the token's exp: no longer served from the cache, verified again
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    assert counting.calls == 2


async def test_another_signature_is_not_served_from_the_cache(
    client: httpx.AsyncClient, venta: FakeVenta, token_for: Callable[..., str]
) -> None:
    token = token_for("user_forged")
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})

    # The same claims signed with another secret: another signature.
    forged = jwt.encode(claims, "not-the-secret-" * 4, algorithm="HS256")
    assert forged.rpartition(".")[0] == token.rpartition(".")[0]
    # The remembered signature under another payload (another subject).
    header, _, signature = token.split(".")
    other = DevTokenProvider(venta.settings.auth).issue("user_mallory").split(".")[1]
    spliced = f"{header}.{other}.{signature}"

    for refused in (forged, spliced):
        response = await client.get("/v1/me", headers=bearer(refused))
        assert response.status_code == 401, response.text
        assert error_of(response)["code"] == "UNAUTHENTICATED"


async def test_a_token_without_exp_is_not_remembered() -> None:
    tokens = VerifiedTokens()
    tokens.put("a.b.c", Identity(subject="s", provider="custom", claims={}))
    tokens.put("a.b.d", Identity(subject="s", provider="custom", claims={"exp": "soon"}))
    assert len(tokens) == 0


async def test_the_cache_is_bounded() -> None:
    tokens = VerifiedTokens(max_entries=2)
    exp = time.time() + 600
    for name in ("a", "b", "c"):
        tokens.put(f"h.p.{name}", Identity(subject=name, provider="dev", claims={"exp": exp}))
    assert len(tokens) == 2
    assert tokens.get("h.p.a") is None
    assert tokens.get("h.p.c") is not None


async def test_a_cache_of_size_zero_verifies_every_request(
    client: httpx.AsyncClient,
    api: FastAPI,
    counting: CountingProvider,
    token_for: Callable[..., str],
) -> None:
    api.state.verified_tokens = VerifiedTokens(max_entries=0)
    headers = bearer(token_for("user_uncached"))
    for _ in range(2):
        assert (await client.get("/v1/me", headers=headers)).status_code == 200
    assert counting.calls == 2


async def test_a_deleted_user_is_refused_though_the_token_is_remembered(app: Venta) -> None:
    """On the real services (SQLite, PostgreSQL): the token stays in the cache, the account is
    gone, every route answers 401."""
    api = create_http_app(app)
    token = DevTokenProvider(app.settings.auth).issue("user_deleted_cached")
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as http:
        me = await http.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert api.state.verified_tokens.get(token) is not None
        await app.users.delete_user(me.json()["id"])
        refused = [
            await http.get("/v1/me", headers=bearer(token)),
            await http.get("/v1/me/vendors", headers=bearer(token)),
            await http.post("/v1/vendors", json={"name": "Ghost"}, headers=bearer(token)),
        ]

    assert api.state.verified_tokens.get(token) is not None
    for response in refused:
        assert response.status_code == 401, response.text
        assert error_of(response)["message"] == "This account was deleted"
    assert await app.users.find_by_external_id("user_deleted_cached") is None
