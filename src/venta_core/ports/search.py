"""Vendor search index port: what the worker feeds from vendor events and the search route
reads.

Shaped for an external engine as much as for the built-in one (full text over the database,
``venta_core.store.search``): documents are whole vendors keyed by id, writes are idempotent
upserts and deletes that may arrive more than once and out of order, and ``reindex`` rebuilds
the whole index from the database. A plugin provides another index by answering the
``venta_search_index`` hook (venta-algolia: records with ``objectID = id`` and ``_geoloc``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from venta_core.domain import Location, Vendor

__all__ = ["SearchHit", "SearchIndex", "SearchPage", "SearchQuery", "query_terms"]

MAX_TERMS = 10


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Full text ``text`` (every term must match, the last one as a prefix), optionally only
    vendors within ``radius_m`` metres of ``center``; ``page`` counts from 1."""

    text: str
    center: Location | None = None
    radius_m: float | None = None
    page: int = 1
    limit: int = 20

    def __post_init__(self) -> None:
        if (self.center is None) != (self.radius_m is None):
            raise ValueError("center and radius_m go together")
        if self.radius_m is not None and self.radius_m <= 0:
            raise ValueError("radius_m must be positive")
        if self.page < 1 or self.limit < 1:
            raise ValueError("page and limit start at 1")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True, slots=True)
class SearchHit:
    vendor: Vendor
    distance_m: float | None = None  # set when the query had a centre


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    total: int  # matches over all pages
    page: int
    limit: int


class SearchIndex(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...

    async def upsert(self, vendors: Sequence[Vendor]) -> None:
        """Add or replace documents. A document older (``updated_at``) than the one indexed,
        or of a vendor deleted before, is ignored: delivery may repeat and reorder events."""
        ...

    async def delete(self, vendor_ids: Sequence[str]) -> None:
        """Remove documents; the deletion is remembered so a late upsert does not revive one."""
        ...

    async def search(self, query: SearchQuery) -> SearchPage:
        """Matches ranked by relevance, then distance from the centre when given."""
        ...

    async def get(self, vendor_id: str) -> Vendor | None:
        """The indexed document of a vendor (``None`` when absent or deleted)."""
        ...

    async def count(self) -> int:
        """Documents searchable now."""
        ...

    async def clear(self) -> None:
        """Remove every document and every remembered deletion."""
        ...

    async def reindex(self, batches: AsyncIterable[Sequence[Vendor]]) -> int:
        """Make the index hold exactly the vendors of ``batches`` (every vendor of the
        database), returning how many. Searches keep working meanwhile; vendors changed while
        it runs keep their newest version."""
        ...


def query_terms(text: str) -> list[str]:
    """The search terms of ``text``: runs of letters and digits, lowercased, at most
    ``MAX_TERMS`` (punctuation and operators of the engines are never passed through)."""
    terms: list[str] = []
    word: list[str] = []
    for char in text.lower() + " ":
        if char.isalnum():
            word.append(char)
        elif word:
            terms.append("".join(word))
            word = []
    return terms[:MAX_TERMS]
