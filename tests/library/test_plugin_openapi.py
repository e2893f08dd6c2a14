"""Routes that plugins add document their errors as the built-in routes do: every error
status in the OpenAPI document carries venta's error envelope, and an authenticated route lists
the answers any authenticated route may give (``venta_core.error_responses``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from venta_core import error_responses
from venta_core.app import Venta
from venta_core.testing import embedded_settings
from venta_core.transports.http import create_http_app, plugin_routers

ENVELOPE = "#/components/schemas/ErrorResponse"
METHODS = {"get", "put", "post", "patch", "delete"}


async def _document_and_plugin_paths(tmp_path: Path) -> tuple[dict[str, Any], set[str]]:
    async with Venta(embedded_settings(tmp_path / "venta.db")) as app:
        api: FastAPI = create_http_app(app)
        paths = {
            getattr(route, "path", "")
            for router in plugin_routers(app)
            for route in router.routes
            if getattr(route, "include_in_schema", False)
        }
        return api.openapi(), paths


def _errors(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {code: r for code, r in operation["responses"].items() if int(code) >= 400}


async def test_every_plugin_route_documents_its_errors_with_the_envelope(tmp_path: Path) -> None:
    document, paths = await _document_and_plugin_paths(tmp_path)
    operations = [
        (f"{method.upper()} {path}", op)
        for path in sorted(p.replace(":vendor_id}", "}") for p in paths)
        for method, op in document["paths"].get(path, {}).items()
        if method in METHODS
    ]
    if not operations:
        pytest.skip("no installed plugin adds HTTP routes")

    for name, operation in operations:
        errors = _errors(operation)
        assert any(code.startswith("4") for code in errors), f"{name} documents no 4xx"
        for code, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == ENVELOPE, f"{name} {code} is not the error envelope"
            assert response["description"].split(":")[0].isupper(), f"{name} {code}: no code"
        if operation.get("security"):  # authenticated, hence rate limited too
            assert {"400", "401", "429"} <= set(errors), f"{name} documents {sorted(errors)}"


def test_error_responses_describe_each_status_and_take_own_descriptions() -> None:
    responses = error_responses(401, 404, descriptions={409: "CONFLICT: taken"})

    assert list(responses) == [401, 404, 409]
    assert responses[401]["description"].startswith("UNAUTHENTICATED")
    assert responses[404]["description"].startswith("VENDOR_NOT_FOUND")
    assert responses[409]["description"] == "CONFLICT: taken"
    assert {r["model"].__name__ for r in responses.values()} == {"ErrorResponse"}


def test_a_status_without_a_standard_description_is_refused() -> None:
    with pytest.raises(ValueError, match="no standard description for 418"):
        error_responses(418)
