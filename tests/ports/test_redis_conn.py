"""RedisConnection: lifecycle and URL redaction."""

from __future__ import annotations

import pytest
import redis.exceptions

from tests.backends import real_service_url
from venta_core.ports.redis_conn import RedisConnection, redact_url


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("redis://app:s3cret@cache:6380/1") == "redis://app:***@cache:6380/1"
    assert redact_url("redis://:s3cret@cache/0") == "redis://:***@cache/0"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"
    assert "s3cret" not in repr(RedisConnection("redis://app:s3cret@cache:6380/1"))


async def test_lifecycle() -> None:
    conn = RedisConnection(real_service_url("redis"))
    with pytest.raises(RuntimeError):
        _ = conn.client
    await conn.start()
    await conn.check()
    await conn.stop()
    await conn.stop()
    with pytest.raises(RuntimeError):
        await conn.check()


async def test_unreachable_redis_fails_check_not_start() -> None:
    conn = RedisConnection("redis://127.0.0.1:1/0")
    await conn.start()
    with pytest.raises(redis.exceptions.ConnectionError):
        await conn.check()
    await conn.stop()
