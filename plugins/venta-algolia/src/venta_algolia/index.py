"""``AlgoliaSearchIndex``: venta's ``SearchIndex`` on an Algolia index.

Writes are ``batch`` calls (``updateObject`` by ``objectID``, ``deleteObject``, and
``partialUpdateObjectNoCreate`` for positions). Algolia has no conditional write, so ``upsert``
and ``move`` read the indexed versions first (``getObjects``) and leave out what is older than
those; deletions are remembered in venta's key-value store for ``deletion_memory_seconds`` so
that a late event does not bring a vendor back. Every failed call raises ``AlgoliaUnavailable``
(``SERVICE_UNAVAILABLE``): a 503 on the search route, and a redelivery for the worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from algoliasearch.search.client import SearchClient
from venta_core.domain import Vendor
from venta_core.events import VendorMovedData
from venta_core.ports.kv import KeyValueStore
from venta_core.ports.search import SearchPage, SearchQuery

from venta_algolia.client import CLIENT_ERRORS, Connection, connect, log, not_found, unavailable
from venta_algolia.records import (
    GEOLOC_AT,
    INDEX_SETTINGS,
    POSITION,
    VERSION,
    epoch_ms,
    keep_newer_position,
    number,
    position_of,
    record_of,
    search_hit,
    search_params,
    vendor_of,
    version_of,
)
from venta_algolia.settings import AlgoliaSettings

__all__ = ["AlgoliaSearchIndex"]

T = TypeVar("T")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_I = TypeVar("_I", bound=_HasId)


def _newest_per_id(items: Sequence[_I], when: Callable[[_I], Any]) -> dict[str, _I]:
    """The newest item of each id by ``when`` (of equal times, the last one)."""
    newest: dict[str, _I] = {}
    for item in items:
        known = newest.get(item.id)
        if known is None or when(known) <= when(item):
            newest[item.id] = item
    return newest


def _now_ms() -> int:
    return int(time.time() * 1000)


def _json(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str | bytes) else raw


class AlgoliaSearchIndex:
    name = "search"

    def __init__(self, settings: AlgoliaSettings, kv: KeyValueStore | None = None) -> None:
        settings.check()
        self.settings = settings
        self.index_name = settings.index_name
        self._kv = kv
        self._connection: Connection | None = None
        self._settings_pending = settings.apply_settings

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def client(self) -> SearchClient:
        if self._connection is None:
            self._connection = connect(self.settings)
        return self._connection.client

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        if self._connection is not None:
            self._connection.revive()
        try:
            return await call()
        except CLIENT_ERRORS as exc:
            raise unavailable(operation, exc) from None

    def _key(self, suffix: str) -> str:
        return f"venta-algolia:{self.index_name}:{suffix}"

    async def _apply_settings(self) -> None:
        await self._call(
            "setSettings", lambda: self.client.set_settings(self.index_name, INDEX_SETTINGS)
        )
        self._settings_pending = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Apply the index settings. Algolia being down does not stop the process: the
        settings are applied again before the next write."""
        if self._settings_pending:
            try:
                await self._apply_settings()
            except Exception:
                log.warning("algolia index settings not applied yet; retrying on next write")

    async def stop(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.client.close()

    async def check(self) -> None:
        await self._call(
            "getSettings", lambda: self.client.get_settings_with_http_info(self.index_name)
        )

    # -- writes --------------------------------------------------------------------------------

    async def _batch(self, operation: str, requests: list[dict[str, Any]]) -> None:
        if self._settings_pending:
            await self._apply_settings()
        body = {"requests": requests}
        await self._call(operation, lambda: self.client.batch(self.index_name, body))

    async def _deleted(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` were deleted (and not cleared since)."""
        kv = self._kv
        if kv is None or not ids:
            return set()
        cleared = int(await kv.get(self._key("cleared")) or 0)
        marks = await asyncio.gather(*(kv.get(self._key(f"deleted:{i}")) for i in ids))
        return {i for i, mark in zip(ids, marks, strict=True) if mark and int(mark) > cleared}

    async def _indexed(
        self, ids: Sequence[str], attributes: list[str]
    ) -> dict[str, dict[str, Any]]:
        """``attributes`` of the records of ``ids`` that are indexed (one ``getObjects``)."""
        requests = [
            {"indexName": self.index_name, "objectID": i, "attributesToRetrieve": attributes}
            for i in ids
        ]
        response = await self._call(
            "getObjects",
            lambda: self.client.get_objects_with_http_info({"requests": requests}),
        )
        found: dict[str, dict[str, Any]] = {}
        for result in _json(response.raw_data).get("results") or []:
            if isinstance(result, dict) and result.get("objectID") is not None:
                found[str(result["objectID"])] = result
        return found

    async def upsert(self, vendors: Sequence[Vendor]) -> None:
        newest = _newest_per_id(vendors, lambda v: v.updated_at)
        for vendor_id in await self._deleted(list(newest)):
            del newest[vendor_id]
        if not newest:
            return
        indexed = await self._indexed(list(newest), [VERSION, GEOLOC_AT, *POSITION])
        records = []
        for vendor in newest.values():
            current = indexed.get(vendor.id, {})
            if number(current.get(VERSION), -1) > version_of(vendor):
                continue  # an older document never replaces
            records.append(keep_newer_position(record_of(vendor), current))
        if records:
            await self._batch(
                "batch", [{"action": "updateObject", "body": record} for record in records]
            )

    async def move(self, positions: Sequence[VendorMovedData]) -> None:
        """Write the positions of ``vendor.moved`` events: a partial update of ``_geoloc``,
        ``lat``, ``long`` and ``geolocAtMs`` of each vendor indexed, nothing else.

        Left out: a vendor deleted (remembered) or not indexed, and a position older than the
        one indexed (``geolocAtMs``). ``partialUpdateObjectNoCreate`` never creates a record,
        so a vendor deleted between the check and the write is not brought back either.
        """
        newest = _newest_per_id(positions, lambda p: p.at)
        for vendor_id in await self._deleted(list(newest)):
            del newest[vendor_id]
        if not newest:
            return
        indexed = await self._indexed(list(newest), [GEOLOC_AT])
        updates = [
            position_of(position)
            for position in newest.values()
            if position.id in indexed
            and number(indexed[position.id].get(GEOLOC_AT), -1) <= epoch_ms(position.at)
        ]
        if updates:
            await self._batch(
                "batch",
                [{"action": "partialUpdateObjectNoCreate", "body": body} for body in updates],
            )

    async def delete(self, vendor_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(vendor_ids))
        if not ids:
            return
        if self._kv is not None:
            kv, mark, ttl = self._kv, str(_now_ms()), self.settings.deletion_memory_seconds
            await asyncio.gather(*(kv.set(self._key(f"deleted:{i}"), mark, ttl) for i in ids))
        await self._batch(
            "batch", [{"action": "deleteObject", "body": {"objectID": i}} for i in ids]
        )

    async def clear(self) -> None:
        await self._call("clearObjects", lambda: self.client.clear_objects(self.index_name))
        if self._kv is not None:
            await self._kv.set(self._key("cleared"), str(_now_ms()))

    async def reindex(self, batches: AsyncIterable[Sequence[Vendor]]) -> int:
        """Upsert every batch, then delete the records written before the rebuild started
        that no batch held (vendors created meanwhile are newer, so they stay)."""
        started = _now_ms()
        seen: set[str] = set()
        async for batch in batches:
            await self.upsert(batch)
            seen.update(v.id for v in batch)
        versions = await self._browse_versions()
        unseen = [
            i for i, version in versions.items() if i not in seen and (version or 0) < started
        ]
        if unseen:
            await self._batch(
                "batch", [{"action": "deleteObject", "body": {"objectID": i}} for i in unseen]
            )
        return len(seen)

    async def _browse_versions(self) -> dict[str, int | None]:
        """Every record's objectID and version (``browse``, 1000 a page)."""
        versions: dict[str, int | None] = {}
        params: dict[str, Any] = {"attributesToRetrieve": [VERSION], "hitsPerPage": 1000}
        while True:
            browse = partial(self.client.browse_with_http_info, self.index_name, dict(params))
            response = await self._call("browse", browse)
            body = _json(response.raw_data)
            for hit in body.get("hits") or []:
                version = hit.get(VERSION)
                versions[str(hit["objectID"])] = (
                    int(version) if isinstance(version, int | float) else None
                )
            cursor = body.get("cursor")
            if not cursor:
                return versions
            params["cursor"] = cursor

    # -- reads ---------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchPage:
        params = search_params(query)
        if not params["query"]:
            return SearchPage(hits=[], total=0, page=query.page, limit=query.limit)
        response = await self._call(
            "search",
            lambda: self.client.search_single_index_with_http_info(self.index_name, params),
        )
        body = _json(response.raw_data)
        hits = [search_hit(record, query) for record in body.get("hits") or []]
        return SearchPage(
            hits=[hit for hit in hits if hit is not None],
            total=int(body.get("nbHits") or 0),
            page=query.page,
            limit=query.limit,
        )

    async def get(self, vendor_id: str) -> Vendor | None:
        if self._connection is not None:
            self._connection.revive()
        try:
            response = await self.client.get_object_with_http_info(self.index_name, vendor_id)
        except CLIENT_ERRORS as exc:
            if not_found(exc):
                return None
            raise unavailable("getObject", exc) from None
        return vendor_of(_json(response.raw_data))

    async def count(self) -> int:
        params = {"query": "", "hitsPerPage": 0, "analytics": False}
        response = await self._call(
            "count",
            lambda: self.client.search_single_index_with_http_info(self.index_name, params),
        )
        return int(_json(response.raw_data).get("nbHits") or 0)
