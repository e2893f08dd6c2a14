"""Small pieces every request goes through: request ids, the request context, headers."""

from __future__ import annotations

import uuid
from typing import Any

from venta_core.app import Venta
from venta_core.context import (
    RequestContext,
    current,
    new_request_id,
    request_context,
    sanitize_request_id,
)
from venta_core.transports.http import create_http_app
from venta_core.transports.http.middleware import set_headers


def test_new_request_ids_are_version_4_uuids_written_as_uuid_does() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == request_id


def test_a_sane_caller_id_is_kept_and_another_replaced() -> None:
    assert sanitize_request_id("abc-123") == "abc-123"
    assert uuid.UUID(sanitize_request_id("bad id with spaces")).version == 4


def test_request_context_is_current_inside_and_restored_after() -> None:
    outer = RequestContext(request_id="outer")
    inner = RequestContext(request_id="inner")
    with request_context(outer):
        with request_context(inner) as entered:
            assert entered is inner and current() is inner
        assert current() is outer
    assert current() is None


def test_with_user_keeps_the_request_id() -> None:
    ctx = RequestContext(request_id="r1").with_user("sub", "u1")
    assert ctx == RequestContext(request_id="r1", identity="sub", user_id="u1")


def test_set_headers_replaces_headers_of_any_case_and_adds_the_others() -> None:
    headers = [(b"content-type", b"application/json"), (b"X-RateLimit-Limit", b"1")]
    new = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9", "X-RateLimit-Reset": "60"}
    one_pass: dict[str, Any] = {"type": "http.response.start", "headers": list(headers)}
    set_headers(one_pass, new)
    assert list(one_pass["headers"]) == [
        (b"content-type", b"application/json"),
        (b"x-ratelimit-limit", b"10"),
        (b"x-ratelimit-remaining", b"9"),
        (b"x-ratelimit-reset", b"60"),
    ]


def test_the_hot_routes_are_matched_first_and_documented_in_place(app: Venta) -> None:
    api = create_http_app(app)
    matching = [r.path_format for r in api.state.route_table]  # type: ignore[attr-defined]
    first = matching.index
    assert first("/v1/vendors/nearby") < first("/v1/vendors/{vendor_id}") < first("/health")
    assert first("/v1/vendors/{vendor_id}/location") < first("/v1/me")

    documented = list(api.openapi()["paths"])
    assert documented.index("/v1/me") < documented.index("/v1/vendors/nearby")
