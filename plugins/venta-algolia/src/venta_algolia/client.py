"""The Algolia ``SearchClient`` built from ``AlgoliaSettings``, and its errors as venta's."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import aiohttp
from algoliasearch.http.exceptions import AlgoliaException, RequestException
from algoliasearch.http.hosts import Host, HostsCollection
from algoliasearch.search.client import SearchClient
from algoliasearch.search.config import SearchConfig
from venta_core.errors import ServiceUnavailable

from venta_algolia.settings import AlgoliaSettings

__all__ = [
    "CLIENT_ERRORS",
    "AlgoliaUnavailable",
    "Connection",
    "connect",
    "not_found",
    "unavailable",
]

log = logging.getLogger("venta_algolia")

#: What a call of the client raises when Algolia cannot be reached or refuses the call.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    AlgoliaException,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
)


class AlgoliaUnavailable(ServiceUnavailable):
    """Algolia failed a call: 503 on the route, a retry for the worker (not a poison event)."""

    default_message = "Vendor search is unavailable"


def _host(url: str) -> Host:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if not parts.hostname:
        raise ValueError(f"VENTA_ALGOLIA_HOSTS: no host in {url!r}")
    return Host(url=parts.hostname, scheme=parts.scheme or "https", port=parts.port)


class Connection:
    """A ``SearchClient`` and its hosts.

    The client skips a host for five minutes after a network error or a 5xx; once every host
    is skipped it fails at once without trying any. ``revive`` puts them all back in that case,
    so that a worker's retry, or the next search, reaches Algolia again as soon as it is back.
    """

    def __init__(self, client: SearchClient, hosts: HostsCollection) -> None:
        self.client = client
        self.hosts = hosts

    def revive(self) -> None:
        for group in (self.hosts.read(), self.hosts.write()):
            if not any(host.up for host in group):
                for host in group:
                    host.reset()


def connect(settings: AlgoliaSettings) -> Connection:
    if not settings.app_id or settings.api_key is None:
        raise ValueError("Algolia needs VENTA_ALGOLIA_APP_ID and VENTA_ALGOLIA_API_KEY")
    config = SearchConfig(settings.app_id, settings.api_key.get_secret_value())
    config.connect_timeout = round(settings.connect_timeout_seconds * 1000)
    config.read_timeout = round(settings.read_timeout_seconds * 1000)
    config.write_timeout = round(settings.write_timeout_seconds * 1000)
    if settings.hosts:
        config.hosts = HostsCollection([_host(url) for url in settings.hosts])
    client = SearchClient.create_with_config(config=config)
    assert config.hosts is not None  # set by the client when not overridden
    return Connection(client, config.hosts)


def not_found(exc: BaseException) -> bool:
    return isinstance(exc, RequestException) and exc.status_code == 404


def unavailable(operation: str, exc: BaseException) -> AlgoliaUnavailable:
    """Log a failed call (type, status and Algolia's message: never a header, so never the
    key) and return the error to raise."""
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    log.warning(
        "algolia %s failed: %s%s: %s",
        operation,
        type(exc).__name__,
        f" (HTTP {status})" if status is not None else "",
        message,
    )
    return AlgoliaUnavailable(details={"backend": "algolia", "operation": operation})
