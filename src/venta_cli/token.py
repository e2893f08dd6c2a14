"""``venta token``: development bearer tokens, printed bare so ``TOKEN=$(venta token issue ...)``
works."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from venta_cli.errors import fail, settings_or_exit
from venta_cli.help import examples

__all__ = ["parse_claims", "token_app"]

#: Claims the token sets itself (from --sub, --ttl and the auth settings).
RESERVED_CLAIMS = frozenset({"sub", "iss", "aud", "iat", "nbf", "exp"})

token_app = typer.Typer(
    help="Development tokens (HS256, auth.dev_secret).",
    epilog=examples("venta token issue --sub alice"),
    no_args_is_help=True,
)


def parse_claims(items: list[str]) -> dict[str, Any]:
    """``["role=admin", "level=3"]`` -> ``{"role": "admin", "level": 3}``; values that parse as
    JSON (numbers, true/false, lists, objects) are taken as JSON, anything else as a string."""
    claims: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--claim {item!r}: expected key=value")
        if key in RESERVED_CLAIMS:
            raise ValueError(f"--claim {key}: set by the token itself (use --sub / --ttl)")
        try:
            claims[key] = json.loads(raw)
        except ValueError:
            claims[key] = raw
    return claims


@token_app.command(
    epilog=examples(
        "venta token issue --sub alice",
        'TOKEN=$(venta token issue --sub alice --ttl 600) && curl -H "Authorization: Bearer '
        '$TOKEN" http://127.0.0.1:8000/v1/me',
        "venta token issue --sub user_2abc --claim role=admin",
    )
)
def issue(
    sub: Annotated[
        str,
        typer.Option(
            "--sub",
            metavar="SUBJECT",
            help="The token's subject (`sub` claim): the user's id at the identity provider "
            "(alice, or a Clerk id such as user_2abc), not a venta user id. The first request "
            "with the token creates that user; the same --sub is the same user.",
        ),
    ],
    ttl: Annotated[
        int, typer.Option("--ttl", min=1, metavar="SECONDS", help="Lifetime in seconds.")
    ] = 3600,
    claim: Annotated[
        list[str] | None,
        typer.Option(
            "--claim",
            metavar="KEY=VALUE",
            help="Extra claim (JSON values allowed: level=3, 'roles=[\"admin\"]'); repeatable.",
        ),
    ] = None,
) -> None:
    """Print a development token for the user --sub, signed with VENTA_AUTH__DEV_SECRET
    (nothing else on stdout, so TOKEN=$(venta token issue --sub alice) works)."""
    from venta_core.ports.identity import DevTokenProvider

    settings = settings_or_exit()
    if not settings.auth.dev_tokens:
        fail("development tokens are disabled (VENTA_AUTH__DEV_TOKENS=false)")
    if not sub.strip() or len(sub) > 255:
        fail("--sub must be 1 to 255 characters", code=2)
    try:
        claims = parse_claims(claim or [])
    except ValueError as exc:
        fail(str(exc), code=2)
    typer.echo(DevTokenProvider(settings.auth).issue(sub, ttl_seconds=ttl, claims=claims))
