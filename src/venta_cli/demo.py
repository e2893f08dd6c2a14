"""`venta demo seed`: a few vendors around a city, and tokens to try the API with (how and
where they are written: ``venta_cli.demo_seed``); `venta demo simulate`: live traffic against
a running server (``venta_cli.simulate``)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

import typer

from venta_cli.demo_seed import CITIES, OWNER_SUBJECT, USER_SUBJECT, Seeded
from venta_cli.errors import fail, settings_or_exit, user_errors
from venta_cli.help import examples
from venta_core.settings import Settings

if TYPE_CHECKING:
    from venta_cli.api_client import ApiError

demo_app = typer.Typer(
    help="Demo data and traffic.",
    epilog=examples("venta demo seed", "venta demo simulate"),
    no_args_is_help=True,
)

TOKEN_TTL_SECONDS = 86_400
URL_HELP = (
    "HTTP URL of the running server. Default: http://127.0.0.1:8000, or the port "
    "VENTA_HTTP__PORT sets."
)


def _city_or_exit(city: str) -> tuple[float, float]:
    if city not in CITIES:
        fail(f"unknown city {city!r}; choose one of {', '.join(CITIES)}", code=2)
    return CITIES[city]


def _place_or_exit(place: str) -> tuple[float, float]:
    """A city the demo knows, or ``LAT,LONG``."""
    name = place.strip().lower()
    if name in CITIES:
        return CITIES[name]
    lat_text, comma, long_text = place.partition(",")
    try:
        lat, long = float(lat_text), float(long_text)
    except ValueError:
        lat = long = math.nan
    if not comma or not (-85 <= lat <= 85 and -180 <= long <= 180):
        fail(
            f"--around {place!r}: give one of {', '.join(CITIES)}, or LAT,LONG "
            "(lat in [-85, 85], long in [-180, 180])",
            code=2,
        )
    return lat, long


def map_url(base: str, token: str, center: tuple[float, float], zoom: int = 14) -> str:
    """The live map page at ``center``, connected as the holder of ``token``."""
    query = urlencode({"token": token, "lat": f"{center[0]:.5f}", "long": f"{center[1]:.5f}"})
    return f"{base}/map?{query}&zoom={zoom}"


@demo_app.command(
    "seed", epilog=examples("venta demo seed", "venta demo seed --city paris --vendors 20")
)
def seed(
    city: Annotated[
        str, typer.Option(help=f"One of: {', '.join(CITIES)}.", show_default=True)
    ] = "berlin",
    vendors: Annotated[int, typer.Option(min=1, max=1000, help="How many vendors.")] = 8,
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed for positions.")] = 7,
    url: Annotated[
        str | None,
        typer.Option(
            help=URL_HELP + " When no server answers at the default URL, the vendors are "
            "written to the configured database directly."
        ),
    ] = None,
) -> None:
    """Create demo vendors with live positions and print tokens and curl commands. The
    vendors are created through the HTTP API of the running server (`venta serve all`), so its
    map and search show them at once; with no server answering at the default URL they are
    written to the configured database, and `venta serve` picks them up as it starts. Running
    it again reuses the demo owner's vendors of the same names and refreshes their positions.
    Tokens are minted from the local settings: the server must share VENTA_AUTH__DEV_SECRET."""
    from venta_cli.api_client import ApiError, answers, local_url
    from venta_cli.demo_seed import plan, seed_embedded, seed_over_http
    from venta_core.ports.identity import DevTokenProvider

    center = _city_or_exit(city)
    settings = settings_or_exit()
    planned = plan(city, vendors, random_seed)
    provider = DevTokenProvider(settings.auth)

    def mint(subject: str) -> str:
        return provider.issue(subject, ttl_seconds=TOKEN_TTL_SECONDS)

    def on_wait(seconds: float) -> None:
        typer.echo(f"rate-limited by the server; waiting {seconds:.0f} s", err=True)

    base = (url or local_url(settings)).rstrip("/")
    embedded = not asyncio.run(answers(base))
    if embedded and url is not None:
        fail(f"no server answers at {base}; start `venta serve all` or leave out --url")
    if embedded:
        typer.echo(f"No server answers at {base}: writing to the database directly.")
    with user_errors():
        try:
            if embedded:
                seeded = asyncio.run(seed_embedded(settings, city, planned))
            else:
                seeded = asyncio.run(seed_over_http(base, mint, city, planned, on_wait=on_wait))
        except ApiError as exc:
            fail(_api_failure(base, exc))
    where = _database_label(settings) if embedded else base
    _report(seeded, city, center, where, base, mint, embedded=embedded)


def _report(
    seeded: list[Seeded],
    city: str,
    center: tuple[float, float],
    where: str,
    base: str,
    mint: Callable[[str], str],
    *,
    embedded: bool,
) -> None:
    created = sum(s.created for s in seeded)
    owner_token, user_token = mint(OWNER_SUBJECT), mint(USER_SUBJECT)
    typer.echo(
        f"Seeded {len(seeded)} vendors around {city} {'into' if embedded else 'through'} "
        f"{where} ({created} created, {len(seeded) - created} reused):"
    )
    for s in seeded:
        typer.echo(f"  {s.id}  {s.name:<22} {s.lat:.5f}, {s.long:.5f}")
    typer.echo("\nTokens (valid 24 h):")
    typer.echo(f"  owner: {owner_token}")
    typer.echo(f"  user:  {user_token}")
    if embedded:
        typer.echo(
            "\nStart `venta serve all` with the same settings in this directory: it loads "
            "their positions and indexes them for search as it starts. Then try:"
        )
    else:
        typer.echo("\nTry:")
    lat0, long0 = center
    word = seeded[0].name.split()[0].lower()
    typer.echo(f'  curl -H "Authorization: Bearer {user_token}" \\')
    typer.echo(f'    "{base}/v1/vendors/nearby?lat={lat0}&long={long0}&radius=5000&limit=5"')
    typer.echo(f'  curl -H "Authorization: Bearer {user_token}" \\')
    typer.echo(f'    "{base}/v1/search/vendors?q={word}"')
    typer.echo(f'  curl -H "Authorization: Bearer {owner_token}" {base}/v1/me/vendors')


def _database_label(settings: Settings) -> str:
    """The database written: a SQLite file's absolute path, else the URL without password."""
    from sqlalchemy.engine import make_url

    from venta_core.store.engine import redact_url

    database = make_url(settings.database_url).database
    if settings.is_sqlite and database and database != ":memory:":
        return str(Path(database).resolve())
    return redact_url(settings.database_url)


def _api_failure(base: str, exc: ApiError) -> str:
    if exc.code == "UNAUTHENTICATED":
        return (
            f"the server at {base} refused the development token ({exc}); it must run with "
            "the same VENTA_AUTH__DEV_SECRET, and with VENTA_AUTH__DEV_TOKENS on"
        )
    return f"the server at {base} answered {exc}"


@demo_app.command(
    "simulate",
    epilog=examples(
        "venta demo simulate",
        "venta demo simulate --around berlin",
        "venta demo simulate --around 48.137,11.575 --vendors 30",
        "venta demo simulate --url http://127.0.0.1:9000 --vendors 100 --users 500",
    ),
)
def simulate_cmd(
    url: Annotated[str | None, typer.Option(help=URL_HELP)] = None,
    ws_url: Annotated[
        str | None,
        typer.Option("--ws-url", help="URL of the real-time gateway (default: --url)."),
    ] = None,
    vendors: Annotated[int, typer.Option(min=1, max=10_000, help="Moving vendors.")] = 20,
    users: Annotated[int, typer.Option(min=1, max=10_000, help="Watching users.")] = 50,
    duration: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Seconds to run. Default: 30, or until Ctrl-C with --around.",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between a vendor's position updates.")
    ] = 2.0,
    city: Annotated[str, typer.Option(help=f"One of: {', '.join(CITIES)}.")] = "berlin",
    around: Annotated[
        str | None,
        typer.Option(
            help=f"Drive around a place until Ctrl-C: one of {', '.join(CITIES)}, or LAT,LONG. "
            "Vendors head for waypoints within 3 km at 5-15 m/s; prints the /map URL to watch.",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the simulated users and vendors at the end."),
    ] = False,
) -> None:
    """Drive a running server with moving vendors and panning users; print delivered
    messages/s and delivery latency p50/p99. The users and vendors it creates are deleted when
    it ends, also when Ctrl-C stops it early (a second Ctrl-C skips that), unless --keep.
    Tokens are minted from the local settings, so the server must share
    VENTA_AUTH__DEV_SECRET."""
    from venta_cli.api_client import ApiError, local_url
    from venta_cli.simulate import SimulationResult, simulate
    from venta_core.ports.identity import DevTokenProvider

    center = _city_or_exit(city) if around is None else _place_or_exit(around)
    if duration is None and around is None:
        duration = 30.0
    settings = settings_or_exit()
    base = (url or local_url(settings)).rstrip("/")
    provider = DevTokenProvider(settings.auth)
    ttl = TOKEN_TTL_SECONDS if duration is None else int(duration) + 3600
    how_long = "until Ctrl-C" if duration is None else f"for {duration:g} s (Ctrl-C stops early)"
    typer.echo(
        f"Simulating {vendors} vendors and {users} watching users against {base} {how_long}."
    )

    def on_watch(token: str) -> None:
        if around is not None:
            typer.echo(f"Watch them live: {map_url(base, token, center)}")

    with user_errors():
        try:
            result: SimulationResult = asyncio.run(
                simulate(
                    url=base,
                    ws_url=ws_url or base,
                    tokens=lambda sub: provider.issue(sub, ttl_seconds=ttl),
                    center=center,
                    vendors=vendors,
                    users=users,
                    duration=duration,
                    interval=interval,
                    keep=keep,
                    route=around is not None,
                    on_watch=on_watch if around is not None else None,
                    on_interrupt=lambda: typer.echo(
                        "Stopping"
                        + ("." if keep else "; removing what it created (Ctrl-C again leaves it)."),
                        err=True,
                    ),
                )
            )
        except ApiError as exc:
            fail(_api_failure(base, exc))
        except (ConnectionError, OSError) as exc:
            raise OSError(f"cannot drive {base}: {exc}") from None
    p50, p99 = result.percentile(50), result.percentile(99)
    if result.interrupted:
        typer.echo("Interrupted.")
    typer.echo(f"vendor updates sent:  {result.updates_sent}")
    typer.echo(f"deliveries:           {result.delivered} ({result.per_second:.1f}/s)")
    shown = "n/a" if p50 is None else f"{p50:.1f} ms / {p99:.1f} ms"
    typer.echo(f"latency p50 / p99:    {shown}")
    if result.errors:
        typer.echo(
            "errors:               " + ", ".join(f"{k} x{v}" for k, v in result.errors.items())
        )
    created = f"{result.vendors} vendors, {result.users} users"
    if result.removed:
        typer.echo(f"removed:              {created}")
    else:
        typer.echo(f"kept:                 {created} (subjects sim-*-{result.run}-<n>)")
    if result.interrupted:
        raise typer.Exit(130)
