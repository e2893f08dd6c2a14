"""SQL of the built-in vendor search index (table ``search_vendors``, migration 0002).

The full-text part differs per database, so the table is not in ``tables.metadata``:
PostgreSQL matches a generated ``tsvector`` column (``to_tsquery('simple', ...)``, ranked by
``ts_rank``), SQLite an FTS5 table kept in step by triggers (ranked by ``bm25``). Every term
must match as a word prefix. Documents are whole vendors (JSON) with a version
(``updated_at``); a deleted vendor leaves a tombstone so a late event cannot revive it.

Hits take their position from the ``vendors`` row, not from the document: live positions are
written behind to that row every second and never become durable events, so the row is the
freshest position there is. The geo filter uses it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from venta_core.domain import Location, Vendor
from venta_core.domain.geo import EARTH_RADIUS_M, circle_rects, haversine_raw
from venta_core.store.engine import Database
from venta_core.store.tables import vendors
from venta_core.store.vendors import row_to_vendor

__all__ = [
    "UNMODELLED_PREFIXES",
    "Match",
    "clear_documents",
    "count_documents",
    "count_vendors",
    "delete_documents",
    "get_document",
    "include_object",
    "search_documents",
    "search_vendors",
    "tombstone_unseen",
    "upsert_documents",
    "vendor_batches",
]

search_vendors = sa.Table(
    "search_vendors",
    sa.MetaData(),  # its own metadata: autogenerate and tables.py never see it
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("version", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
)

#: Tables ``env.py`` leaves out of autogenerate (the FTS5 shadow tables share the prefix).
UNMODELLED_PREFIXES = ("search_vendors",)

#: Candidates a SQLite geo search ranks in Python (SQLite may lack trigonometric functions).
SQLITE_GEO_CANDIDATES = 5_000

Match = tuple[Vendor, float | None]  # a hit and its distance in metres (geo queries)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object``: leave the unmodelled search objects out of comparisons."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return not (table or "").startswith(UNMODELLED_PREFIXES)


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(search_vendors)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


_UPSERT_COLUMNS = ("name", "description", "doc", "version", "indexed_at")

#: PostgreSQL: a batch is one statement over arrays (one column each), so it is prepared once
#: whatever the batch size, instead of a VALUES list SQLAlchemy compiles row by row.
_PG_UPSERT = sa.text(
    """
    INSERT INTO search_vendors AS s (id, name, description, doc, version, deleted, indexed_at)
    SELECT id, name, description, doc::json, version, false, :indexed_at
    FROM unnest(CAST(:ids AS varchar[]), CAST(:names AS varchar[]),
                CAST(:descriptions AS text[]), CAST(:docs AS text[]),
                CAST(:versions AS timestamptz[])) AS d(id, name, description, doc, version)
    ORDER BY id COLLATE "C"
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
        doc = excluded.doc, version = excluded.version, indexed_at = excluded.indexed_at
    WHERE s.deleted IS false AND s.version <= excluded.version
    """
).bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)),
    sa.bindparam("names", type_=postgresql.ARRAY(sa.String)),
    sa.bindparam("descriptions", type_=postgresql.ARRAY(sa.Text)),
    sa.bindparam("docs", type_=postgresql.ARRAY(sa.Text)),
    sa.bindparam("versions", type_=postgresql.ARRAY(sa.DateTime(timezone=True))),
    sa.bindparam("indexed_at", type_=sa.DateTime(timezone=True)),
)


async def upsert_documents(conn: AsyncConnection, docs: Sequence[Vendor], now: datetime) -> None:
    """Insert or replace, unless the indexed version is newer or the vendor was deleted.

    One statement per call, whatever the number of documents (the newest of each vendor).
    On PostgreSQL the statement writes them in the order of their ids, of code points
    (``ORDER BY id COLLATE "C"``, the order ``delete_documents`` sorts its tombstones in):
    writers of overlapping batches (several workers) then lock the rows they share in the
    same order, so they wait for each other instead of deadlocking (PostgreSQL sees a
    deadlock only after ``deadlock_timeout``, a second, and fails one of the two). SQLite
    has one writer at a time."""
    newest: dict[str, Vendor] = {}
    for vendor in docs:
        known = newest.get(vendor.id)
        if known is None or known.updated_at <= vendor.updated_at:
            newest[vendor.id] = vendor
    if not newest:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(
            _PG_UPSERT,
            {
                "ids": list(newest),
                "names": [v.name for v in newest.values()],
                "descriptions": [v.description for v in newest.values()],
                "docs": [v.model_dump_json() for v in newest.values()],
                "versions": [_utc(v.updated_at) for v in newest.values()],
                "indexed_at": now,
            },
        )
        return
    rows = [
        {
            "id": v.id,
            "name": v.name,
            "description": v.description,
            "doc": v.model_dump(mode="json"),
            "version": _utc(v.updated_at),
            "deleted": False,
            "indexed_at": now,
        }
        for v in newest.values()
    ]
    # executemany of one cached statement: SQLite runs it in one call (``executemany``)
    stmt = _insert(conn)
    table = search_vendors.c
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={k: stmt.excluded[k] for k in _UPSERT_COLUMNS},
        where=sa.and_(table.deleted.is_(sa.false()), table.version <= stmt.excluded.version),
    )
    await conn.execute(stmt, rows)


async def delete_documents(conn: AsyncConnection, ids: Sequence[str], now: datetime) -> None:
    """Leave a tombstone for each id (a row with ``deleted`` set and no text), in the order of
    the ids (see ``upsert_documents``)."""
    if not ids:
        return
    blank: dict[str, Any] = {"name": "", "description": None, "doc": {}, "indexed_at": now}
    rows = [{"id": i, "version": now, "deleted": True, **blank} for i in sorted(set(ids))]
    stmt = _insert(conn).values(rows)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["id"], set_={"deleted": True, **blank})
    )


async def tombstone_unseen(conn: AsyncConnection, before: datetime) -> int:
    """After a reindex: documents it did not write (older than ``before``) whose vendor no
    longer exists become tombstones. Returns how many."""
    t = search_vendors.c
    result = await conn.execute(
        search_vendors.update()
        .where(
            t.deleted.is_(sa.false()),
            t.indexed_at < before,
            t.id.not_in(sa.select(vendors.c.id)),
        )
        .values(deleted=True, name="", description=None, doc={}, indexed_at=before)
    )
    return int(result.rowcount or 0)


async def get_document(conn: AsyncConnection, vendor_id: str) -> Vendor | None:
    t = search_vendors.c
    doc = await conn.scalar(sa.select(t.doc).where(t.id == vendor_id, t.deleted.is_(sa.false())))
    return Vendor.model_validate(doc) if doc else None


async def count_documents(conn: AsyncConnection) -> int:
    t = search_vendors.c
    count = await conn.scalar(sa.select(sa.func.count()).where(t.deleted.is_(sa.false())))
    return int(count or 0)


async def clear_documents(conn: AsyncConnection) -> None:
    await conn.execute(search_vendors.delete())


async def count_vendors(conn: AsyncConnection) -> int:
    return int(await conn.scalar(sa.select(sa.func.count()).select_from(vendors)) or 0)


async def vendor_batches(db: Database, size: int) -> AsyncIterator[list[Vendor]]:
    """Every vendor of the database, by id, ``size`` at a time (keyset pagination)."""
    last = ""
    while True:
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(vendors).where(vendors.c.id > last).order_by(vendors.c.id).limit(size)
                )
            ).all()
        if not rows:
            return
        yield [row_to_vendor(row) for row in rows]
        last = rows[-1].id


async def search_documents(
    conn: AsyncConnection,
    terms: Sequence[str],
    center: Location | None,
    radius_m: float | None,
    offset: int,
    limit: int,
) -> tuple[list[Match], int]:
    """A page of matches of every term (as word prefixes) and the total over all pages."""
    if not terms:
        return [], 0
    if conn.dialect.name == "postgresql":
        return await _search_postgresql(conn, terms, center, radius_m, offset, limit)
    return await _search_sqlite(conn, terms, center, radius_m, offset, limit)


def _rows(sql: str) -> Any:
    """A textual query whose ``doc`` column comes back decoded from JSON."""
    return sa.text(sql).columns(doc=sa.JSON)


def _hit(row: Any) -> Vendor:
    """The indexed document with the position of the vendor's row."""
    return Vendor.model_validate({**row.doc, "lat": row.lat, "long": row.long})


def _box(center: Location, radius_m: float) -> dict[str, float]:
    """Bounds of the rectangles covering a circle (``circle_rects``: split at the antimeridian,
    every longitude when a pole is inside), as bind parameters ``s0, w0, n0, e0, s1, ...``."""
    bounds: dict[str, float] = {}
    for i, rect in enumerate(circle_rects(center.lat, center.long, radius_m)):
        bounds |= dict(zip((f"s{i}", f"w{i}", f"n{i}", f"e{i}"), rect, strict=True))
    return bounds


def _box_sql(bounds: dict[str, float]) -> str:
    rects = [
        f"(v.lat BETWEEN :s{i} AND :n{i} AND v.long BETWEEN :w{i} AND :e{i})"
        for i in range(len(bounds) // 4)
    ]
    return f" AND ({' OR '.join(rects)})"


#: Degrees (about 0.1 µm) below which a coordinate or a difference of two counts as 0 in the
#: PostgreSQL distance. PostgreSQL raises "value out of range: underflow" where a product or
#: quotient of non-zero floats rounds to zero (1e-200 squared, or radians(5e-324)); with every
#: input 0 or at least this large, no step of the formula comes near the smallest float.
PG_TINY_DEG = 1e-12


def _pg_degrees(expr: str) -> str:
    return f"(CASE WHEN abs({expr}) < {PG_TINY_DEG!r} THEN 0.0 ELSE {expr} END)"


def _pg_center(value: float) -> float:
    return 0.0 if abs(value) < PG_TINY_DEG else value


_PG_DISTANCE = (
    f"(2 * {EARTH_RADIUS_M} * asin(least(1.0, sqrt("
    f"power(sin(radians({_pg_degrees('v.lat - :lat')}) / 2), 2) + "
    f"cos(radians(:lat)) * cos(radians({_pg_degrees('v.lat')})) * "
    f"power(sin(radians({_pg_degrees('v.long - :long')}) / 2), 2)"
    "))))"
)


async def _search_postgresql(
    conn: AsyncConnection,
    terms: Sequence[str],
    center: Location | None,
    radius_m: float | None,
    offset: int,
    limit: int,
) -> tuple[list[Match], int]:
    params: dict[str, Any] = {
        "tsq": " & ".join(f"{t}:*" for t in terms),
        "limit": limit,
        "offset": offset,
    }
    distance, where = "NULL::float8", ""
    if center is not None and radius_m is not None:
        bounds = _box(center, radius_m)
        params |= bounds | {"radius": radius_m}
        params |= {"lat": _pg_center(center.lat), "long": _pg_center(center.long)}
        distance = _PG_DISTANCE
        where = _box_sql(bounds) + f" AND {_PG_DISTANCE} <= :radius"
    sql = f"""
        SELECT s.doc, v.lat, v.long, {distance} AS distance, count(*) OVER () AS total
        FROM search_vendors AS s JOIN vendors AS v ON v.id = s.id
        WHERE NOT s.deleted AND s.document @@ to_tsquery('simple', :tsq){where}
        ORDER BY ts_rank(s.document, to_tsquery('simple', :tsq)) DESC, distance, s.id
        LIMIT :limit OFFSET :offset
    """  # noqa: S608 - only fixed fragments are formatted in; values are bound
    rows = (await conn.execute(_rows(sql), params)).all()
    if rows:
        return [(_hit(r), r.distance) for r in rows], int(rows[0].total)
    if offset == 0:
        return [], 0
    count_sql = f"""
        SELECT count(*) FROM search_vendors AS s JOIN vendors AS v ON v.id = s.id
        WHERE NOT s.deleted AND s.document @@ to_tsquery('simple', :tsq){where}
    """  # noqa: S608 - as above
    return [], int(await conn.scalar(sa.text(count_sql), params) or 0)


#: Matches ranked first (``bm25`` is only allowed at the level of the full-text query),
#: then joined and filtered.
_SQLITE_FROM = """
    FROM (
        SELECT rowid AS docid, bm25(search_vendors_fts, 10.0, 1.0) AS rank
        FROM search_vendors_fts WHERE search_vendors_fts MATCH :match
    ) AS m
    JOIN search_vendors AS s ON s.docid = m.docid
    JOIN vendors AS v ON v.id = s.id
    WHERE NOT s.deleted
"""


async def _search_sqlite(
    conn: AsyncConnection,
    terms: Sequence[str],
    center: Location | None,
    radius_m: float | None,
    offset: int,
    limit: int,
) -> tuple[list[Match], int]:
    params: dict[str, Any] = {"match": " ".join(f'"{t}"*' for t in terms)}
    if center is None or radius_m is None:
        sql = f"""
            SELECT s.doc, v.lat, v.long, count(*) OVER () AS total {_SQLITE_FROM}
            ORDER BY m.rank, s.id LIMIT :limit OFFSET :offset
        """
        page = {**params, "limit": limit, "offset": offset}
        rows = (await conn.execute(_rows(sql), page)).all()
        if rows:
            return [(_hit(r), None) for r in rows], int(rows[0].total)
        if offset == 0:
            return [], 0
        count = await conn.scalar(sa.text(f"SELECT count(*) {_SQLITE_FROM}"), params)
        return [], int(count or 0)
    bounds = _box(center, radius_m)
    sql = f"""
        SELECT s.id, s.doc, v.lat, v.long, m.rank {_SQLITE_FROM}{_box_sql(bounds)}
        ORDER BY m.rank LIMIT {SQLITE_GEO_CANDIDATES}
    """
    candidates = []
    for row in (await conn.execute(_rows(sql), params | bounds)).all():
        distance = haversine_raw(center.lat, center.long, row.lat, row.long)
        if distance <= radius_m:
            candidates.append((row.rank, distance, row.id, row))
    candidates.sort(key=lambda c: c[:3])
    page_rows = candidates[offset : offset + limit]
    return [(_hit(row), distance) for _, distance, _, row in page_rows], len(candidates)
