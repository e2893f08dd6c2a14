"""A local stand-in for Algolia's REST API (the calls venta-algolia makes), served by uvicorn
in a thread. It records every request, keeps records in memory, answers searches with prefix
matching and a geo filter, and can be told to fail."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from venta_core.testing import serving_in_thread

from venta_algolia import AlgoliaSettings

APP_ID = "TESTAPP"
API_KEY = "admin-key-0123456789abcdef"


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


def _distance(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))


def _matches(record: dict[str, Any], terms: list[str]) -> bool:
    text = f"{record.get('name') or ''} {record.get('description') or ''}".lower()
    words = "".join(c if c.isalnum() else " " for c in text).split()
    return all(any(w.startswith(t) for w in words) for t in terms)


@dataclass
class AlgoliaStub:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    fail_writes: int = 0  # the next n batch calls answer 503
    down: bool = False  # every call answers 503
    port: int = 0

    def named(self, suffix: str, method: str = "POST") -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]

    def batches(self) -> list[list[dict[str, Any]]]:
        return [c.body["requests"] for c in self.named("/batch")]

    # -- endpoints -----------------------------------------------------------------------------

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.calls.append(
            Call(request.method, request.url.path, body, dict(request.headers.items()))
        )
        return body

    def _unavailable(self) -> JSONResponse:
        return JSONResponse({"message": "Service unavailable", "status": 503}, status_code=503)

    async def endpoint(self, request: Request) -> JSONResponse:
        body = await self._record(request)
        if self.down:
            return self._unavailable()
        path = request.url.path
        index = request.path_params.get("index")
        if path == "/1/indexes/*/objects":
            return self._get_objects(body)
        action = request.path_params.get("action", "")
        if request.method == "PUT" and action == "settings":
            self.settings.update(body)
            return JSONResponse({"taskID": 1, "updatedAt": "2026-01-01T00:00:00Z"})
        if request.method == "GET" and action == "settings":
            return JSONResponse(self.settings)
        if request.method == "GET":
            record = self.records.get(action)
            if record is None:
                return JSONResponse(
                    {"message": "ObjectID does not exist", "status": 404}, status_code=404
                )
            return JSONResponse(record)
        if action == "batch":
            if self.fail_writes > 0:
                self.fail_writes -= 1
                return self._unavailable()
            return self._batch(body)
        if action == "clear":
            self.records.clear()
            return JSONResponse({"taskID": 3, "updatedAt": "2026-01-01T00:00:00Z"})
        if action == "browse":
            hits = [
                {k: v for k, v in r.items() if k in {"objectID", *body["attributesToRetrieve"]}}
                for r in self.records.values()
            ]
            return JSONResponse({"hits": hits, "page": 0, "nbHits": len(hits)})
        if action == "query":
            return self._query(body)
        return JSONResponse({"message": f"unknown {index} {action}"}, status_code=400)

    def _get_objects(self, body: dict[str, Any]) -> JSONResponse:
        results: list[dict[str, Any] | None] = []
        for req in body["requests"]:
            record = self.records.get(req["objectID"])
            if record is None:
                results.append(None)
                continue
            wanted = req.get("attributesToRetrieve")
            keep = {"objectID", *(wanted or record)}
            results.append({k: v for k, v in record.items() if k in keep})
        return JSONResponse({"results": results})

    def _batch(self, body: dict[str, Any]) -> JSONResponse:
        ids = []
        for req in body["requests"]:
            object_id = req["body"]["objectID"]
            ids.append(object_id)
            if req["action"] in {"addObject", "updateObject"}:
                self.records[object_id] = req["body"]
            elif req["action"] in {"partialUpdateObject", "partialUpdateObjectNoCreate"}:
                if object_id in self.records:
                    self.records[object_id] = {**self.records[object_id], **req["body"]}
                elif req["action"] == "partialUpdateObject":
                    self.records[object_id] = dict(req["body"])
            elif req["action"] == "deleteObject":
                self.records.pop(object_id, None)
        return JSONResponse({"taskID": 2, "objectIDs": ids})

    def _query(self, params: dict[str, Any]) -> JSONResponse:
        terms = params.get("query", "").split()
        found = [r for r in self.records.values() if _matches(r, terms)]
        if "aroundLatLng" in params:
            lat, lng = (float(x) for x in params["aroundLatLng"].split(","))
            located = [
                (_distance(lat, lng, r["_geoloc"]["lat"], r["_geoloc"]["lng"]), r)
                for r in found
                if "_geoloc" in r
            ]
            located.sort(key=lambda pair: pair[0])
            found = [r for d, r in located if d <= params["aroundRadius"]]
        page, per_page = params.get("page", 0), params.get("hitsPerPage", 20)
        hits = found[page * per_page : (page + 1) * per_page]
        return JSONResponse(
            {
                "hits": hits,
                "nbHits": len(found),
                "page": page,
                "hitsPerPage": per_page,
                "nbPages": math.ceil(len(found) / per_page) if per_page else 0,
                "processingTimeMS": 1,
                "query": params.get("query", ""),
                "params": "",
            }
        )

    def asgi(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "DELETE"]
        return Starlette(
            routes=[
                Route("/1/indexes/*/objects", self.endpoint, methods=["POST"]),
                Route("/1/indexes/{index}/{action}", self.endpoint, methods=methods),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[AlgoliaStub]:
        with serving_in_thread(self.asgi(), "the Algolia stub") as port:
            self.port = port
            yield self

    def settings_for(self, **overrides: Any) -> AlgoliaSettings:
        values: dict[str, Any] = {
            "app_id": APP_ID,
            "api_key": API_KEY,
            "hosts": [f"http://127.0.0.1:{self.port}"],
            "connect_timeout_seconds": 1.0,
            "read_timeout_seconds": 2.0,
            "write_timeout_seconds": 2.0,
        }
        values.update(overrides)
        return AlgoliaSettings(_env_file=None, **values)
