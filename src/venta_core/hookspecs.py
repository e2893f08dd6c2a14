"""Every hook a venta plugin can implement. This module is the plugin author's reference;
``docs/plugins.md`` documents each hook and a test keeps the two in step.

Pluggy hooks are synchronous. A hook that needs to do I/O returns an awaitable, which venta
awaits (see ``venta_core.plugins.await_maybe``). Most hooks *register* things once at start;
runtime work happens in the objects they return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from venta_core.app import Venta
    from venta_core.events import EventHandler
    from venta_core.ports.bus import EventBus
    from venta_core.ports.geo import GeoIndex
    from venta_core.ports.identity import IdentityProvider
    from venta_core.ports.kv import KeyValueStore
    from venta_core.ports.presence import PresenceStore
    from venta_core.ports.search import SearchIndex
    from venta_core.ports.stream import EventStream
    from venta_core.ports.uploads import UploadStore
    from venta_core.settings import Settings
    from venta_core.store.branches import PluginMigrations
    from venta_core.transports.realtime.extensions import RealtimeHandler

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("venta")
hookimpl = pluggy.HookimplMarker("venta")


# --- providers: the first plugin that answers wins -------------------------------------------


@hookspec(firstresult=True)
def venta_identity_provider(settings: Settings) -> IdentityProvider | None:
    """Return the identity provider that verifies bearer tokens (HTTP, real-time, gRPC edge).

    The built-in provider verifies HS256 development tokens; it is registered ``trylast`` so
    any plugin answering this hook (for example venta-clerk) replaces it.
    """


@hookspec(firstresult=True)
def venta_geo_index(app: Venta) -> GeoIndex | None:
    """Return the geo index holding vendors' live positions (box and radius queries).

    Built-ins, both ``trylast``: Redis GEO keyed by region when ``VENTA_REDIS_URL`` is set
    (``venta_core.builtins.redis``, on ``app.redis_connection()``), else the in-process grid
    (``venta_core.builtins.memory``). An implementation passes ``GeoIndexContract``
    (``venta_core.testing``).
    """


@hookspec(firstresult=True)
def venta_key_value_store(app: Venta) -> KeyValueStore | None:
    """Return the key-value store of rate-limit counters and short-lived values.

    Built-ins, both ``trylast``: Redis when ``VENTA_REDIS_URL`` is set, else in-process. An
    implementation passes ``KeyValueContract`` (``venta_core.testing``).
    """


@hookspec(firstresult=True)
def venta_presence_store(app: Venta) -> PresenceStore | None:
    """Return the presence store: which connection holds each connected vendor, until when.

    Built-ins, both ``trylast``: Redis when ``VENTA_REDIS_URL`` is set, else in-process. An
    implementation passes ``PresenceContract`` (``venta_core.testing``).
    """


@hookspec(firstresult=True)
def venta_event_bus(app: Venta) -> EventBus | None:
    """Return the event bus: publish/subscribe with NATS subject rules and queue groups.

    Built-ins, both ``trylast``: core NATS when ``VENTA_NATS_URL`` is set (the bus is
    ``app.nats_connection()``), else in-process. An implementation passes ``EventBusContract``
    (``venta_core.testing``).
    """


@hookspec(firstresult=True)
def venta_event_stream(app: Venta) -> EventStream | None:
    """Return the durable event stream the outbox relay publishes to and the worker consumes.

    Asked after the event bus (``app.bus`` is set). Built-ins, both ``trylast``: JetStream on
    ``app.nats_connection()`` when ``VENTA_NATS_URL`` is set, else in-process. An
    implementation passes ``EventStreamContract`` (``venta_core.testing``).
    """


@hookspec(firstresult=True)
def venta_search_index(app: Venta) -> SearchIndex | None:
    """Return the vendor search index the worker feeds and the search route reads.

    The built-in index is full text over the database (PostgreSQL full-text search, SQLite
    FTS5); venta-algolia answers this hook to use Algolia instead.
    """


@hookspec(firstresult=True)
def venta_upload_store(app: Venta) -> UploadStore | None:
    """Return the store that keeps uploaded images and gives back their public URL.

    The built-in store writes to a local directory served by the gateway; a plugin answers this
    hook to replace it (venta-s3, venta-cloudinary), or ``None`` when it is not configured.
    Unlike the other providers, a store is exclusive: when two plugins answer, the process
    refuses to start and names both (block one with ``VENTA_PLUGINS_BLOCKED``). It is asked
    once, when the application is built; the upload routes and the worker's image clean-up
    handler share it. A store with ``start``/``stop`` is started and stopped with the
    application.
    """


# --- registration: every plugin may add ------------------------------------------------------


@hookspec
def venta_event_handlers(app: Venta) -> list[EventHandler] | None:
    """Return handlers of durable domain events (``vendor.created``, ``user.deleted``, ...).

    The worker role runs them from a durable consumer: at-least-once delivery, so a handler
    must be idempotent. Each handler names the event types it wants.
    """


@hookspec
def venta_http_routers(app: Venta) -> list[APIRouter] | None:
    """Return FastAPI routers to mount on the HTTP gateway (after the built-in routes)."""


@hookspec
def venta_cli_commands(cli: typer.Typer) -> None:
    """Add commands or sub-command groups to the ``venta`` CLI."""


# --- lifecycle -------------------------------------------------------------------------------


@hookspec
def venta_startup(app: Venta) -> Any:
    """Called once the application's ports and services have started. May return an
    awaitable. Raising here stops the process from starting."""


@hookspec
def venta_shutdown(app: Venta) -> Any:
    """Called before the application's ports stop. May return an awaitable. Errors are logged
    and do not interrupt shutdown."""


# --- plugins' own tables ---------------------------------------------------------------------


@hookspec
def venta_migrations(settings: Settings) -> PluginMigrations | None:
    """Return the plugin's own migrations: ``PluginMigrations(name, directory, metadata)``.

    Its revisions in ``directory`` are an Alembic branch labelled ``name``, whose first
    revision ``depends_on`` the venta revision it needs. ``venta db migrate`` and
    migrate-at-start run venta's and every plugin's to their newest (``heads``), ``venta db
    current`` shows each branch, the start-up check wants each at its newest, and ``venta db
    revision --plugin NAME`` writes the branch's next revision. Return ``None`` for no tables.
    """


# --- the real-time gateway -------------------------------------------------------------------


@hookspec
def venta_realtime_handlers(app: Venta) -> list[RealtimeHandler[Any]] | None:
    """Return Socket.IO events to add on ``/user`` or ``/vendor``: ``RealtimeHandler(namespace,
    event, payload_model, handle)``.

    Called when a real-time gateway is built. Each event runs like the built-in ones: on
    authenticated connections, within the identity's rate limit, its payload validated into
    ``payload_model``; ``handle(caller, payload)`` answers ``None``, an acknowledgement or
    ``Emit(event, data)``, and a ``VentaError`` it raises reaches the client as ``error``.
    """


@hookspec
def venta_vendor_presence(app: Venta, vendor_id: str, online: bool) -> Any:
    """Called when a vendor goes online (starts publishing through a connection, again after a
    reconnect) or offline (once, by the process that takes its expired hold). May return an
    awaitable; errors are logged and change nothing."""
