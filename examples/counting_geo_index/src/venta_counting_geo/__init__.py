"""An example port plugin: venta's geo index, wrapped so that every call is counted."""

from venta_counting_geo.index import CountingGeoIndex
from venta_counting_geo.plugin import CountingGeoPlugin

__all__ = ["CountingGeoIndex", "CountingGeoPlugin"]
