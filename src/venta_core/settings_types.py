"""Value types of settings read from environment variables, shared by the core and plugins.

An environment variable is one string; these annotated types say, in one place, how that string
becomes a value, so every setting of a kind reads the same way:

- ``CommaList[T]``: ``a,b,c`` (surrounding spaces and empty items dropped) or a JSON list
  (``["a", "b"]``). pydantic-settings would JSON-decode every list variable and fail on
  ``https://a.example``; ``NoDecode`` hands the raw string to the validator instead.
- ``RedisUrl`` and ``NatsUrl``: refuse a URL of another scheme at start (``http://redis:6379``,
  a bare ``redis:6379``) rather than at the first connection attempt, with the accepted forms in
  the message. An empty value means unset.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

__all__ = ["NATS_SCHEMES", "REDIS_SCHEMES", "CommaList", "NatsUrl", "RedisUrl", "split_list"]

T = TypeVar("T")

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def split_list(value: Any) -> Any:
    """``"a, b"`` -> ``["a", "b"]``; a string starting with ``[`` is read as a JSON list;
    anything else (a list given in code) is left to the field's own validation."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("starts with '[' but is not a JSON list; give a comma list") from None
    return [item.strip() for item in text.split(",") if item.strip()]


#: A list setting: a comma list or a JSON list in the environment (see the module docstring).
CommaList = Annotated[list[T], NoDecode, BeforeValidator(split_list)]


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower() if "://" in url else ""


def _redis_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _scheme(value) not in REDIS_SCHEMES:
        raise ValueError(
            "use redis://[:password@]host:6379/0 (rediss:// for TLS, unix:///path.sock, "
            "redis+cluster://host1:6379,host2:6379 for a Redis Cluster)"
        )
    return value


def _nats_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    servers = [server.strip() for server in value.split(",") if server.strip()]
    if not all(_scheme(server) in NATS_SCHEMES for server in servers):
        raise ValueError(
            "use nats://host:4222 (tls://, ws:// or wss:// also work); several servers "
            "separated by commas"
        )
    return ",".join(servers)


#: ``VENTA_REDIS_URL``: optional, one of ``REDIS_SCHEMES``.
RedisUrl = Annotated[str | None, AfterValidator(_redis_url)]
#: ``VENTA_NATS_URL``: optional, a comma list of ``NATS_SCHEMES`` URLs.
NatsUrl = Annotated[str | None, AfterValidator(_nats_url)]
