"""Algolia for venta: the vendor search index on an Algolia index (``venta_search_index``)."""

from venta_algolia.client import AlgoliaUnavailable
from venta_algolia.index import AlgoliaSearchIndex
from venta_algolia.plugin import AlgoliaPlugin
from venta_algolia.settings import AlgoliaSettings

__all__ = ["AlgoliaPlugin", "AlgoliaSearchIndex", "AlgoliaSettings", "AlgoliaUnavailable"]
