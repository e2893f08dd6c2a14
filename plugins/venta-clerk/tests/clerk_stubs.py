"""Local stand-ins for Clerk: a JWKS endpoint on loopback, RS256 session tokens signed with
keys made here, and svix-signed webhook deliveries (the svix library signs them)."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from svix.webhooks import Webhook

from venta_clerk import ClerkSettings

ISSUER = "https://clerk.venta.test"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"ins_{uuid.uuid4().hex[:20]}", private)

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def token(self, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A Clerk-shaped session token; ``claims`` override (``None`` removes a claim)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "azp": "https://app.venta.test",
            "exp": now + 60,
            "iat": now,
            "iss": ISSUER,
            "nbf": now - 5,
            "sid": "sess_2abcDEFghiJKLmnoPQRstuVWxyz",
            "sub": "user_2abcDEFghiJKLmnoPQRstuVWxy",
            "v": 2,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.private, algorithm="RS256", headers={"kid": self.kid, **(headers or {})}
        )


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``/.well-known/jwks.json``; ``fail`` makes it answer 500."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.fail = False
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/.well-known/jwks.json"

    @contextmanager
    def running(self) -> Iterator[JwksServer]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if outer.fail or self.path != "/.well-known/jwks.json":
                    self.send_response(500 if outer.fail else 404)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [k.jwk() for k in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server = self._server
        thread = threading.Thread(target=lambda: server.serve_forever(0.02), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


def svix_headers(
    body: bytes, *, msg_id: str | None = None, secret: str = WEBHOOK_SECRET, at: float | None = None
) -> dict[str, str]:
    """The headers svix sends with ``body``, signed by the svix library."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex[:27]}"
    timestamp = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body.decode())
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(int(timestamp.timestamp())),
        "svix-signature": signature,
        "content-type": "application/json",
    }


_USER_CREATED: dict[str, Any] = {
    "data": {
        "backup_code_enabled": False,
        "banned": False,
        "birthday": "",
        "create_organization_enabled": True,
        "created_at": 1654012591514,
        "delete_self_enabled": True,
        "email_addresses": [
            {
                "created_at": 1654012591514,
                "email_address": "example@example.org",
                "id": "idn_29w83yL7CwVlJXylYLxcslromF1",
                "linked_to": [],
                "object": "email_address",
                "reserved": False,
                "updated_at": 1654012591835,
                "verification": {
                    "attempts": None,
                    "expire_at": None,
                    "status": "verified",
                    "strategy": "ticket",
                },
            }
        ],
        "external_accounts": [],
        "external_id": "567772",
        "first_name": "Example",
        "gender": "",
        "has_image": True,
        "id": "user_29w83sxmDNGwOuEthce5gg56FcC",
        "image_url": "https://img.clerk.com/xxxxxx",
        "last_active_at": 1654012591514,
        "last_name": "Example",
        "last_sign_in_at": 1654012591514,
        "locked": False,
        "object": "user",
        "passkeys": [],
        "password_enabled": True,
        "phone_numbers": [],
        "primary_email_address_id": "idn_29w83yL7CwVlJXylYLxcslromF1",
        "primary_phone_number_id": None,
        "primary_web3_wallet_id": None,
        "private_metadata": {},
        "profile_image_url": "https://www.gravatar.com/avatar?d=mp",
        "public_metadata": {},
        "saml_accounts": [],
        "totp_enabled": False,
        "two_factor_enabled": False,
        "unsafe_metadata": {},
        "updated_at": 1654012591835,
        "username": None,
        "web3_wallets": [],
    },
    "event_attributes": {
        "http_request": {
            "client_ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36",
        }
    },
    "instance_id": "ins_2Xb4oGpT0xdQ3hN0pK5Qd0W8hA1",
    "object": "event",
    "timestamp": 1654012591835,
    "type": "user.created",
}


def clerk_event(kind: str, user_id: str, **data: Any) -> bytes:
    """A Clerk webhook body as Clerk sends it (``user.deleted`` carries only the id)."""
    event = copy.deepcopy(_USER_CREATED)
    event["type"] = kind
    event["timestamp"] = int(time.time() * 1000)
    if kind == "user.deleted":
        event["data"] = {"deleted": True, "id": user_id, "object": "user"}
    else:
        event["data"].update({"id": user_id, **data})
    return json.dumps(event, separators=(",", ":")).encode()


def make_clerk_settings(jwks: JwksServer, **overrides: Any) -> ClerkSettings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "jwks_url": jwks.url,
        "webhook_secret": WEBHOOK_SECRET,
        **overrides,
    }
    return ClerkSettings(_env_file=None, **values)
