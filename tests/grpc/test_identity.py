"""The signed identity token: what is accepted and what is refused."""

from __future__ import annotations

import base64
import json

import pytest

from venta_core.domain import Actor
from venta_core.errors import Unauthenticated
from venta_core.transports.grpc.metadata import IdentitySigner

SECRET = b"unit-test-secret-0123456789"
METHOD = "/venta.v1.VendorService/UpdateVendor"
ALICE = Actor(user_id="6f1c1f3e-8b52-4a53-9a57-0f6e0c7a0001", external_id="alice ✓")


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _reason(exc: pytest.ExceptionInfo[Unauthenticated]) -> str:
    assert exc.value.code == "UNAUTHENTICATED"
    return str(exc.value.details["reason"])


@pytest.mark.parametrize(
    "actor",
    [ALICE, Actor.for_system("relay"), Actor(user_id=None), Actor(user_id="u", system=True)],
)
def test_round_trip(actor: Actor) -> None:
    signer = IdentitySigner(SECRET)
    assert signer.verify(signer.sign(actor, "req-1", METHOD), "req-1", METHOD) == actor


def test_other_secret_is_refused() -> None:
    token = IdentitySigner(b"another-secret-0123456789").sign(ALICE, "r", METHOD)
    with pytest.raises(Unauthenticated) as exc:
        IdentitySigner(SECRET).verify(token, "r", METHOD)
    assert _reason(exc) == "bad signature"


def test_tampered_payload_is_refused() -> None:
    signer = IdentitySigner(SECRET)
    version, payload, mac = signer.sign(ALICE, "r", METHOD).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["uid"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated) as exc:
        signer.verify(f"{version}.{forged}.{mac}", "r", METHOD)
    assert _reason(exc) == "bad signature"


def test_expiry_and_lifetime() -> None:
    clock = Clock()
    signer = IdentitySigner(SECRET, ttl_seconds=30, skew_seconds=5, clock=clock)
    token = signer.sign(ALICE, "r", METHOD)
    clock.now += 34
    assert signer.verify(token, "r", METHOD) == ALICE  # within ttl + skew
    clock.now += 2
    with pytest.raises(Unauthenticated) as exc:
        signer.verify(token, "r", METHOD)
    assert _reason(exc) == "expired"
    minted_far_ahead = IdentitySigner(SECRET, ttl_seconds=3600, clock=Clock(clock.now))
    with pytest.raises(Unauthenticated) as exc:
        signer.verify(minted_far_ahead.sign(ALICE, "r", METHOD), "r", METHOD)
    assert _reason(exc) == "lifetime too long"


def test_token_is_bound_to_request_id_and_method() -> None:
    signer = IdentitySigner(SECRET)
    token = signer.sign(ALICE, "req-1", METHOD)
    for request_id, method in [("req-2", METHOD), ("req-1", "/venta.v1.VendorService/GetVendor")]:
        with pytest.raises(Unauthenticated) as exc:
            signer.verify(token, request_id, method)
        assert _reason(exc) == "minted for another call"


@pytest.mark.parametrize(
    "token",
    [None, "", "v1", "v2.a.b", "v1.a.b.c", "v1.ü.x", "v1.e30.ü", "v1." + "a" * 5000 + ".b", "x"],
)
def test_malformed_tokens_are_refused(token: str | None) -> None:
    with pytest.raises(Unauthenticated):
        IdentitySigner(SECRET).verify(token, "r", METHOD)


def test_validly_signed_but_malformed_claims_are_refused() -> None:
    signer = IdentitySigner(SECRET)
    payload = base64.urlsafe_b64encode(b'{"uid": 5}').rstrip(b"=").decode()
    token = f"v1.{payload}.{signer._mac(payload)}"
    with pytest.raises(Unauthenticated) as exc:
        signer.verify(token, "r", METHOD)
    assert _reason(exc) == "malformed"


def test_short_secrets_are_rejected() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        IdentitySigner(b"short")


def test_a_second_accepted_secret_verifies_but_never_signs() -> None:
    new = b"the-new-secret-0123456789"
    rotating = IdentitySigner(new, also_accepted=SECRET)
    old_token = IdentitySigner(SECRET).sign(ALICE, "r", METHOD)
    assert rotating.verify(old_token, "r", METHOD) == ALICE
    assert IdentitySigner(new).verify(rotating.sign(ALICE, "r", METHOD), "r", METHOD) == ALICE
    with pytest.raises(Unauthenticated) as exc:  # signed with the new secret, not the old one
        IdentitySigner(SECRET).verify(rotating.sign(ALICE, "r", METHOD), "r", METHOD)
    assert _reason(exc) == "bad signature"
    with pytest.raises(Unauthenticated) as exc:  # a third secret is still refused
        rotating.verify(
            IdentitySigner(b"a-third-secret-01234567").sign(ALICE, "r", METHOD), "r", METHOD
        )
    assert _reason(exc) == "bad signature"
    with pytest.raises(ValueError):
        IdentitySigner(new, also_accepted=b"short")
