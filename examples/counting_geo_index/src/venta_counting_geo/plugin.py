"""The plugin: answers ``venta_geo_index`` with a ``CountingGeoIndex`` around the geo index
the other plugins provide (venta's in-process index, or its Redis one when
``VENTA_REDIS_URL`` is set), so it changes nothing but the counting."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from venta_core import hookimpl
from venta_core.providers import first_answer

from venta_counting_geo.index import CountingGeoIndex

if TYPE_CHECKING:
    from venta_core import Venta

__all__ = ["CountingGeoPlugin", "plugin"]

log = logging.getLogger(__name__)


class CountingGeoPlugin:
    @hookimpl
    def venta_geo_index(self, app: Venta) -> CountingGeoIndex | None:
        inner = first_answer(app.pm, "venta_geo_index", skip=[self], app=app)
        if inner is None:  # nothing to wrap: let venta report the missing geo index
            return None
        log.debug("counting the calls of the geo index of %s", inner.plugin)
        return CountingGeoIndex(inner.value)


plugin = CountingGeoPlugin()
