"""`venta demo simulate` as a real process against a running `venta serve all`: it removes the
users and vendors it created when it ends, also on Ctrl-C, and keeps them with ``--keep``."""

from __future__ import annotations

import random
import re
import signal
import statistics
from pathlib import Path

import httpx

from tests.cli.demo_server import (
    assert_lines,
    count_rows,
    get_json,
    problems,
    run_venta,
    serve_all,
)
from tests.e2e.processes import VentaProcess, clean_env, free_port, wait_until
from venta_cli.simulate import ROUTE_RADIUS_M, SPEED_MPS, Route
from venta_core.domain.geo import haversine_raw

SIM_USERS = "SELECT count(*) FROM users WHERE external_id LIKE 'sim-%'"
SIM_VENDORS = "SELECT count(*) FROM vendors WHERE name = 'Simulated vendor'"
VENDORS, USERS = 2, 3


def _args(base: str, duration: float, *extra: str) -> list[str]:
    return [
        "demo",
        "simulate",
        "--url",
        base,
        "--vendors",
        str(VENDORS),
        "--users",
        str(USERS),
        "--duration",
        str(duration),
        "--interval",
        "0.5",
        *extra,
    ]


def _report(base: str, duration: float, last: str, *, interrupted: bool = False) -> list[str]:
    """The lines simulate prints (no errors expected), as regular expressions."""
    return [
        re.escape(
            f"Simulating {VENDORS} vendors and {USERS} watching users against {base} for "
            f"{duration:g} s (Ctrl-C stops early)."
        ),
        *(["Interrupted."] if interrupted else []),
        r"vendor updates sent:  \d+",
        r"deliveries:           \d+ \(\d+\.\d/s\)",
        r"latency p50 / p99:    (n/a|\d+\.\d ms / \d+\.\d ms)",
        last,
    ]


def test_simulate_removes_the_users_and_vendors_it_created(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_all(tmp_path, port) as server:
        result = run_venta(_args(base, 2), tmp_path)

        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stderr == ""
        removed = re.escape(f"removed:              {VENDORS} vendors, {VENDORS + USERS} users")
        matches = assert_lines(result.stdout, _report(base, 2, removed))
        assert int(matches[1].group(0).split()[-1]) > 0  # it did drive the vendors
        assert count_rows(tmp_path / "venta.db", SIM_USERS) == 0
        assert count_rows(tmp_path / "venta.db", SIM_VENDORS) == 0
        assert problems(server.output()) == []


def test_a_server_refusing_more_connections_is_one_line_with_the_fix(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_all(tmp_path, port, VENTA_REALTIME__CONNECTS_PER_IP_PER_MINUTE="2"):
        result = run_venta(_args(base, 2), tmp_path)

        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        [line] = result.stderr.splitlines()
        assert "refused more real-time connections from this address (429)" in line, line
        assert "VENTA_REALTIME__CONNECTS_PER_IP_PER_MINUTE" in line


def test_simulate_keeps_them_with_keep(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_all(tmp_path, port) as server:
        result = run_venta(_args(base, 1, "--keep"), tmp_path)

        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stderr == ""
        kept = (
            re.escape(f"kept:                 {VENDORS} vendors, {VENDORS + USERS} users ")
            + r"\(subjects sim-\*-(\d+-\d+)-<n>\)"
        )
        run = assert_lines(result.stdout, _report(base, 1, kept))[-1].group(1)
        assert count_rows(tmp_path / "venta.db", SIM_VENDORS) == VENDORS
        owners = f"SELECT count(*) FROM users WHERE external_id LIKE 'sim-owner-{run}-%'"
        watchers = f"SELECT count(*) FROM users WHERE external_id LIKE 'sim-user-{run}-%'"
        assert count_rows(tmp_path / "venta.db", owners) == VENDORS
        assert count_rows(tmp_path / "venta.db", watchers) == USERS
        assert problems(server.output()) == []


def test_ctrl_c_stops_the_simulation_and_removes_what_it_created(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = tmp_path / "venta.db"
    with serve_all(tmp_path, port) as server:
        simulation = VentaProcess(
            "simulate", _args(base, 600), clean_env(), tmp_path, tmp_path / "simulate.log"
        ).start()
        try:
            wait_until(
                "the simulated users and vendors",
                lambda: (
                    count_rows(database, SIM_USERS) == VENDORS + USERS
                    and count_rows(database, SIM_VENDORS) == VENDORS
                ),
                60,
                watch=[simulation],
            )
            simulation.send(signal.SIGINT)
            code = simulation.wait(60)
            output = simulation.output()
        finally:
            simulation.stop()

        assert code == 130, output
        removed = re.escape(f"removed:              {VENDORS} vendors, {VENDORS + USERS} users")
        stopping = re.escape("Stopping; removing what it created (Ctrl-C again leaves it).")
        report = _report(base, 600, removed, interrupted=True)
        # stdout and stderr share the log: the note on stderr comes when Ctrl-C arrives
        assert_lines(
            output,
            [
                re.escape(f"----- start: venta {' '.join(_args(base, 600))}"),
                report[0],
                stopping,
                *report[1:],
            ],
        )
        assert count_rows(database, SIM_USERS) == 0
        assert count_rows(database, SIM_VENDORS) == 0
        assert problems(server.output()) == []


def test_around_drives_vendors_near_the_place_and_prints_the_map_url(tmp_path: Path) -> None:
    """--around with a short --duration: vendors drive within a few km of the place, the map
    URL names the place and a watcher token the server accepts, and --keep keeps them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_all(tmp_path, port) as server:
        result = run_venta(_args(base, 3, "--around", "48.137,11.575", "--keep"), tmp_path)

        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        url_line = re.compile(
            re.escape(f"Watch them live: {base}/map?token=")
            + r"(?P<token>[\w.-]+)&lat=48\.13700&long=11\.57500&zoom=14"
        )
        watch = next(m for line in lines if (m := url_line.fullmatch(line)))
        kept = f"kept:                 {VENDORS} vendors, {VENDORS + USERS + 1} users "
        assert any(line.startswith(kept) for line in lines), result.stdout
        token = watch.group("token")
        page = httpx.get(watch.group(0).split(": ", 1)[1], timeout=10)
        assert page.status_code == 200 and "map.js" in page.text
        nearby = get_json(
            f"{base}/v1/vendors/nearby?lat=48.137&long=11.575&radius=50000&limit=100", token
        )
        assert isinstance(nearby, dict)
        distances = [v["distance"] for v in nearby["vendors"]]
        assert len(distances) == VENDORS
        assert all(d <= ROUTE_RADIUS_M + 1 for d in distances), distances
        assert problems(server.output()) == []


def test_around_refuses_an_unknown_place(tmp_path: Path) -> None:
    for place in ("atlantis", "91,10", "52.5"):
        result = run_venta(["demo", "simulate", "--around", place], tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "--around" in result.stderr and "LAT,LONG" in result.stderr


def test_a_route_keeps_city_speeds_and_stays_near_its_centre() -> None:
    center = (52.52, 13.405)
    route = Route(center, random.Random(3))
    previous = (route.lat, route.long)
    steps = []
    for _ in range(2000):
        position = route.step(1.0)
        steps.append(haversine_m(previous, position))
        assert haversine_m(center, position) <= ROUTE_RADIUS_M + 1
        previous = position
    assert max(steps) <= SPEED_MPS[1] + 0.5  # a turn at a waypoint only shortens a step
    assert SPEED_MPS[0] - 0.5 <= statistics.median(steps)
    legs = {round(s) for s in steps}
    assert len(legs) > 5  # several legs at different speeds


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return haversine_raw(a[0], a[1], b[0], b[1])
