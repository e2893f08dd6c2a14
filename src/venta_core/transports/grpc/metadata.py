"""Request id and acting identity across gRPC hops.

Every call carries two metadata entries:

* ``x-request-id``: the request id of the current ``RequestContext`` (a new one if none);
* ``x-venta-identity``: the acting ``Actor``, signed by the calling process.

The identity token is ``v1.<payload>.<mac>``: ``payload`` is base64url(JSON of the actor's
``user_id``, ``external_id`` and ``system`` flag, the request id, the full method name and an
expiry time) and ``mac`` is base64url(HMAC-SHA256(secret, "venta-identity.v1." + payload)).
The secret is ``grpc.identity_secret``, shared by the processes of one deployment. During a
rotation, ``grpc.identity_secret_accepted`` holds a second secret: tokens are signed with
``identity_secret`` only, and a MAC made with either one is accepted, so processes that sign
with the old secret and processes that sign with the new one understand each other while they
restart. A server
accepts a token only when the MAC matches (constant-time compare), it has not expired (nor
expires further ahead than the configured lifetime allows), and it was minted for this very
request id and method, so a token seen on the wire cannot be replayed onto another RPC.

The verified actor is what servicers pass to the services: an actor is never read from a
request body. The server interceptor also installs the ``RequestContext`` (request id, user),
so logs and events of the serving process carry the caller's request id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import grpc.aio

from venta_core.context import (
    RequestContext,
    current,
    new_request_id,
    request_context,
    sanitize_request_id,
)
from venta_core.domain import Actor
from venta_core.errors import Unauthenticated
from venta_core.transports.grpc.errors import abort_with

__all__ = [
    "IDENTITY_KEY",
    "PROTECTED_PREFIX",
    "REQUEST_ID_KEY",
    "IdentityClientInterceptor",
    "IdentityServerInterceptor",
    "IdentitySigner",
    "acting_as",
    "verified_actor",
]

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"
IDENTITY_KEY = "x-venta-identity"
#: Methods whose calls need a signed identity (health and reflection stay open).
PROTECTED_PREFIX = "/venta.v1."

_VERSION = "v1"
_MAC_CONTEXT = b"venta-identity.v1."
_MAX_TOKEN_CHARS = 4096

_calling_actor: ContextVar[Actor | None] = ContextVar("venta_grpc_calling_actor", default=None)
_verified_actor: ContextVar[Actor | None] = ContextVar("venta_grpc_verified_actor", default=None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class IdentitySigner:
    """Signs identity tokens with a shared secret; verifies them with it or ``also_accepted``."""

    def __init__(
        self,
        secret: bytes,
        *,
        also_accepted: bytes | None = None,
        ttl_seconds: float = 30.0,
        skew_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16 or (also_accepted is not None and len(also_accepted) < 16):
            raise ValueError("the identity secret must be at least 16 bytes long")
        self._secret = secret
        self._accepted = (secret,) if also_accepted is None else (secret, also_accepted)
        self._ttl = ttl_seconds
        self._skew = skew_seconds
        self._clock = clock

    def _mac(self, payload: str, secret: bytes | None = None) -> str:
        """The MAC of ``payload`` with ``secret``, by default the signing one."""
        key = self._secret if secret is None else secret
        digest = hmac.new(key, _MAC_CONTEXT + payload.encode("ascii"), hashlib.sha256)
        return _b64(digest.digest())

    def sign(self, actor: Actor, request_id: str, method: str) -> str:
        claims = {
            "uid": actor.user_id,
            "ext": actor.external_id,
            "sys": actor.system,
            "rid": request_id,
            "mth": method,
            "exp": round(self._clock() + self._ttl, 3),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{_VERSION}.{payload}.{self._mac(payload)}"

    def verify(self, token: str | None, request_id: str | None, method: str) -> Actor:
        """The actor of a valid token; ``Unauthenticated`` (with a reason) otherwise."""
        if not token:
            raise _refused("missing")
        parts = token.split(".")
        if len(token) > _MAX_TOKEN_CHARS or len(parts) != 3 or parts[0] != _VERSION:
            raise _refused("malformed")
        _, payload, mac = parts
        if not (payload.isascii() and mac.isascii()):
            raise _refused("malformed")
        # Every accepted secret is compared, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(self._mac(payload, key), mac) for key in self._accepted]
        if not any(matches):
            raise _refused("bad signature")
        claims = _claims(payload)
        now = self._clock()
        if now > claims["exp"] + self._skew:
            raise _refused("expired")
        if claims["exp"] > now + self._ttl + self._skew:
            raise _refused("lifetime too long")
        if claims["rid"] != request_id or claims["mth"] != method:
            raise _refused("minted for another call")
        return Actor(user_id=claims["uid"], external_id=claims["ext"], system=claims["sys"])


def _refused(reason: str) -> Unauthenticated:
    return Unauthenticated("Invalid service identity", details={"reason": reason})


def _claims(payload: str) -> dict[str, Any]:
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        raise _refused("malformed") from None
    expected: dict[str, tuple[type, ...]] = {
        "uid": (str, type(None)),
        "ext": (str, type(None)),
        "sys": (bool,),
        "rid": (str,),
        "mth": (str,),
        "exp": (int, float),
    }
    if not isinstance(claims, dict) or any(
        not isinstance(claims.get(key, ...), kinds) for key, kinds in expected.items()
    ):
        raise _refused("malformed")
    return claims


# -- client side ---------------------------------------------------------------------------------


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Calls made inside act for ``actor`` (``None``: the current request's user, if any)."""
    token = _calling_actor.set(actor)
    try:
        yield
    finally:
        _calling_actor.reset(token)


def _context_actor(ctx: RequestContext | None) -> Actor:
    """The actor of a call that names none: the request's user, else anonymous."""
    if ctx is not None and ctx.user_id is not None:
        return Actor(user_id=ctx.user_id, external_id=ctx.identity)
    return Actor(user_id=None)


class IdentityClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds ``x-request-id`` and a freshly signed ``x-venta-identity`` to every call."""

    def __init__(self, signer: IdentitySigner) -> None:
        self._signer = signer

    async def intercept_unary_unary(
        self,
        continuation: Callable[[Any, Any], Awaitable[Any]],
        client_call_details: Any,
        request: Any,
    ) -> Any:
        ctx = current()
        request_id = ctx.request_id if ctx is not None else new_request_id()
        actor = _calling_actor.get() or _context_actor(ctx)
        method = client_call_details.method
        method = method.decode("ascii") if isinstance(method, bytes) else str(method)
        metadata = grpc.aio.Metadata(
            *[
                (k, v)
                for k, v in (client_call_details.metadata or ())
                if k not in (REQUEST_ID_KEY, IDENTITY_KEY)
            ]
        )
        metadata.add(REQUEST_ID_KEY, request_id)
        metadata.add(IDENTITY_KEY, self._signer.sign(actor, request_id, method))
        return await continuation(client_call_details._replace(metadata=metadata), request)


# -- server side ---------------------------------------------------------------------------------


def verified_actor() -> Actor:
    """The actor of the call being served, as verified from its metadata."""
    actor = _verified_actor.get()
    if actor is None:
        raise Unauthenticated("No verified service identity for this call")
    return actor


def _first(metadata: Any, key: str) -> str | None:
    for k, v in metadata or ():
        if k == key:
            return v if isinstance(v, str) else None
    return None


class IdentityServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Verifies ``x-venta-identity`` on venta methods and serves them in the caller's context."""

    def __init__(self, signer: IdentitySigner, protected_prefix: str = PROTECTED_PREFIX) -> None:
        self._signer = signer
        self._prefix = protected_prefix

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(self._prefix):
            return handler
        metadata = handler_call_details.invocation_metadata
        raw_request_id = _first(metadata, REQUEST_ID_KEY)
        try:
            if handler.unary_unary is None:
                raise Unauthenticated("venta methods are unary")
            actor = self._signer.verify(_first(metadata, IDENTITY_KEY), raw_request_id, method)
        except Unauthenticated as exc:
            log.warning("refused %s: %s (%s)", method, exc.message, exc.details.get("reason"))
            return _refusing_handler(exc)
        ctx = RequestContext(
            request_id=sanitize_request_id(raw_request_id),
            identity=actor.external_id,
            user_id=actor.user_id,
        )
        return _in_context(handler, ctx, actor)


def _refusing_handler(error: Unauthenticated) -> Any:
    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await abort_with(context, error)

    return grpc.unary_unary_rpc_method_handler(refuse)


def _in_context(handler: Any, ctx: RequestContext, actor: Actor) -> Any:
    inner = handler.unary_unary

    async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
        token = _verified_actor.set(actor)
        try:
            with request_context(ctx):
                return await inner(request, context)
        finally:
            _verified_actor.reset(token)

    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
