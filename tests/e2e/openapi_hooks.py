"""schemathesis hooks (``SCHEMATHESIS_HOOKS``) of tests/e2e/test_openapi_fuzz.py.

A box (nearby, clusters) whose south-west latitude is above its north-east latitude is refused,
a rule between two parameters that JSON Schema cannot state (the OpenAPI document says it in the
description). Such boxes are not generated, so every box sent is one the document allows.
"""

from __future__ import annotations

from typing import Any

import schemathesis

#: Operations that take a box as swLat/swLong/neLat/neLong.
BOX_PATHS = frozenset({"/v1/vendors/nearby", "/v1/vendors/clusters"})


@schemathesis.hook("filter_query")
def south_below_north(context: schemathesis.HookContext, query: dict[str, Any] | None) -> bool:
    operation = context.operation
    if operation is None or operation.path not in BOX_PATHS or not query:
        return True
    south, north = query.get("swLat"), query.get("neLat")
    if isinstance(south, int | float) and isinstance(north, int | float):
        return bool(south <= north)
    return True
