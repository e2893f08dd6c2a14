"""Built-in vendor search: the database index, the worker's search sync and the search route.

- ``venta_search_index`` (``trylast``): ``DatabaseSearchIndex``, full text over the database
  (PostgreSQL full-text search, SQLite FTS5; see ``venta_core.store.search``). A plugin
  answering the hook replaces it for the worker and the route alike.
- ``venta_event_handlers``: ``search-sync`` keeps the index in step with ``vendor.created``,
  ``vendor.updated`` and ``vendor.deleted``. The index ignores stale and repeated documents,
  so redelivered or reordered events are harmless.
- ``venta_http_routers``: ``GET /v1/search/vendors``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.domain import Vendor
from venta_core.domain.base import to_utc
from venta_core.events import EventEnvelope, EventHandler, PoisonEvent, VendorEventData
from venta_core.hookspecs import hookimpl
from venta_core.ports.search import SearchHit, SearchIndex, SearchPage, SearchQuery, query_terms
from venta_core.store import search as sql
from venta_core.store.engine import Database

if TYPE_CHECKING:
    from fastapi import APIRouter

    from venta_core.app import Venta

__all__ = ["SEARCH_SYNC", "DatabaseSearchIndex", "reindex_vendors", "search_sync_handler"]

SEARCH_SYNC = "search-sync"
VENDOR_EVENTS = frozenset({"vendor.created", "vendor.updated", "vendor.deleted"})


class DatabaseSearchIndex:
    """``SearchIndex`` in the application's own database (see ``venta_core.store.search``)."""

    name = "search"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        async with self._db.connect() as conn:
            await conn.execute(sa.select(sql.search_vendors.c.id).limit(1))

    async def upsert(self, vendors: Sequence[Vendor]) -> None:
        async with self._one_statement() as conn:
            await sql.upsert_documents(conn, vendors, datetime.now(UTC))

    async def delete(self, vendor_ids: Sequence[str]) -> None:
        async with self._one_statement() as conn:
            await sql.delete_documents(conn, vendor_ids, datetime.now(UTC))

    @asynccontextmanager
    async def _one_statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for writes that are one statement on PostgreSQL (``upsert_documents``,
        ``delete_documents``): run in autocommit, the statement is its own transaction, so
        the write costs one round trip instead of three (``BEGIN``, it, ``COMMIT``), which is
        most of the search sync's share of commit-to-searchable. SQLite writes a batch with
        several statements: a transaction."""
        if self._db.is_sqlite:
            async with self._db.begin() as conn:
                yield conn
            return
        async with self._db.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def search(self, query: SearchQuery) -> SearchPage:
        async with self._db.connect() as conn:
            matches, total = await sql.search_documents(
                conn,
                query_terms(query.text),
                query.center,
                query.radius_m,
                query.offset,
                query.limit,
            )
        hits = [SearchHit(vendor, distance) for vendor, distance in matches]
        return SearchPage(hits=hits, total=total, page=query.page, limit=query.limit)

    async def get(self, vendor_id: str) -> Vendor | None:
        async with self._db.connect() as conn:
            return await sql.get_document(conn, vendor_id)

    async def count(self) -> int:
        async with self._db.connect() as conn:
            return await sql.count_documents(conn)

    async def clear(self) -> None:
        async with self._db.begin() as conn:
            await sql.clear_documents(conn)

    async def reindex(self, batches: AsyncIterable[Sequence[Vendor]]) -> int:
        started = datetime.now(UTC)
        written = 0
        async for batch in batches:
            await self.upsert(batch)
            written += len(batch)
        async with self._db.begin() as conn:
            await sql.tombstone_unseen(conn, started)
        return written


def _vendor(envelope: EventEnvelope) -> Vendor:
    """The vendor document of a created/updated event (every field is in the payload)."""
    try:
        data = envelope.payload()  # validated once, when the worker decoded the event
        if not isinstance(data, VendorEventData):
            data = VendorEventData.model_validate(envelope.data)
        return Vendor.model_validate(data.model_dump())
    except ValidationError as exc:
        raise PoisonEvent(f"{envelope.type} without a whole vendor: {exc.errors()[0]}") from None


def search_sync_handler(index_of: Callable[[], SearchIndex]) -> EventHandler:
    """The handler feeding ``index_of()`` from vendor events."""

    async def handle(envelope: EventEnvelope) -> None:
        await handle_batch([envelope])

    async def handle_batch(envelopes: Sequence[EventEnvelope]) -> None:
        """One upsert of the newest document of each vendor, then one delete. The index
        keeps the newest version and remembers deletions, so order within and across
        batches does not matter; a poison event fails the batch (then handled one by one).

        A document is built only for the newest event of each vendor in the batch (a burst
        of updates to one vendor is one document): an older one would be dropped by the
        index anyway."""
        newest: dict[str, tuple[datetime, EventEnvelope]] = {}
        upserts: list[Vendor] = []
        deletes: list[str] = []
        for envelope in envelopes:
            if envelope.type == "vendor.deleted":
                deletes.append(_deleted_id(envelope))
                continue
            data = envelope.payload()
            if isinstance(data, VendorEventData) and data.updated_at is not None:
                version = to_utc(data.updated_at)
                known = newest.get(data.id)
                if known is None or known[0] <= version:
                    newest[data.id] = (version, envelope)
            else:
                upserts.append(_vendor(envelope))
        upserts.extend(_vendor(envelope) for _, envelope in newest.values())
        index = index_of()
        if upserts:
            await index.upsert(upserts)
        if deletes:
            await index.delete(deletes)

    return EventHandler(SEARCH_SYNC, VENDOR_EVENTS, handle, handle_batch=handle_batch)


def _deleted_id(envelope: EventEnvelope) -> str:
    vendor_id = envelope.data.get("id")
    if not isinstance(vendor_id, str) or not vendor_id:
        raise PoisonEvent("vendor.deleted without an id")
    return vendor_id


async def reindex_vendors(
    app: Venta, on_batch: Callable[[int], None] | None = None, *, clear: bool = False
) -> int:
    """Rebuild ``app.search_index`` from every vendor of the database; ``on_batch`` gets the
    size of each batch written. ``clear`` empties the index first (searches find nothing
    until the rebuild is done). Returns how many vendors were indexed."""
    index = app.search_index
    if clear:
        await index.clear()

    async def batches() -> AsyncIterator[list[Vendor]]:
        async for batch in sql.vendor_batches(app.database, app.settings.search.reindex_batch):
            yield batch
            if on_batch is not None:
                on_batch(len(batch))

    return await index.reindex(batches())


async def count_vendors(app: Venta) -> int:
    async with app.database.connect() as conn:
        return await sql.count_vendors(conn)


@hookimpl(trylast=True)
def venta_search_index(app: Venta) -> SearchIndex | None:
    return DatabaseSearchIndex(app.database)


@hookimpl
def venta_event_handlers(app: Venta) -> list[EventHandler] | None:
    return [search_sync_handler(lambda: app.search_index)]


@hookimpl
def venta_http_routers(app: Venta) -> list[APIRouter] | None:
    from venta_core.transports.http.routers.search import create_router

    return [create_router(lambda: getattr(app, "search_index", None), app.settings.search)]
