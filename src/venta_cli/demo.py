"""`venta demo seed`: a few vendors around a city, and tokens to try the API with;
`venta demo simulate`: live traffic against a running server."""

from __future__ import annotations

import asyncio
import random
from typing import Annotated

import typer

from venta_cli.errors import settings_or_exit, user_errors
from venta_cli.help import examples

demo_app = typer.Typer(
    help="Demo data and traffic.",
    epilog=examples("venta demo seed", "venta demo simulate"),
    no_args_is_help=True,
)

CITIES: dict[str, tuple[float, float]] = {
    "berlin": (52.5200, 13.4050),
    "london": (51.5072, -0.1276),
    "new-york": (40.7128, -74.0060),
    "paris": (48.8566, 2.3522),
    "san-francisco": (37.7749, -122.4194),
    "tokyo": (35.6762, 139.6503),
}
NAMES = [
    "Taco Truck",
    "Falafel Stand",
    "Coffee Cart",
    "Crepe Corner",
    "Dumpling Wagon",
    "Ice Cream Bike",
    "Pretzel Stall",
    "Ramen Van",
    "Smoothie Stop",
    "Waffle Wheels",
]


async def _seed(city: str, count: int, seed: int) -> list[tuple[str, str, float, float]]:
    from venta_core.app import Venta
    from venta_core.domain import Actor, Location, VendorCreate

    rng = random.Random(seed)  # noqa: S311 - demo positions, not secrets
    lat0, long0 = CITIES[city]
    created: list[tuple[str, str, float, float]] = []
    async with Venta(settings_or_exit()) as app:
        owner = await app.users.ensure_user("demo-vendor-owner")
        await app.users.ensure_user("demo-user")
        actor = Actor.for_user(owner)
        for i in range(count):
            name = f"{NAMES[i % len(NAMES)]} #{i + 1}"
            vendor = await app.vendors.create_vendor(
                actor, VendorCreate(name=name, description=f"Demo vendor in {city}", open=True)
            )
            lat = lat0 + rng.uniform(-0.03, 0.03)
            long = long0 + rng.uniform(-0.05, 0.05)
            await app.locations.update_vendor_location(
                actor, vendor.id, Location(lat=lat, long=long)
            )
            created.append((vendor.id, name, lat, long))
    return created


@demo_app.command(
    "seed", epilog=examples("venta demo seed", "venta demo seed --city paris --vendors 20")
)
def seed(
    city: Annotated[
        str, typer.Option(help=f"One of: {', '.join(CITIES)}.", show_default=True)
    ] = "berlin",
    vendors: Annotated[int, typer.Option(min=1, max=1000, help="How many vendors.")] = 8,
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed for positions.")] = 7,
) -> None:
    """Create demo vendors with live positions and print tokens and curl commands."""
    if city not in CITIES:
        typer.echo(f"error: unknown city {city!r}; choose one of {', '.join(CITIES)}", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    with user_errors():
        created = asyncio.run(_seed(city, vendors, random_seed))
    from venta_core.ports.identity import DevTokenProvider

    tokens = DevTokenProvider(settings.auth)
    owner_token = tokens.issue("demo-vendor-owner", ttl_seconds=86_400)
    user_token = tokens.issue("demo-user", ttl_seconds=86_400)
    lat0, long0 = CITIES[city]
    base = f"http://{settings.http.host}:{settings.http.port}"
    typer.echo(f"Created {len(created)} vendors around {city}:")
    for vendor_id, name, lat, long in created:
        typer.echo(f"  {vendor_id}  {name:<22} {lat:.5f}, {long:.5f}")
    typer.echo("\nTokens (valid 24 h):")
    typer.echo(f"  owner: {owner_token}")
    typer.echo(f"  user:  {user_token}")
    typer.echo("\nTry (with `venta serve all` running):")
    typer.echo(f'  curl -H "Authorization: Bearer {user_token}" \\')
    typer.echo(f'    "{base}/v1/vendors/nearby?lat={lat0}&long={long0}&radius=5000&limit=5"')
    typer.echo(f'  curl -H "Authorization: Bearer {owner_token}" {base}/v1/me/vendors')


@demo_app.command(
    "simulate",
    epilog=examples(
        "venta demo simulate",
        "venta demo simulate --url http://127.0.0.1:9000 --vendors 100 --users 500",
    ),
)
def simulate_cmd(
    url: Annotated[
        str, typer.Option(help="HTTP URL of a running server (`venta serve all`).")
    ] = "http://127.0.0.1:8000",
    ws_url: Annotated[
        str | None,
        typer.Option("--ws-url", help="URL of the real-time gateway (default: --url)."),
    ] = None,
    vendors: Annotated[int, typer.Option(min=1, max=10_000, help="Moving vendors.")] = 20,
    users: Annotated[int, typer.Option(min=1, max=10_000, help="Watching users.")] = 50,
    duration: Annotated[float, typer.Option(min=1, help="Seconds to run.")] = 30.0,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between a vendor's position updates.")
    ] = 2.0,
    city: Annotated[str, typer.Option(help=f"One of: {', '.join(CITIES)}.")] = "berlin",
) -> None:
    """Drive a running server with moving vendors and panning users; print delivered
    messages/s and delivery latency p50/p99. Tokens are minted from the local settings, so
    the server must share VENTA_AUTH__DEV_SECRET."""
    if city not in CITIES:
        typer.echo(f"error: unknown city {city!r}; choose one of {', '.join(CITIES)}", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    from venta_cli.simulate import simulate
    from venta_core.ports.identity import DevTokenProvider

    provider = DevTokenProvider(settings.auth)
    with user_errors():
        try:
            result = asyncio.run(
                simulate(
                    url=url,
                    ws_url=ws_url or url,
                    tokens=lambda sub: provider.issue(sub, ttl_seconds=int(duration) + 3600),
                    center=CITIES[city],
                    vendors=vendors,
                    users=users,
                    duration=duration,
                    interval=interval,
                )
            )
        except (ConnectionError, OSError) as exc:
            raise OSError(f"cannot drive {url}: {exc}") from None
    p50, p99 = result.percentile(50), result.percentile(99)
    typer.echo(f"vendor updates sent:  {result.updates_sent}")
    typer.echo(f"deliveries:           {result.delivered} ({result.per_second:.1f}/s)")
    shown = "n/a" if p50 is None else f"{p50:.1f} ms / {p99:.1f} ms"
    typer.echo(f"latency p50 / p99:    {shown}")
    if result.errors:
        typer.echo(
            "errors:               " + ", ".join(f"{k} x{v}" for k, v in result.errors.items())
        )
