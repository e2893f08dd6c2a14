"""The OpenAPI document states the limits this server enforces, from its settings."""

from __future__ import annotations

from typing import Any

from tests.http.http_fakes import FakeVenta, make_settings
from venta_core.transports.http import create_http_app


def _document(**settings: Any) -> dict[str, Any]:
    api = create_http_app(FakeVenta(make_settings(**settings)))
    return api.openapi()


def _parameters(document: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}


def test_nearby_is_a_box_or_a_circle_within_the_configured_limits():
    document = _document(location={"max_limit": 250, "max_radius_m": 5000})
    params = _parameters(document, "/v1/vendors/nearby")
    assert params["limit"]["schema"]["anyOf"][0]["maximum"] == 250
    area = params["area"]
    assert (area["in"], area["style"], area["explode"], area["required"]) == (
        "query",
        "form",
        True,
        True,
    )
    box, circle = area["schema"]["oneOf"]
    assert box["required"] == ["swLat", "swLong", "neLat", "neLong"]
    assert circle["required"] == ["lat", "long", "radius"]
    assert not box["additionalProperties"] and not circle["additionalProperties"]
    assert circle["properties"]["radius"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 5000,
    }
    assert box["properties"]["swLat"] == {"type": "number", "minimum": -90, "maximum": 90}


def test_search_states_its_query_limits():
    document = _document(search={"max_query_length": 50, "max_radius_m": 2000})
    params = _parameters(document, "/v1/search/vendors")
    q = params["q"]
    assert q["required"] is True
    assert q["schema"]["maxLength"] == 50 and q["schema"]["minLength"] == 1
    assert "\\x00" in q["schema"]["pattern"]
    near = params["near"]
    assert near["required"] is False and near["schema"]["required"] == ["lat", "long", "radius"]
    assert near["schema"]["properties"]["radius"]["maximum"] == 2000
    assert params["page"]["schema"]["maximum"] == 1000


def test_vendor_bodies_state_lengths_patterns_and_strict_types():
    schemas = _document()["components"]["schemas"]
    create, update = schemas["VendorCreate"], schemas["VendorUpdate"]
    assert create["required"] == ["name"] and create["additionalProperties"] is False
    name = create["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 100) and "pattern" in name
    assert create["properties"]["open"]["type"] == "boolean"
    website = create["properties"]["website"]["anyOf"][0]
    assert website["maxLength"] == 2048 and website["pattern"].startswith("^[Hh][Tt][Tt][Pp]")
    # name and open may be left out of an update, never null
    assert update["properties"]["name"]["type"] == "string"
    assert update["properties"]["open"] == {"title": "Open", "type": "boolean"}


def test_ids_are_documented_as_uuids():
    document = _document()
    operation = document["paths"]["/v1/vendors/{vendor_id}"]["get"]
    (vendor_id,) = [p for p in operation["parameters"] if p["name"] == "vendor_id"]
    assert vendor_id["schema"]["format"] == "uuid"


def test_authenticated_routes_declare_the_bearer_scheme():
    """``authenticate`` reads the header itself; the document still names the scheme on every
    route that needs a token, and on no other."""
    document = _document()
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <token>`; development tokens: `venta token issue`.",
    }
    secured = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            needs_token = "401" in operation["responses"]
            assert (operation.get("security") == [{"HTTPBearer": []}]) == needs_token, (
                path,
                method,
            )
            if needs_token:
                secured.add((path, method))
    assert {("/v1/vendors/{vendor_id}", "get"), ("/v1/vendors/nearby", "get")} <= secured
    assert ("/health", "get") not in secured


def test_nearby_documents_limit_then_the_area_where_fastapi_puts_parameters():
    """The nearby query reads its parameters itself and documents them through
    ``openapi_extra``; they stand where FastAPI writes generated parameters (before the
    responses), ``limit`` as FastAPI documented it when it was a declared ``Query``."""
    document = _document(location={"max_limit": 250, "default_limit": 20})
    operation = document["paths"]["/v1/vendors/nearby"]["get"]
    keys = list(operation)
    assert keys.index("parameters") < keys.index("responses")
    limit, area = operation["parameters"]
    assert area["name"] == "area"
    assert limit == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {
            "anyOf": [{"type": "integer", "maximum": 250, "minimum": 1}, {"type": "null"}],
            "description": "Most vendors answered (default 20).",
            "title": "Limit",
        },
        "description": "Most vendors answered (default 20).",
    }
    for path_item in document["paths"].values():
        for op in path_item.values():
            if "parameters" in op and "responses" in op:
                assert list(op).index("parameters") < list(op).index("responses")
