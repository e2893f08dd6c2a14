"""`venta demo seed` as a real process: through a running `venta serve all` (from any
directory), again without duplicates, and into the database when no server answers."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.cli.demo_server import (
    assert_lines,
    count_rows,
    get_json,
    problems,
    run_venta,
    serve_all,
)
from tests.e2e.processes import free_port, wait_until
from venta_cli.demo_seed import CITIES, plan

ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TOKEN = r"[\w-]+\.[\w-]+\.[\w-]+"


def seed_output(
    base: str,
    city: str,
    count: int,
    created: int,
    *,
    seed: int = 7,
    database: Path | None = None,
) -> list[str]:
    """The lines `venta demo seed` prints, as regular expressions."""
    lat0, long0 = CITIES[city]
    head = []
    if database is not None:
        head.append(re.escape(f"No server answers at {base}: writing to the database directly."))
    where = f"into {database}" if database is not None else f"through {base}"
    head.append(
        re.escape(f"Seeded {count} vendors around {city} {where} ")
        + re.escape(f"({created} created, {count - created} reused):")
    )
    vendors = [
        rf"  ({ID})  {re.escape(f'{p.name:<22} {p.lat:.5f}, {p.long:.5f}')}"
        for p in plan(city, count, seed)
    ]
    if database is not None:
        then = [
            re.escape(
                "Start `venta serve all` with the same settings in this directory: it loads "
                "their positions and indexes them for search as it starts. Then try:"
            )
        ]
    else:
        then = ["Try:"]
    word = plan(city, 1, seed)[0].name.split()[0].lower()
    base_re = re.escape(base)
    return [
        *head,
        *vendors,
        "",
        re.escape("Tokens (valid 24 h):"),
        rf"  owner: ({TOKEN})",
        rf"  user:  ({TOKEN})",
        "",
        *then,
        rf'  curl -H "Authorization: Bearer ({TOKEN})" \\',
        rf'    "({base_re}/v1/vendors/nearby\?lat={lat0}&long={long0}&radius=5000&limit=5)"',
        rf'  curl -H "Authorization: Bearer ({TOKEN})" \\',
        rf'    "({base_re}/v1/search/vendors\?q={word})"',
        rf'  curl -H "Authorization: Bearer ({TOKEN})" ({base_re}/v1/me/vendors)',
    ]


@dataclass(frozen=True)
class Seeded:
    """What a seed printed: the vendor ids, the tokens and the URLs to try."""

    ids: list[str]
    owner_token: str
    user_token: str
    nearby_url: str
    search_url: str
    mine_url: str

    @classmethod
    def of(cls, matches: list[re.Match[str]], count: int, embedded: bool) -> Seeded:
        first = 2 if embedded else 1
        rest = matches[first + count :]
        seeded = cls(
            ids=[m.group(1) for m in matches[first : first + count]],
            owner_token=rest[2].group(1),
            user_token=rest[3].group(1),
            nearby_url=rest[7].group(1),
            search_url=rest[9].group(1),
            mine_url=rest[10].group(2),
        )
        assert rest[6].group(1) == rest[8].group(1) == seeded.user_token
        assert rest[10].group(1) == seeded.owner_token
        return seeded

    def on(self, old: str, new: str) -> Seeded:
        """The same, with the URLs of the server at ``new`` instead of ``old``."""
        urls = ("nearby_url", "search_url", "mine_url")
        return replace(self, **{u: getattr(self, u).replace(old, new, 1) for u in urls})


def _seed(
    cwd: Path, base: str, city: str, count: int, *, seed: int = 7, url: bool = False, **env: str
) -> tuple[Seeded, str]:
    """Run `venta demo seed` (with ``--url base`` if ``url``); check its whole output."""
    args = ["demo", "seed", "--city", city, "--vendors", str(count), "--seed", str(seed)]
    result = run_venta([*args, *(["--url", base] if url else [])], cwd, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    created = re.search(r"\((\d+) created", result.stdout)
    assert created is not None, result.stdout
    embedded = result.stdout.startswith("No server answers")
    database = cwd / "venta.db" if embedded else None
    patterns = seed_output(base, city, count, int(created.group(1)), seed=seed, database=database)
    return Seeded.of(assert_lines(result.stdout, patterns), count, embedded), result.stdout


def _nearby_ids(seeded: Seeded) -> set[str]:
    body: Any = get_json(seeded.nearby_url, seeded.user_token)
    return {v["id"] for v in body["vendors"]}


def _two_directories(tmp_path: Path) -> tuple[Path, Path, int, str]:
    """The server's directory, another one, and a free port with its URL."""
    served, elsewhere = tmp_path / "server", tmp_path / "elsewhere"
    served.mkdir()
    elsewhere.mkdir()
    port = free_port()
    return served, elsewhere, port, f"http://127.0.0.1:{port}"


def _found_by_search(seeded: Seeded) -> bool:
    body: Any = get_json(seeded.search_url, seeded.user_token)
    return bool({hit["id"] for hit in body["hits"]} & set(seeded.ids))


def test_seed_from_another_directory_shows_on_the_running_server_at_once(
    tmp_path: Path,
) -> None:
    served, elsewhere, port, base = _two_directories(tmp_path)
    # The port is only on the server's command line: the seed learns it from --url alone.
    with serve_all(served, port, args=["--port", str(port)]) as server:
        seeded, _ = _seed(elsewhere, base, "berlin", 4, url=True)

        assert _nearby_ids(seeded) == set(seeded.ids)
        wait_until("search to find a seeded vendor", lambda: _found_by_search(seeded), 15)
        mine: Any = get_json(seeded.mine_url, seeded.owner_token)
        assert [v["id"] for v in mine] == seeded.ids
        assert not (elsewhere / "venta.db").exists()
        assert problems(server.output()) == []


def test_seeding_twice_reuses_the_vendors_and_refreshes_their_positions(
    tmp_path: Path,
) -> None:
    served, elsewhere, port, base = _two_directories(tmp_path)
    with serve_all(served, port) as server:
        # No --url: the default URL comes from the settings both processes share.
        env = {"VENTA_HTTP__PORT": str(port)}
        first, _ = _seed(elsewhere, base, "paris", 3, **env)
        again, out = _seed(elsewhere, base, "paris", 3, seed=8, **env)

        assert "(0 created, 3 reused)" in out
        assert again.ids == first.ids
        mine: Any = get_json(again.mine_url, again.owner_token)
        assert [v["id"] for v in mine] == first.ids
        body: Any = get_json(again.nearby_url, again.user_token)
        where = {v["id"]: (v["location"]["lat"], v["location"]["long"]) for v in body["vendors"]}
        assert where == {
            vendor_id: (p.lat, p.long)
            for vendor_id, p in zip(first.ids, plan("paris", 3, 8), strict=True)
        }
        assert count_rows(served / "venta.db", "SELECT count(*) FROM vendors") == 3
        assert problems(server.output()) == []


def test_without_a_server_the_seed_writes_the_database_and_the_server_serves_it_at_start(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there yet
    base = f"http://127.0.0.1:{port}"
    env = {"VENTA_HTTP__PORT": str(port)}
    seeded, _ = _seed(tmp_path, base, "tokyo", 3, **env)
    again, out = _seed(tmp_path, base, "tokyo", 3, **env)
    assert again.ids == seeded.ids and "(0 created, 3 reused)" in out
    database = tmp_path / "venta.db"
    assert count_rows(database, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") > 0

    with serve_all(tmp_path, port) as server:
        assert _nearby_ids(seeded) == set(seeded.ids)  # loaded as the server started
        wait_until("search to find a seeded vendor", lambda: _found_by_search(seeded), 15)
        wait_until(
            "the outbox to be relayed",
            lambda: count_rows(database, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0,
            15,
        )
        assert problems(server.output()) == []


def test_an_embedded_seed_beside_a_server_on_the_same_file(tmp_path: Path) -> None:
    """A server on ``venta.db`` that the seed does not find (it listens elsewhere): both
    processes write the file without a failure, search shows the vendors within seconds
    (the server's relay picks up the rows), the map after the server's restart."""
    port, elsewhere = free_port(), free_port()
    base, served = f"http://127.0.0.1:{elsewhere}", f"http://127.0.0.1:{port}"
    with serve_all(tmp_path, port, args=["--port", str(port)]) as server:
        seeded, _ = _seed(tmp_path, base, "london", 5, VENTA_HTTP__PORT=str(elsewhere))
        on_server = seeded.on(base, served)
        wait_until("search to find a seeded vendor", lambda: _found_by_search(on_server), 15)
        server.send(signal.SIGTERM)
        assert server.wait(30) == 0
        assert problems(server.output()) == []

    with serve_all(tmp_path, port, args=["--port", str(port)]) as restarted:
        assert _nearby_ids(on_server) == set(seeded.ids)
        assert problems(restarted.output()) == []


def test_seed_with_a_url_where_no_server_answers_fails_in_one_line(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    result = run_venta(["demo", "seed", "--url", base], tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: no server answers at {base}; start `venta serve all` or leave out --url\n"
    )
    assert not (tmp_path / "venta.db").exists()


def test_seed_refused_by_a_server_with_another_secret_says_why(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_all(tmp_path, port, VENTA_AUTH__DEV_SECRET="s" * 40):
        result = run_venta(["demo", "seed", "--url", base], tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert re.fullmatch(
        re.escape(f"error: the server at {base} refused the development token (401 ")
        + r"UNAUTHENTICATED: [^\n]+\); it must run with the same VENTA_AUTH__DEV_SECRET, "
        r"and with VENTA_AUTH__DEV_TOKENS on\n",
        result.stderr,
    ), result.stderr


def test_seed_refuses_an_unknown_city(tmp_path: Path) -> None:
    result = run_venta(["demo", "seed", "--city", "atlantis"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: unknown city 'atlantis'; choose one of "
        "berlin, london, new-york, paris, san-francisco, tokyo\n"
    )
    assert not (tmp_path / "venta.db").exists()


def test_seed_waits_out_the_servers_rate_limit(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    limits = {"VENTA_RATE_LIMIT__PER_IDENTITY": "4", "VENTA_RATE_LIMIT__WINDOW_SECONDS": "2"}
    with serve_all(tmp_path, port, **limits) as server:
        # 12 requests of the owner: sent within one fixed 2 s window or split over two, one
        # window holds more than 4 of them.
        args = ["demo", "seed", "--vendors", "5", "--url", base]
        result = run_venta(args, tmp_path)

        assert result.returncode == 0, result.stdout + result.stderr
        assert_lines(result.stdout, seed_output(base, "berlin", 5, 5))
        waits = result.stderr.splitlines()
        assert waits, "12 requests of the owner within 4 per 2 s must have been limited"
        assert all(re.fullmatch(r"rate-limited by the server; waiting [12] s", w) for w in waits)
        assert count_rows(tmp_path / "venta.db", "SELECT count(*) FROM vendors") == 5
        assert problems(server.output()) == []
