"""Which backends the test run uses.

Embedded backends (SQLite file, in-process geo index, key-value store and bus) always run.
Real services run when ``VENTA_TEST_DATABASE_URL`` / ``VENTA_TEST_REDIS_URL`` /
``VENTA_TEST_NATS_URL`` name them (``.ci/run`` sets all three). Under ``CI=true`` a missing
variable fails the test instead of skipping it, so CI can never pass by skipping.
"""

from __future__ import annotations

import uuid

from venta_core.testing import real_service_url

#: Unique per test process: Redis keys and NATS subjects of this run start with it.
RUN_PREFIX = f"vt{uuid.uuid4().hex[:10]}"

__all__ = ["RUN_PREFIX", "real_service_url"]
