"""Which backends the test run uses.

Embedded backends (SQLite file, in-process geo index, key-value store and bus) always run.
Real services run when ``VENTA_TEST_DATABASE_URL`` / ``VENTA_TEST_REDIS_URL`` /
``VENTA_TEST_NATS_URL`` name them (``.ci/run`` sets all three). Under ``CI=true`` a missing
variable fails the test instead of skipping it, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import uuid

import pytest

#: Unique per test process: Redis keys and NATS subjects of this run start with it.
RUN_PREFIX = f"vt{uuid.uuid4().hex[:10]}"

_KINDS = {"database": "PostgreSQL", "redis": "Redis", "nats": "NATS"}


def real_service_url(kind: str) -> str:
    """URL of the real ``kind`` service (database, redis, nats), or skip/fail."""
    var = f"VENTA_TEST_{kind.upper()}_URL"
    url = os.environ.get(var)
    if url:
        return url
    message = f"{var} is not set: tests against real {_KINDS[kind]} cannot run"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (CI must run them)")
    pytest.skip(message)
