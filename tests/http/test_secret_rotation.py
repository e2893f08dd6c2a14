"""Rotating ``auth.dev_secret`` without downtime: while ``dev_secret_previous`` holds the old
secret, tokens signed with either are accepted and new tokens are signed with the new one."""

from __future__ import annotations

import httpx
import jwt
import pytest
from pydantic import SecretStr

from tests.http.http_fakes import FakeVenta, assert_error, make_settings
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import DEV_SECRET_PLACEHOLDER, AuthSettings, Settings
from venta_core.transports.http import create_http_app

OLD = "old-development-secret-0123456789"
NEW = "new-development-secret-9876543210"


def _auth(secret: str, previous: str | None = None) -> AuthSettings:
    return AuthSettings(
        dev_secret=SecretStr(secret),
        dev_secret_previous=None if previous is None else SecretStr(previous),
    )


async def _me(auth: AuthSettings, token: str) -> httpx.Response:
    venta = FakeVenta(make_settings(auth=auth))
    transport = httpx.ASGITransport(app=create_http_app(venta), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://venta.test") as client:
        return await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


async def test_a_token_of_the_previous_secret_is_accepted_during_a_rotation_only() -> None:
    old_token = DevTokenProvider(_auth(OLD)).issue("user_alice")
    assert (await _me(_auth(OLD), old_token)).status_code == 200  # before
    assert (await _me(_auth(NEW, previous=OLD), old_token)).status_code == 200  # during
    response = await _me(_auth(NEW), old_token)  # after: the previous secret is unset
    assert_error(response, 401, "UNAUTHENTICATED")


async def test_new_tokens_are_signed_with_the_current_secret() -> None:
    token = DevTokenProvider(_auth(NEW, previous=OLD)).issue("user_alice")
    assert jwt.decode(token, NEW, algorithms=["HS256"], audience="venta")["sub"] == "user_alice"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, OLD, algorithms=["HS256"], audience="venta")
    # Replicas not restarted yet (old secret only) refuse it; ones restarted accept it.
    assert_error(await _me(_auth(OLD), token), 401, "UNAUTHENTICATED")
    assert (await _me(_auth(NEW, previous=OLD), token)).status_code == 200


async def test_the_previous_secret_does_not_relax_the_other_checks() -> None:
    during = _auth(NEW, previous=OLD)
    expired = DevTokenProvider(_auth(OLD)).issue("user_alice", ttl_seconds=-3600)
    assert_error(await _me(during, expired), 401, "UNAUTHENTICATED")
    forged = DevTokenProvider(_auth("a-third-secret-nobody-holds-0123")).issue("user_alice")
    response = await _me(during, forged)
    assert (
        assert_error(response, 401, "UNAUTHENTICATED")["details"]["reason"]
        == "InvalidSignatureError"
    )


def test_the_placeholder_is_refused_as_previous_secret_in_production() -> None:
    with pytest.raises(ValueError, match="dev_secret_previous"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            env="production",
            auth=AuthSettings(
                dev_secret=SecretStr(NEW), dev_secret_previous=SecretStr(DEV_SECRET_PLACEHOLDER)
            ),
            grpc={"identity_secret": "production-grpc-secret-0123456789"},
        )
