"""HEAD wherever GET works, 405 with every allowed method, /docs and /redoc without a CDN."""

from __future__ import annotations

import re

import pytest

from tests.http.http_fakes import assert_error


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/docs", "/redoc", "/v1/me"])
async def test_head_answers_like_get_without_a_body(client, alice, path):
    got = await client.get(path, headers=alice)
    head = await client.head(path, headers=alice)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length"):
        assert head.headers[name] == got.headers[name]
    assert head.headers["x-request-id"]


async def test_head_of_a_vendor_and_its_errors(client, alice, create_vendor):
    vendor_id = await create_vendor(alice)
    got = await client.get(f"/v1/vendors/{vendor_id}", headers=alice)
    head = await client.head(f"/v1/vendors/{vendor_id}", headers=alice)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == got.headers["content-length"]
    missing = await client.head("/v1/vendors/3f0c2d1e-8a8b-4f57-9d0e-6d1f1b7a2c44", headers=alice)
    assert (missing.status_code, missing.content) == (404, b"")
    assert (await client.head("/v1/me")).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/v1/vendors/3f0c2d1e-8a8b-4f57-9d0e-6d1f1b7a2c44", "GET, HEAD, PUT, DELETE"),
        ("POST", "/v1/vendors/3f0c2d1e-8a8b-4f57-9d0e-6d1f1b7a2c44/location", "GET, HEAD, PUT"),
        ("DELETE", "/vendor/3f0c2d1e-8a8b-4f57-9d0e-6d1f1b7a2c44", "GET, HEAD, PUT"),
        ("GET", "/v1/vendors", "POST"),
        ("PUT", "/health", "GET, HEAD"),
        # The query routes beside /v1/vendors/{vendor_id} are not vendor ids.
        ("PUT", "/v1/vendors/nearby", "GET, HEAD"),
        ("DELETE", "/v1/vendors/clusters", "GET, HEAD"),
    ],
)
async def test_405_lists_every_method_of_the_path(client, alice, method, path, allow):
    response = await client.request(method, path, headers=alice)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allow


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("/docs", {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"}),
        ("/redoc", {"/docs/assets/redoc.standalone.js"}),
    ],
)
async def test_docs_pages_load_only_local_assets(client, page, expected):
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert "url: '/openapi.json'" in html or 'spec-url="/openapi.json"' in html
    urls = set(_asset_urls(html))
    assert expected <= urls
    assert all(url.startswith("/docs/assets/") for url in urls), urls
    assert "http://" not in html and "https://" not in html
    assert '"validatorUrl": null' in html or page == "/redoc"


@pytest.mark.parametrize(
    ("name", "content_type", "starts"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8", b""),
        ("swagger-ui.css", "text/css; charset=utf-8", b""),
        ("redoc.standalone.js", "text/javascript; charset=utf-8", b""),
        ("favicon.png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ],
)
async def test_docs_assets_are_served(client, name, content_type, starts):
    response = await client.get(f"/docs/assets/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert len(response.content) > 1000 and response.content.startswith(starts)
    assert (await client.head(f"/docs/assets/{name}")).status_code == 200


async def test_unknown_docs_asset_is_a_404(client):
    assert_error(await client.get("/docs/assets/../../app.py"), 404, "NOT_FOUND")
    assert_error(await client.get("/docs/assets/secret.txt"), 404, "NOT_FOUND")
