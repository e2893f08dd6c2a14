"""One Redis client per process, shared by the Redis-backed ports (geo index, key-value store).

The connection owns the client's lifecycle; the ports only borrow ``client``. Responses are decoded
to ``str``. Connecting is lazy: ``start()`` builds the pool and ``check()`` (PING) proves it works.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis

__all__ = ["RedisConnection", "redact_url"]

logger = logging.getLogger(__name__)

#: Seconds allowed to open a socket; without it an unroutable host blocks for minutes.
CONNECT_TIMEOUT_S = 5.0


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class RedisConnection:
    name = "redis"

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: Redis | None = None

    def __repr__(self) -> str:
        return f"RedisConnection({redact_url(self._url)!r})"

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisConnection is not started")
        return self._client

    async def start(self) -> None:
        if self._client is None:
            self._client = Redis.from_url(
                self._url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT_S
            )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.aclose()
        except Exception:  # stop() must not raise; the process is going away anyway
            logger.warning("closing Redis at %s failed", redact_url(self._url), exc_info=True)

    async def check(self) -> None:
        await self.client.ping()
