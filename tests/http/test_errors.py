from __future__ import annotations

import logging

import httpx
import pytest

from tests.http.http_fakes import (
    FakeVenta,
    NoRoutersPlugin,
    ProbePlugin,
    assert_error,
    make_settings,
)
from venta_core.transports.http import create_http_app


@pytest.fixture
def venta(settings):
    return FakeVenta(settings, plugins=[ProbePlugin(), NoRoutersPlugin()])


async def test_unknown_route(client):
    error = assert_error(await client.get("/v2/nothing"), 404, "NOT_FOUND")
    assert error["details"] == {}


async def test_trailing_slash_is_not_redirected(client, alice):
    assert_error(await client.get("/v1/me/", headers=alice), 404, "NOT_FOUND")


async def test_method_not_allowed(client, alice):
    response = await client.patch("/v1/me", headers=alice)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, HEAD, DELETE"


async def test_oversize_body_by_content_length(client, alice, settings):
    body = b'{"name": "' + b"x" * settings.http.max_body_bytes + b'"}'
    headers = {**alice, "Content-Type": "application/json"}
    response = await client.post("/v1/vendors", content=body, headers=headers)
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"maxBytes": settings.http.max_body_bytes}


async def test_oversize_streamed_body(client, alice, settings, venta):
    chunk = b"x" * 4096
    count = settings.http.max_body_bytes // len(chunk) + 2

    async def stream():
        yield b'{"name": "'
        for _ in range(count):
            yield chunk
        yield b'"}'

    headers = {**alice, "Content-Type": "application/json"}
    response = await client.post("/v1/vendors", content=stream(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert venta.vendors.rows == {}


async def test_body_at_the_limit_is_accepted():
    venta = FakeVenta(make_settings(http={"max_body_bytes": 2048}))
    token = venta.identity.issue("user_alice")
    body = b'{"name": "ok", "description": "' + b"d" * 1900 + b'"}'
    transport = httpx.ASGITransport(app=create_http_app(venta))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/v1/vendors", content=body, headers=headers)).status_code == 201
        big = body.replace(b"d" * 1900, b"d" * 2100)
        too_big = await client.post("/v1/vendors", content=big, headers=headers)
        assert_error(too_big, 413, "PAYLOAD_TOO_LARGE")


async def test_unexpected_exception_is_a_generic_500(client, caplog):
    caplog.set_level(logging.ERROR, logger="venta.http")
    response = await client.get("/probe/boom", headers={"X-Request-ID": "trace-me-1"})

    error = assert_error(response, 500, "INTERNAL")
    assert error["message"] == "Internal server error"
    assert error["details"] == {}
    assert error["requestId"] == "trace-me-1"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].request_id == "trace-me-1"
    assert isinstance(logged[0].exc_info[1], RuntimeError)


async def test_internal_venta_error_hides_its_message(client):
    response = await client.get("/probe/internal")
    error = assert_error(response, 500, "INTERNAL")
    assert "hunter2" not in response.text
    assert error["message"] == "Internal server error"


async def test_service_unavailable(client):
    error = assert_error(await client.get("/probe/unavailable"), 503, "SERVICE_UNAVAILABLE")
    assert error["message"] == "Search is down"


async def test_foreign_http_exception_keeps_its_status(client):
    error = assert_error(await client.get("/probe/teapot"), 418, "HTTP_418")
    assert error["message"] == "I am a teapot"


async def test_plugin_router_sees_the_request_context(client, alice):
    response = await client.get("/probe/context", headers={**alice, "X-Request-ID": "abc-123"})
    me = (await client.get("/v1/me", headers=alice)).json()
    assert response.json() == {"requestId": "abc-123", "identity": "user_alice", "userId": me["id"]}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"name": ' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
        (b'{"name": "Taco \xff"}', "not valid UTF-8"),
    ],
)
async def test_json_the_parser_cannot_decode_is_a_malformed_body(client, alice, raw, reason):
    headers = {**alice, "Content-Type": "application/json"}
    response = await client.post("/v1/vendors", content=raw, headers=headers)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Malformed JSON body"
    assert error["details"] == {
        "errors": [{"field": "body", "message": f"Malformed JSON: {reason}"}]
    }
