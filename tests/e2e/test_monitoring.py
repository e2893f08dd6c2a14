"""The dashboards and rules of deploy/ read series that real processes expose, and a real
Prometheus scrapes every role and loads the rules.

Three processes on loopback, on PostgreSQL, Redis and NATS: `venta serve grpc --service all`,
`venta serve all` calling those services over gRPC (HTTP, Socket.IO, event handlers), and
`venta serve worker`. A little traffic (REST calls, a vendor moving under a watching user)
makes the labelled series exist. Then:

- every series a dashboard panel, a dashboard variable or a rule reads is on some /metrics
  page (a labelled family counts once it is declared, before its first sample);
- Prometheus (Debian's package) runs the scrape configuration of deploy/prometheus with its
  targets moved to these processes, reports every target up and every rule evaluated
  without error, and answers every dashboard query without error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import yaml
from sqlalchemy.engine import make_url

from tests.backends import RUN_PREFIX, real_service_url
from tests.e2e.processes import VentaProcess, clean_env, free_port, http_ok, run_cli, wait_until
from tests.unit.deployment import ROOT, resolve
from tests.unit.monitoring import (
    PROMETHEUS_CONFIG,
    RULE_FILES,
    dashboard_queries,
    dashboards,
    exposed_names,
    grafana_value,
    metric_names,
    require_tool,
    rules,
)
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import AuthSettings, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_TIMEOUT = 120.0  # three interpreters and Prometheus starting on a loaded 2-core machine
SETTLE_TIMEOUT = 60.0
SCRAPE_SECONDS = 5  # the worker reads its lag from NATS and PostgreSQL at each scrape
BOX = {"swLat": 52.50, "swLong": 13.38, "neLat": 52.54, "neLong": 13.43}
VIEWPORT = {
    "swLocation": {"lat": BOX["swLat"], "long": BOX["swLong"]},
    "neLocation": {"lat": BOX["neLat"], "long": BOX["neLong"]},
}


@dataclass
class Stack:
    """The processes, where they listen, and the /metrics pages after the traffic."""

    tmp_path: Path
    env: dict[str, str]
    ports: dict[str, int]
    processes: dict[str, VentaProcess] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"


# --- the processes -----------------------------------------------------------------------------


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, database=u.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _processes(stack: Stack) -> dict[str, VentaProcess]:
    services = {
        f"VENTA_SERVICES__{name.upper()}__ADDRESS": f"127.0.0.1:{stack.ports[name]}"
        for name in ("user", "vendor", "location")
    }
    specs = {
        "grpc": (["serve", "grpc", "--service", "all"], {}),
        "all": (["serve", "all", "--port", str(stack.ports["all"])], services),
        "worker": (["serve", "worker", "--port", str(stack.ports["worker"])], services),
    }
    return {
        name: VentaProcess(
            name, args, {**stack.env, **extra}, stack.tmp_path, stack.tmp_path / f"{name}.log"
        )
        for name, (args, extra) in specs.items()
    }


def _token(subject: str) -> str:
    return DevTokenProvider(AuthSettings()).issue(subject)


async def _realtime_traffic(base: str, vendor_id: str, owner: str) -> None:
    """A user watches the box; the vendor moves in it; the user gets the move."""
    user = socketio.AsyncClient(reconnection=False)
    vendor = socketio.AsyncClient(reconnection=False)
    synced: asyncio.Queue[Any] = asyncio.Queue()
    channels: asyncio.Queue[Any] = asyncio.Queue()
    user.on("vendor_sync", synced.put_nowait, namespace="/user")
    user.on("vendor_channels", channels.put_nowait, namespace="/user")
    try:
        await user.connect(
            base,
            namespaces=["/user"],
            auth={"token": _token("monitoring-watcher")},
            transports=["websocket"],
            wait_timeout=30,
        )
        await user.emit("updateUserLocation", VIEWPORT, namespace="/user")
        await asyncio.wait_for(channels.get(), 30)
        await vendor.connect(
            base,
            namespaces=["/vendor"],
            auth={"token": _token(owner)},
            transports=["websocket"],
            wait_timeout=30,
        )
        await vendor.emit(
            "updateVendorLocation",
            {"vendorId": vendor_id, "lat": 52.521, "long": 13.406},
            namespace="/vendor",
        )
        moved = await asyncio.wait_for(synced.get(), 30)
        assert moved["id"] == vendor_id, moved
    finally:
        await vendor.disconnect()
        await user.disconnect()


def _traffic(stack: Stack) -> None:
    """REST through every service and the gRPC hop, and a move fanned out over Socket.IO."""
    owner = "monitoring-owner"
    alice = {"Authorization": f"Bearer {_token(owner)}"}
    with httpx.Client(base_url=stack.url("all", ""), timeout=30) as http:
        created = http.post("/v1/vendors", json={"name": "Metrics Tacos"}, headers=alice)
        assert created.status_code == 201, created.text
        vendor_id = created.json()["id"]
        moved = http.put(
            f"/v1/vendors/{vendor_id}/location", json={"lat": 52.52, "long": 13.405}, headers=alice
        )
        assert moved.status_code == 200, moved.text
        assert http.get("/v1/vendors/nearby", params=BOX, headers=alice).status_code == 200
        assert http.get(f"/v1/vendors/{vendor_id}", headers=alice).status_code == 200
        missing = http.get(f"/v1/vendors/{uuid.uuid4()}", headers=alice)
        assert missing.status_code == 404, missing.text
    asyncio.run(_realtime_traffic(stack.url("all", ""), vendor_id, owner))


def _page(stack: Stack, name: str) -> str:
    return httpx.get(stack.url(name, "/metrics"), timeout=30).text


def _settled(stack: Stack) -> bool:
    """Every role has counted the traffic (the worker handles vendor.created asynchronously)."""
    pages = {name: _page(stack, name) for name in ("all", "grpc", "worker")}
    expected = {
        "all": (
            'venta_http_requests_total{method="POST",route="/v1/vendors",status="201"}',
            'venta_grpc_client_handled_total{code="OK",method="CreateVendor"',
            'venta_ws_messages_in_total{event="updateVendorLocation",namespace="/vendor"}',
            'venta_ws_messages_out_total{event="vendor_sync"}',
            "venta_ws_fanout_latency_seconds_count",
        ),
        "grpc": ('method="CreateVendor",service="venta.v1.VendorService"',),
        "worker": ('venta_worker_consumer_pending{handler="search-sync"}',),
    }
    stack.missing = [
        f"{n}: {s}" for n, lines in expected.items() for s in lines if s not in pages[n]
    ]
    # `serve all` and `serve worker` share each handler's consumer: either handles an event.
    handled = 'venta_worker_events_handled_total{handler="search-sync",type="vendor.created"}'
    if not any(handled in pages[name] for name in ("all", "worker")):
        stack.missing.append(f"all or worker: {handled}")
    if not stack.missing:
        stack.metrics = pages
        return True
    return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base_url = real_service_url("database")
    redis_url, nats_url = real_service_url("redis"), real_service_url("nats")
    database = f"venta_mon_{RUN_PREFIX}_{uuid.uuid4().hex[:6]}"
    prefix = f"{RUN_PREFIX}mon{uuid.uuid4().hex[:4]}"
    # "grpc": the side port of the gRPC process (/health, /ready, /metrics)
    ports = {name: free_port() for name in ("user", "vendor", "location", "grpc", "all", "worker")}
    env = clean_env(
        VENTA_DATABASE_URL=make_url(base_url).set(database=database).render_as_string(False),
        VENTA_DATABASE_AUTO_MIGRATE="false",
        VENTA_REDIS_URL=redis_url,
        VENTA_NATS_URL=nats_url,
        VENTA_KEY_PREFIX=prefix,
        VENTA_HTTP__HOST="127.0.0.1",
        VENTA_WORKER__HOST="127.0.0.1",
        VENTA_GRPC__HOST="127.0.0.1",
        VENTA_GRPC__IDENTITY_SECRET=secrets.token_hex(24),
        VENTA_GRPC__USER_PORT=str(ports["user"]),
        VENTA_GRPC__VENDOR_PORT=str(ports["vendor"]),
        VENTA_GRPC__LOCATION_PORT=str(ports["location"]),
        VENTA_GRPC__METRICS_PORT=str(ports["grpc"]),
        VENTA_RATE_LIMIT__ENABLED="false",
        VENTA_LOG__LEVEL="INFO",
    )
    stack = Stack(tmp_path_factory.mktemp("monitoring"), env, ports)
    asyncio.run(_admin(base_url, f'CREATE DATABASE "{database}"'))
    try:
        run_cli(["db", "migrate"], env, stack.tmp_path)
        stack.processes = _processes(stack)
        for process in stack.processes.values():
            process.start()
        for name, process in stack.processes.items():
            wait_until(
                f"{name} /ready",
                lambda n=name: http_ok(stack.url(n, "/ready")),  # type: ignore[misc]
                START_TIMEOUT,
                watch=[process],
            )
        _traffic(stack)
        try:
            wait_until("the traffic in every /metrics", lambda: _settled(stack), SETTLE_TIMEOUT)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; not seen: {stack.missing}") from None
        yield stack
    except BaseException:
        for process in stack.processes.values():
            print(f"\n===== output of {process.name} =====\n{process.output()[-5000:]}")
        raise
    finally:
        for process in stack.processes.values():
            process.stop()
        _clean_up(base_url, database, redis_url, nats_url, prefix)


def _clean_up(base_url: str, database: str, redis_url: str, nats_url: str, prefix: str) -> None:
    import redis

    from tests.events.helpers import delete_streams

    asyncio.run(_admin(base_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    asyncio.run(delete_streams(Settings(_env_file=None, key_prefix=prefix), nats_url))
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- series ------------------------------------------------------------------------------------


def _exposed(stack: Stack) -> set[str]:
    return set().union(*(exposed_names(page) for page in stack.metrics.values()))


def _variable_series() -> list[tuple[str, str]]:
    """(dashboard, series) read by the dashboards' job and instance variables."""
    found = []
    for name, board in dashboards().items():
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            query = variable["query"]
            text = str(query["query"] if isinstance(query, dict) else query)
            selector = text.removeprefix("label_values(").rsplit(",", 1)[0]
            found += [(name, series) for series in metric_names(selector)]
            found += [(name, n) for n in _name_matchers(selector)]
    return found


def _name_matchers(selector: str) -> list[str]:
    """The metric names a ``{__name__=~"a|b"}`` selector can match, when it lists them."""
    import re

    match = re.search(r'__name__=~"([^"]+)"', selector)
    if not match:
        return []
    options = re.fullmatch(r"(\w*)\(([\w|]+)\)(\w*)", match.group(1))
    assert options, f"list the alternatives of {match.group(1)} for this check"
    head, alternatives, tail = options.groups()
    return [head + alternative + tail for alternative in alternatives.split("|")]


def test_the_traffic_made_labelled_series_on_every_role(stack: Stack) -> None:
    not_found = 'method="GET",route="/v1/vendors/{vendor_id}",status="404"'
    assert f"venta_http_requests_total{{{not_found}}}" in stack.metrics["all"]
    not_found = 'code="NOT_FOUND",method="GetVendor"'
    assert f"venta_grpc_server_handled_total{{{not_found}" in stack.metrics["grpc"]
    assert 'venta_worker_consumer_pending{handler="search-sync"}' in stack.metrics["worker"]


def test_every_series_a_dashboard_reads_is_exposed_by_a_role(stack: Stack) -> None:
    exposed = _exposed(stack)
    missing = {
        (query.dashboard, query.panel, name)
        for query in dashboard_queries()
        for name in metric_names(query.expr) - exposed
        if name != "up"
    }
    missing |= {
        (dashboard, "variables", name)
        for dashboard, name in _variable_series()
        if name not in exposed and name != "up"
    }

    assert sorted(missing) == []


def test_every_series_a_rule_reads_is_exposed_by_a_role(stack: Stack) -> None:
    exposed = _exposed(stack)
    records = {str(rule["record"]) for rule in rules() if "record" in rule}

    for rule in rules():
        unknown = metric_names(str(rule["expr"])) - exposed - records - {"up"}
        assert sorted(unknown) == [], rule.get("alert") or rule.get("record")


# --- Prometheus --------------------------------------------------------------------------------


def _targets(stack: Stack) -> dict[str, str]:
    """Job of deploy/prometheus/prometheus.yml -> the loopback process playing its role."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {}
    for job in config["scrape_configs"]:
        (target,) = [t for group in job["static_configs"] for t in group["targets"]]
        command = [str(a) for a in compose[target.split(":")[0]]["command"]]
        role = resolve(command)[0][1]  # serve <role>
        process = {"gateway": "all", "ws": "all", "all": "all"}.get(role, role)
        targets[job["job_name"]] = f"127.0.0.1:{stack.ports[process]}"
    return targets


def _prometheus_config(stack: Stack) -> dict[str, Any]:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(
        scrape_interval=f"{SCRAPE_SECONDS}s",
        scrape_timeout=f"{SCRAPE_SECONDS}s",
        evaluation_interval="2s",
    )
    config["rule_files"] = [str(path) for path in RULE_FILES]
    targets = _targets(stack)
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return dict(config)


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_tool("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(_prometheus_config(stack)))
    address = f"127.0.0.1:{free_port()}"
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={address}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def ready() -> bool:
            assert process.poll() is None, f"prometheus exited:\n{log.read_text()[-3000:]}"
            return http_ok(f"http://{address}/-/ready")

        wait_until("Prometheus ready", ready, START_TIMEOUT)
        yield f"http://{address}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(workdir / "data", ignore_errors=True)


def _api(prometheus: str, path: str, **params: str) -> Any:
    response = httpx.get(f"{prometheus}/api/v1/{path}", params=params, timeout=30)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", body
    return body["data"]


def test_prometheus_scrapes_every_role_and_evaluates_every_rule(
    stack: Stack, prometheus: str
) -> None:
    jobs = set(_targets(stack))
    state: dict[str, Any] = {}

    def all_up() -> bool:
        active = _api(prometheus, "targets")["activeTargets"]
        state["targets"] = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in active}
        return set(state["targets"]) == jobs and all(
            health == "up" for health, _ in state["targets"].values()
        )

    def all_evaluated() -> bool:
        groups = _api(prometheus, "rules")["groups"]
        state["rules"] = {
            str(rule["name"]): (rule["health"], rule.get("lastError", ""))
            for group in groups
            for rule in group["rules"]
        }
        return bool(state["rules"]) and all(h == "ok" for h, _ in state["rules"].values())

    try:
        wait_until("every target up", all_up, START_TIMEOUT)
        wait_until("every rule evaluated", all_evaluated, SETTLE_TIMEOUT)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {json.dumps(state, indent=1)}") from None

    expected = {str(rule.get("alert") or rule.get("record")) for rule in rules()}
    assert set(state["rules"]) == expected
    up = _api(prometheus, "query", query='count(up{job=~"venta-.+"} == 1)')["result"]
    assert int(up[0]["value"][1]) == len(jobs)


def test_prometheus_answers_every_dashboard_query(stack: Stack, prometheus: str) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not _api(prometheus, "query", query="venta_http_requests_total")["result"]:
        assert time.monotonic() < deadline, "no sample scraped yet"
        time.sleep(1)

    for query in dashboard_queries():
        _api(prometheus, "query", query=grafana_value(query.expr))  # fails on an error
