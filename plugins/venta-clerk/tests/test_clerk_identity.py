"""Clerk session tokens against a local JWKS endpoint: what is accepted, what is refused (and
with which code), key rotation and the JWKS fetch rate limit."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from venta_core.errors import ServiceUnavailable, Unauthenticated
from venta_core.observability.metrics import new_registry

from clerk_stubs import ISSUER, JwksServer, SigningKey, make_clerk_settings
from venta_clerk import ClerkIdentityProvider, JwksCache


def provider(jwks: JwksServer, **overrides: object) -> ClerkIdentityProvider:
    return ClerkIdentityProvider(make_clerk_settings(jwks, **overrides))


async def refused(p: ClerkIdentityProvider, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        await p.verify(token)
    return str(info.value.details.get("reason"))


async def test_a_valid_session_token_gives_the_clerk_user(jwks: JwksServer, key: SigningKey):
    identity = await provider(jwks).verify(key.token(sub="user_abc"))

    assert identity.subject == "user_abc"
    assert identity.provider == "clerk"
    assert identity.claims["sid"].startswith("sess_")


async def test_the_gateway_authenticates_with_clerk_tokens(app_client, key: SigningKey):
    app, client = app_client
    token = key.token(sub="user_gateway")

    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    forged = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}x"})

    assert me.status_code == 200, me.text
    assert me.json()["externalId"] == "user_gateway"
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "UNAUTHENTICATED"
    assert await app.users.find_by_external_id("user_gateway") is not None


async def test_expired_tokens_are_refused_beyond_the_leeway(jwks: JwksServer, key: SigningKey):
    now = int(time.time())
    p = provider(jwks, leeway=5)

    assert await refused(p, key.token(exp=now - 30, iat=now - 90)) == "expired"
    assert (await p.verify(key.token(exp=now - 2, iat=now - 60))).subject


async def test_tokens_not_yet_valid_are_refused(jwks: JwksServer, key: SigningKey):
    now = int(time.time())

    assert await refused(provider(jwks), key.token(nbf=now + 120)) == "ImmatureSignatureError"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.clerk.accounts.dev"}, "InvalidIssuerError"),
        ({"iss": None}, "MissingRequiredClaimError"),
        ({"exp": None}, "MissingRequiredClaimError"),
        ({"sub": None}, "MissingRequiredClaimError"),
        ({"sub": ""}, "bad subject"),
    ],
)
async def test_issuer_and_required_claims(jwks, key, claims, reason):
    assert await refused(provider(jwks), key.token(**claims)) == reason


async def test_audience_is_checked_when_configured(jwks: JwksServer, key: SigningKey):
    p = provider(jwks, audience="venta-api,other-api")

    assert (await p.verify(key.token(aud="venta-api"))).subject
    assert await refused(p, key.token(aud="someone-else")) == "InvalidAudienceError"
    assert await refused(p, key.token()) == "MissingRequiredClaimError"


async def test_authorized_parties(jwks: JwksServer, key: SigningKey):
    p = provider(jwks, authorized_parties="https://app.venta.test,https://admin.venta.test")
    strict = provider(
        jwks, authorized_parties="https://app.venta.test", require_authorized_party=True
    )

    assert (await p.verify(key.token(azp="https://admin.venta.test"))).subject
    assert await refused(p, key.token(azp="https://evil.example")) == "authorized party not allowed"
    assert (await p.verify(key.token(azp=None))).subject  # native apps send no azp
    assert await refused(strict, key.token(azp=None)) == "no authorized party"


async def test_forged_signatures_and_other_algorithms_are_refused(jwks, key, signing_keys):
    p = provider(jwks)
    impostor = SigningKey(key.kid, signing_keys[1].private)  # right kid, wrong private key
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": "user_x", "iss": ISSUER, "exp": int(time.time()) + 60, "iat": int(time.time())}
    hs256 = jwt.encode(
        claims, public_pem.decode()[:64], algorithm="HS256", headers={"kid": key.kid}
    )
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": key.kid})

    assert await refused(p, impostor.token()) == "InvalidSignatureError"
    assert await refused(p, hs256) == "algorithm not allowed"
    assert await refused(p, unsigned) == "algorithm not allowed"
    assert await refused(p, "not-a-jwt") == "malformed"
    assert await refused(p, key.token(headers={"kid": ""})) == "no key id"


async def test_rotated_keys_are_fetched_once(jwks: JwksServer, signing_keys):
    old, new = signing_keys[0], signing_keys[1]
    p = provider(jwks, jwks_refresh_min_seconds=0)
    await p.verify(old.token())
    assert jwks.requests == 1

    jwks.keys = [new, old]  # Clerk publishes the new key next to the old one
    assert (await p.verify(new.token())).subject
    assert (await p.verify(old.token())).subject
    assert (await p.verify(new.token())).subject

    assert jwks.requests == 2


async def test_unknown_kids_cannot_flood_the_jwks_endpoint(jwks: JwksServer, key: SigningKey):
    now = [1000.0]
    cache = JwksCache(jwks.url, ttl=3600, min_refresh=60, clock=lambda: now[0])
    p = ClerkIdentityProvider(make_clerk_settings(jwks), jwks=cache)
    await p.verify(key.token())

    def stranger() -> str:
        return SigningKey(f"kid_{uuid.uuid4().hex}", key.private).token()

    assert await refused(p, stranger()) == "unknown signing key"
    assert jwks.requests == 1  # the keys were fetched less than a minute ago
    now[0] += 61
    for _ in range(20):
        assert await refused(p, stranger()) == "unknown signing key"

    assert jwks.requests == 2  # one refetch for all twenty


async def test_keys_expire_and_stale_keys_survive_an_outage(jwks: JwksServer, key: SigningKey):
    now = [1000.0]
    cache = JwksCache(jwks.url, ttl=60, min_refresh=10, clock=lambda: now[0])
    p = ClerkIdentityProvider(make_clerk_settings(jwks), jwks=cache)
    await p.verify(key.token())

    now[0] += 61
    await p.verify(key.token())
    assert jwks.requests == 2  # ttl passed: refetched

    jwks.fail = True
    now[0] += 61
    assert (await p.verify(key.token())).subject  # refetch failed; cached keys still used
    assert jwks.requests == 3
    await p.verify(key.token())
    assert jwks.requests == 3  # failed refetches are retried at most every min_refresh


async def test_no_keys_at_all_is_service_unavailable(jwks: JwksServer, key: SigningKey):
    jwks.fail = True

    with pytest.raises(ServiceUnavailable):
        await provider(jwks).verify(key.token())


async def test_an_unreachable_jwks_is_503_at_the_gateway(make_app, jwks, key):
    jwks.fail = True
    async with make_app(make_clerk_settings(jwks)) as (_, client):
        response = await client.get("/v1/me", headers={"Authorization": f"Bearer {key.token()}"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def _fetches(outcome: str) -> float:
    labels = {"provider": "clerk", "outcome": outcome}
    return new_registry().get_sample_value("venta_jwks_fetches_total", labels) or 0.0


async def test_jwks_fetches_are_counted_by_outcome(jwks: JwksServer, key: SigningKey):
    before = {outcome: _fetches(outcome) for outcome in ("ok", "error", "invalid")}
    now = [1000.0]
    cache = JwksCache(jwks.url, ttl=60, min_refresh=10, clock=lambda: now[0])
    p = ClerkIdentityProvider(make_clerk_settings(jwks), jwks=cache)
    await p.verify(key.token())  # ok
    jwks.fail = True
    now[0] += 61
    await p.verify(key.token())  # error (500); the cached keys still verify
    jwks.fail, saved, jwks.keys = False, jwks.keys, []
    now[0] += 61
    await p.verify(key.token())  # invalid: a key set without keys
    jwks.keys = saved

    after = {outcome: _fetches(outcome) - before[outcome] for outcome in before}
    assert after == {"ok": 1, "error": 1, "invalid": 1}
    assert jwks.requests == 3


async def test_the_gateway_exposes_the_jwks_fetch_failures(make_app, jwks, key):
    jwks.fail = True
    async with make_app(make_clerk_settings(jwks)) as (_, client):
        before = _fetches("error")
        await client.get("/v1/me", headers={"Authorization": f"Bearer {key.token()}"})
        metrics = (await client.get("/metrics")).text

    assert _fetches("error") == before + 1
    assert 'venta_jwks_fetches_total{outcome="error",provider="clerk"}' in metrics
