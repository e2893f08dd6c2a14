"""Built-in identity provider: HS256 development tokens."""

from __future__ import annotations

from venta_core.hookspecs import hookimpl
from venta_core.ports.identity import DevTokenProvider, IdentityProvider
from venta_core.settings import Settings


@hookimpl(trylast=True)
def venta_identity_provider(settings: Settings) -> IdentityProvider | None:
    return DevTokenProvider(settings.auth)
