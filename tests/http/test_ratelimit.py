from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.http.http_fakes import FakeVenta, assert_error, make_settings
from venta_core.transports.http import create_http_app
from venta_core.transports.http.ratelimit import client_ip


def _client(venta: FakeVenta, client_addr: tuple[str, int] = ("10.0.0.1", 5000)):
    transport = httpx.ASGITransport(app=create_http_app(venta), client=client_addr)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def _auth(venta: FakeVenta, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {venta.identity.issue(subject)}"}


def _rejections(metrics: str, limit: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "venta_rate_limit_rejections_total" and sample.labels == {
                "limit": limit
            }:
                return sample.value
    return 0.0


async def test_per_ip_limit():
    venta = FakeVenta(make_settings(rate_limit={"per_ip": 3, "window_seconds": 60}))
    async with _client(venta) as client:
        before = _rejections((await client.get("/metrics")).text, "http_ip")
        responses = [await client.get("/v1/nothing") for _ in range(4)]
        after = _rejections((await client.get("/metrics")).text, "http_ip")

    assert [r.status_code for r in responses] == [404, 404, 404, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    limited = responses[-1]
    error = assert_error(limited, 429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert error["details"] == {"retryAfter": int(limited.headers["retry-after"])}
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert 0 < int(limited.headers["x-ratelimit-reset"]) <= 60
    assert after == before + 1  # the rejection, on the gateway's /metrics


async def test_operational_routes_are_not_limited():
    venta = FakeVenta(make_settings(rate_limit={"per_ip": 1}))
    async with _client(venta) as client:
        await client.get("/v1/nothing")
        for path in ("/health", "/ready", "/metrics"):
            response = await client.get(path)
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers
        assert (await client.get("/v1/nothing")).status_code == 429


async def test_per_identity_limit():
    venta = FakeVenta(make_settings(rate_limit={"per_identity": 2, "per_ip": 100}))
    alice, bob = _auth(venta, "user_alice"), _auth(venta, "user_bob")
    async with _client(venta) as client:
        before = _rejections((await client.get("/metrics")).text, "http_identity")
        codes = [(await client.get("/v1/me", headers=alice)).status_code for _ in range(3)]
        other = await client.get("/v1/me", headers=bob)
        limited = await client.get("/v1/me", headers=alice)
        after = _rejections((await client.get("/metrics")).text, "http_identity")

    assert codes == [200, 200, 429]
    assert other.status_code == 200
    assert other.headers["x-ratelimit-limit"] == "2"  # the tighter of the two limits
    assert other.headers["x-ratelimit-remaining"] == "1"
    assert_error(limited, 429, "RATE_LIMITED")
    assert "retry-after" in limited.headers
    assert after == before + 2


async def test_forged_tokens_do_not_spend_an_identity_budget():
    venta = FakeVenta(make_settings(rate_limit={"per_identity": 1, "per_ip": 100}))
    async with _client(venta) as client:
        await client.get("/v1/me", headers={"Authorization": "Bearer forged"})
        ok = await client.get("/v1/me", headers=_auth(venta, "user_alice"))
    assert ok.status_code == 200


async def test_disabled():
    venta = FakeVenta(make_settings(rate_limit={"enabled": False, "per_ip": 1, "per_identity": 1}))
    headers = _auth(venta, "user_alice")
    async with _client(venta) as client:
        responses = [await client.get("/v1/me", headers=headers) for _ in range(3)]
    assert all(r.status_code == 200 for r in responses)
    assert all("x-ratelimit-limit" not in r.headers for r in responses)
    assert venta.kv.keys == []


async def test_kv_failure_fails_open_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="venta.http.ratelimit")
    venta = FakeVenta(make_settings(rate_limit={"per_ip": 1, "per_identity": 1}))
    venta.kv.fail = True
    headers = _auth(venta, "user_alice")
    async with _client(venta) as client:
        responses = [await client.get("/v1/me", headers=headers) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # throttled, not one per request
    assert "key-value store failed" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("trust", "forwarded", "expected"),
    [
        (False, "1.2.3.4", "10.0.0.1"),
        (True, "1.2.3.4", "1.2.3.4"),
        (True, "6.6.6.6, 1.2.3.4", "1.2.3.4"),
        (True, "not-an-ip", "10.0.0.1"),
        (True, "", "10.0.0.1"),
        (True, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip(trust, forwarded, expected):
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    scope = {"type": "http", "headers": headers, "client": ("10.0.0.1", 1234)}
    assert client_ip(scope, trust) == expected


async def test_forwarded_for_keys_the_limit_when_trusted():
    venta = FakeVenta(make_settings(http={"trust_forwarded_for": True}))
    async with _client(venta) as client:
        await client.get("/v1/nothing", headers={"X-Forwarded-For": "9.9.9.9, 8.8.8.8"})
    assert venta.kv.keys == ["ratelimit:http:ip:8.8.8.8"]
