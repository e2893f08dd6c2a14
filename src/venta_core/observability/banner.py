"""The start-up banner: one INFO line, once a process serves, listing what it serves and where.

Written after the listening sockets are bound and the application has started, so the ports are
the real ones (``--port 0`` shows the port the system chose) and a process that fails to start
prints no banner. For example, in the text format (logger ``venta``, then the message)::

    venta serving gateway, ws, worker: API http://127.0.0.1:8000, docs
    http://127.0.0.1:8000/docs, real-time http://127.0.0.1:8000/socket.io/, metrics
    http://127.0.0.1:8000/metrics
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

__all__ = ["announce", "http_endpoints", "url"]

log = logging.getLogger("venta")


def url(host: str, port: int, path: str = "") -> str:
    """``http://host:port/path``, brackets around an IPv6 host."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def http_endpoints(host: str, port: int, roles: Iterable[str]) -> dict[str, str]:
    """What an HTTP listener serving ``roles`` (gateway and/or ws) offers."""
    roles = set(roles)
    endpoints: dict[str, str] = {}
    if "gateway" in roles:
        endpoints["API"] = url(host, port)
        endpoints["docs"] = url(host, port, "/docs")
    if "ws" in roles:
        endpoints["real-time"] = url(host, port, "/socket.io/")
    if "gateway" not in roles:
        endpoints["health"] = url(host, port, "/health")
    endpoints["metrics"] = url(host, port, "/metrics")
    return endpoints


def announce(what: str, endpoints: Mapping[str, str]) -> None:
    """Log the banner (logger ``venta``): ``serving <what>: <name> <address>, ...``."""
    if not endpoints:
        log.info("serving %s", what)
        return
    listed = ", ".join(f"{name} {address}" for name, address in endpoints.items())
    log.info("serving %s: %s", what, listed)
