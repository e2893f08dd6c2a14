from __future__ import annotations

import asyncio
import json
import logging
import uuid

import httpx
import pytest

from tests.http.http_fakes import FakeVenta, assert_error, make_settings
from venta_core.observability.logging import configure_logging
from venta_core.transports.http import create_http_app


async def test_health(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready(client):
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "kv": "ok"}}


async def test_not_ready_when_a_component_fails(client, venta):
    venta.readiness_errors["database"] = "connection refused (postgres://app:s3cret@db:5432/v)"

    response = await client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["kv"] == "ok"
    assert body["checks"]["database"].startswith("connection refused")
    assert "s3cret" not in response.text
    assert (await client.get("/health")).status_code == 200


async def test_not_ready_when_the_probe_raises(client, venta, monkeypatch):
    async def broken() -> dict[str, str | None]:
        raise RuntimeError("probe failed")

    monkeypatch.setattr(venta, "readiness", broken)
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"readiness": "RuntimeError: probe failed"}


async def test_not_ready_when_the_probe_hangs(client, venta, monkeypatch):
    async def hangs() -> dict[str, str | None]:
        await asyncio.sleep(10)
        return {}

    monkeypatch.setattr(venta, "readiness", hangs)
    monkeypatch.setattr("venta_core.transports.http.routers.health.READINESS_TIMEOUT_SECONDS", 0.05)
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"readiness": "timed out after 0.05s"}


async def test_metrics(client, alice, create_vendor):
    vendor_id = await create_vendor(alice)
    await client.get(f"/v1/vendors/{vendor_id}", headers=alice)
    await client.get(f"/v1/vendors/{uuid.uuid4()}", headers=alice)
    for n in range(3):
        await client.get(f"/random/{n}")
    await client.patch("/v1/me", headers=alice)

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'venta_http_requests_total{method="GET",route="/v1/vendors/{vendor_id}",status="200"} 1.0'
        in text
    )
    assert 'route="/v1/vendors/{vendor_id}",status="404"} 1.0' in text
    assert 'venta_http_requests_total{method="GET",route="<unmatched>",status="404"} 3.0' in text
    assert 'venta_http_requests_total{method="PATCH",route="/v1/me",status="405"} 1.0' in text
    assert "venta_http_request_duration_seconds_bucket{" in text
    assert 'route="/v1/vendors",status="201"' in text
    assert "process_resident_memory_bytes" in text
    assert "python_info" in text
    assert vendor_id not in text


async def test_rate_limited_requests_are_labelled_by_route():
    venta = FakeVenta(make_settings(rate_limit={"per_ip": 1}))
    transport = httpx.ASGITransport(app=create_http_app(venta))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/v1/me")
        await client.get("/v1/me")
        text = (await client.get("/metrics")).text
    assert 'venta_http_requests_total{method="GET",route="/v1/me",status="429"} 1.0' in text


async def test_two_apps_in_one_process_keep_separate_metrics(settings):
    apps = [create_http_app(FakeVenta(settings)) for _ in range(2)]
    transports = [httpx.ASGITransport(app=app) for app in apps]
    async with (
        httpx.AsyncClient(transport=transports[0], base_url="http://a") as a,
        httpx.AsyncClient(transport=transports[1], base_url="http://b") as b,
    ):
        await a.get("/health")
        await a.get("/health")
        text = (await b.get("/metrics")).text
    assert 'route="/health",status="200"} 2.0' not in text


async def test_request_id_is_kept_when_sane(client):
    response = await client.get("/health", headers={"X-Request-ID": "req-42.a:b_c"})
    assert response.headers["x-request-id"] == "req-42.a:b_c"


@pytest.mark.parametrize("value", ["", "has space", "x" * 200, "<script>", "a\tb"])
async def test_request_id_is_replaced_when_not_sane(client, value):
    response = await client.get("/health", headers={"X-Request-ID": value})
    generated = response.headers["x-request-id"]
    assert generated != value
    assert uuid.UUID(generated)


async def test_request_id_is_generated_and_put_in_error_bodies(client):
    response = await client.get("/v1/me")
    error = assert_error(response, 401, "UNAUTHENTICATED")
    assert uuid.UUID(error["requestId"])
    other = await client.get("/v1/me")
    assert other.headers["x-request-id"] != response.headers["x-request-id"]


async def test_openapi(client):
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "venta"
    paths = schema["paths"]
    for path in ("/v1/me", "/v1/vendors", "/v1/vendors/{vendor_id}", "/v1/vendors/nearby",
                 "/v1/vendors/{vendor_id}/location", "/health", "/ready", "/metrics"):  # fmt: skip
        assert path in paths, path
    get_vendor = paths["/v1/vendors/{vendor_id}"]["get"]
    assert get_vendor["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/VendorOut"
    )
    for status in ("401", "404", "429"):
        ref = get_vendor["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorResponse")
    assert all("422" not in op["responses"] for item in paths.values() for op in item.values())
    assert paths["/vendor/{vendor_id}"]["get"]["tags"] == ["seed aliases"]
    assert paths["/vendor/{vendor_id}"]["get"]["deprecated"] is True
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_cors():
    venta = FakeVenta(make_settings(http={"cors_origins": ["https://app.example"]}))
    transport = httpx.ASGITransport(app=create_http_app(venta))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        preflight = await client.options(
            "/v1/me",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, x-request-id",
            },
        )
        simple = await client.get("/health", headers={"Origin": "https://app.example"})
        foreign = await client.get("/health", headers={"Origin": "https://evil.example"})

    assert preflight.status_code == 200
    assert "x-request-id" in preflight.headers["access-control-allow-headers"].lower()
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers


@pytest.fixture
def json_logs(capsys):
    """Venta's JSON handler on the root logger; yields a reader of the lines written."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    configure_logging(make_settings().log)

    def lines() -> list[dict[str, object]]:
        err = capsys.readouterr().err
        return [json.loads(line) for line in err.splitlines() if line]

    yield lines
    for handler in [h for h in root.handlers if h not in saved[1]]:
        root.removeHandler(handler)
    root.setLevel(saved[0])


async def test_access_log_line(client, alice, create_vendor, json_logs):
    vendor_id = await create_vendor(alice)
    json_logs()
    await client.get(f"/v1/vendors/{vendor_id}?token=abc", headers={**alice, "X-Request-ID": "r-1"})

    lines = [line for line in json_logs() if line["logger"] == "venta.http.access"]

    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "GET"
    assert line["route"] == "/v1/vendors/{vendor_id}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == "r-1"
    assert line["user_id"]
    assert alice["Authorization"].split()[1] not in json.dumps(line)
    assert "abc" not in json.dumps(line)
