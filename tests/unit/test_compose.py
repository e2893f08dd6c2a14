"""compose.yaml, and the Prometheus, Grafana and Tempo files it mounts, agree with the code.

No Docker daemon is needed: the file is read as Compose reads it (YAML anchors and merge keys,
``${VAR:-default}`` interpolation from the environment or .env), and every venta service is
checked with the settings its environment builds (the image's ENV, then the service's):
its command is a real `venta` command, every VENTA_* variable is a setting, every published
port and healthcheck reaches the port that process listens on, healthchecks ask real endpoints
of each role, dependencies start things in order, and Prometheus scrapes exactly the venta
processes on their metrics ports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from tests.unit.deployment import (
    CORE_VARIABLES,
    DOCKERFILE,
    PLUGIN_PROJECTS,
    ROOT,
    SENSITIVE,
    VARIABLE,
    Process,
    dockerfile_env,
    grpc_port_of,
    plugin_prefix,
    plugin_variables,
    process_of,
    resolve,
)
from venta_cli.main import cli
from venta_core.app import Venta
from venta_core.testing import embedded_settings

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
TEMPO_CONFIG = ROOT / "deploy" / "tempo" / "tempo.yaml"
DASHBOARDS = GRAFANA_DIR / "dashboards"
#: Where the official Grafana image looks for provisioning files (GF_PATHS_PROVISIONING).
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
#: The backends every venta process of the stack uses, by compose service.
BACKENDS = {"postgres", "redis", "nats"}
#: Ports the third-party images listen on when nothing says otherwise.
IMAGE_DEFAULT_PORTS = {"postgres": 5432, "redis": 6379, "prometheus": 9090, "grafana": 3000}
NATS_CLIENT_PORT = 4222
JOB_PREFIX = "venta-"

Service = dict[str, Any]

# --- reading the file as Compose does ----------------------------------------------------------

_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable syntax: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+other}``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if empty else str(value)
        if op in (":?", "?"):
            if empty:
                pytest.fail(f"${{{name}}} is required: {arg}")
            return str(value)
        if op in (":+", "+"):
            return "" if empty else arg
        return value or ""

    return _REFERENCE.sub(one, text)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    return node


def _dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


#: Without a .env file (every default), and with .env.example copied to .env.
ENVIRONMENTS = {"defaults": {}, "env-example": _dotenv(ENV_EXAMPLE)}


@cache
def _raw() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@cache
def _compose(variant: str = "defaults") -> dict[str, Any]:
    resolved = _interpolated(_raw(), ENVIRONMENTS[variant])
    assert isinstance(resolved, dict)
    return resolved


def _services(variant: str = "defaults") -> dict[str, Service]:
    services: dict[str, Service] = _compose(variant)["services"]
    return services


def _builder() -> tuple[str, Service]:
    builders = [(name, s) for name, s in _services().items() if "build" in s]
    assert len(builders) == 1, "build the venta image in exactly one service"
    return builders[0]


VENTA_IMAGE = str(_builder()[1]["image"])
VENTA_SERVICES = sorted(n for n, s in _services().items() if s.get("image") == VENTA_IMAGE)
#: The venta processes that keep running (the one-shot migration aside).
SERVERS = [n for n in VENTA_SERVICES if _services()[n].get("restart") != "no"]
DEFAULT_SERVERS = [n for n in SERVERS if not _services()[n].get("profiles")]


def _environment(service: Service) -> dict[str, str]:
    """The container's environment: the image's ENV, then the service's ``environment``."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {**dockerfile_env(), **{k: str(v) for k, v in env.items()}}


def _command(service: Service) -> list[str]:
    command = service["command"]
    assert isinstance(command, list), "write commands as lists (no shell splitting)"
    return [str(arg) for arg in command]


def _process(name: str, variant: str = "defaults") -> Process:
    service = _services(variant)[name]
    return process_of(_command(service), _environment(service))


def _depends_on(service: Service) -> dict[str, str]:
    """Dependency -> condition."""
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: str(spec.get("condition", "service_started")) for name, spec in deps.items()}


def _published(service: Service) -> Iterator[tuple[str, int, int]]:
    """(host address, host port, container port) of each ``ports`` entry (short syntax)."""
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 3, f"{entry!r}: publish as HOST_IP:HOST_PORT:CONTAINER_PORT"
        yield parts[0], int(parts[1]), int(parts[2].split("/")[0])


def _mounts(service: Service) -> dict[str, str]:
    """Container path -> source (a named volume or a path relative to the repository)."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *_ = str(entry).split(":")
        mounts[target] = source
    return mounts


def _healthcheck_url(service: Service) -> str:
    test = service["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}, test
    (url,) = re.findall(r"https?://[^\s'\"]+", " ".join(test[1:]))
    return str(url)


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.removeprefix("dns:///").rpartition(":")
    return host, int(port)


def _health_paths(command: list[str], tmp_path: Path) -> set[str]:
    """The paths the HTTP port of ``venta <command>`` serves, from the role's own app."""
    from venta_core.observability.metrics import new_registry

    path = resolve(command)[0]
    app = Venta(embedded_settings(tmp_path / "venta.db"), load_entry_points=False)
    registry = new_registry()
    match path:
        case ["serve", "gateway" | "all"]:
            from venta_core.transports.http import create_http_app

            return set(create_http_app(app, registry=registry).openapi()["paths"])
        case ["serve", "ws"]:
            from venta_core.transports.realtime import operations_app

            return {r.path for r in operations_app(app, registry).routes}
        case ["serve", "worker"]:
            from venta_core.transports.worker.http import create_worker_http_app

            worker = app.enable_worker(registry=registry)
            return {r.path for r in create_worker_http_app(worker, app.readiness, registry).routes}
        case ["serve", "grpc"]:
            from venta_core.transports.grpc.ops import create_ops_app

            async def probe() -> dict[str, str | None]:
                return {}

            return {r.path for r in create_ops_app(probe, CollectorRegistry()).routes}
    pytest.fail(f"`venta {' '.join(path)}`: no HTTP port known")


def _prometheus_config() -> dict[str, Any]:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert isinstance(config, dict)
    return config


def _scrape_targets() -> dict[str, list[tuple[str, int]]]:
    """Job -> (host, port) of its static targets."""
    jobs: dict[str, list[tuple[str, int]]] = {}
    for job in _prometheus_config()["scrape_configs"]:
        assert set(job) <= {"job_name", "static_configs", "metrics_path", "scrape_interval"}
        targets = [t for group in job["static_configs"] for t in group["targets"]]
        jobs[job["job_name"]] = [_address(t) for t in targets]
    return jobs


# === the file ==================================================================================


def test_the_stack_starts_from_the_repository_root() -> None:
    assert COMPOSE.parent == ROOT, "`docker compose up` reads compose.yaml of the directory"
    assert _raw()["name"] == "venta"
    assert not list(ROOT.glob("docker-compose*.y*ml")), "one compose file"
    assert set(_services()) >= BACKENDS | {"prometheus", "grafana", "tempo"}


def test_one_service_builds_the_image_every_venta_service_runs() -> None:
    name, builder = _builder()
    build = builder["build"]

    assert (ROOT / build["context"]).resolve() == ROOT
    assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")) == DOCKERFILE
    assert resolve(_command(builder))[0] == ["db", "migrate"], "the first venta service to run"
    for other in VENTA_SERVICES:
        if other != name:
            service = _services()[other]
            assert "build" not in service
            assert service.get("pull_policy") == "never", f"{other}: the image is built, not pulled"
    assert set(VENTA_SERVICES) >= {"gateway", "ws", "worker", "user", "vendor", "location"}


@pytest.mark.parametrize("name", sorted(_services()))
def test_every_image_is_pinned(name: str) -> None:
    image = str(_services()[name]["image"])
    repository, _, tag = image.rpartition(":")

    assert repository and "/" not in tag, f"{image}: name a tag"
    assert tag != "latest"
    if image != VENTA_IMAGE:
        assert re.match(r"v?\d+\.\d+", tag), f"{image}: pin a release, not a moving tag"


@pytest.mark.parametrize("name", VENTA_SERVICES)
def test_every_venta_service_runs_a_venta_command(name: str) -> None:
    service = _services()[name]
    args = _command(service)

    assert "entrypoint" not in service, "keep the image's entrypoint (venta)"
    resolve(args)  # every option parses
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", [COMPOSE, ENV_EXAMPLE], ids=lambda p: p.name)
def test_every_venta_variable_named_is_a_setting(path: Path) -> None:
    named = set(VARIABLE.findall(path.read_text()))
    for project in PLUGIN_PROJECTS:
        prefix = plugin_prefix(project)
        mine = {n for n in named if n.startswith(prefix)}
        assert sorted(mine - set(plugin_variables(project))) == []
        named -= mine

    assert sorted(named - set(CORE_VARIABLES)) == [], "not settings of venta_core.settings"


def test_the_env_example_sets_no_venta_variable() -> None:
    # venta reads .env from its working directory too: a VENTA_* line would change every
    # `venta` command run from the repository root (the test suite included).
    assert not [n for n in _dotenv(ENV_EXAMPLE) if n.startswith("VENTA_")]


def test_every_variable_the_file_interpolates_is_in_the_env_example() -> None:
    referenced = {
        m.group("name") or m.group("bare")
        for m in _REFERENCE.finditer(COMPOSE.read_text())
        if m.group(0) != "$$"
    }

    assert referenced == set(_dotenv(ENV_EXAMPLE)), "document each variable in .env.example"


@pytest.mark.parametrize("variant", sorted(ENVIRONMENTS))
@pytest.mark.parametrize("name", VENTA_SERVICES)
def test_every_venta_service_gets_valid_settings(name: str, variant: str) -> None:
    settings = _process(name, variant).settings

    assert settings.env.value == "development", "a local stack: development tokens work"
    assert not settings.is_sqlite and settings.auto_migrate is False
    assert settings.redis_url and settings.nats_url
    backends = {
        urlsplit(settings.database_url).hostname,
        urlsplit(settings.redis_url).hostname,
        urlsplit(settings.nats_url).hostname,
    }
    assert backends == BACKENDS, "the stack's own PostgreSQL, Redis and NATS"
    assert urlsplit(settings.nats_url).port == NATS_CLIENT_PORT


@pytest.mark.parametrize("name", VENTA_SERVICES)
def test_secrets_are_interpolated_never_written(name: str) -> None:
    raw = _raw()["services"][name]
    env = raw.get("environment", {})
    sensitive = (SENSITIVE - {"VENTA_REDIS_URL", "VENTA_NATS_URL"}) & set(env)

    for variable in sensitive:
        assert "${" in str(env[variable]), f"{variable}: take the secret from a variable"


@pytest.mark.parametrize("name", SERVERS)
def test_published_ports_and_the_healthcheck_reach_the_process(name: str) -> None:
    service = _services()[name]
    process = _process(name)

    assert process.host in {"0.0.0.0", "::"}, f"listens on {process.host}: unreachable"
    for host, _, container in _published(service):
        assert host == "127.0.0.1", "publish on loopback only"
        assert container in process.ports, f"{name} does not listen on {container}"
    url = urlsplit(_healthcheck_url(service))
    assert url.hostname in {"127.0.0.1", "localhost"}
    assert url.port == process.ops_port, f"{name}: /health and /ready are on {process.ops_port}"


@pytest.mark.parametrize("name", SERVERS)
def test_healthchecks_ask_a_real_endpoint_of_the_role(name: str, tmp_path: Path) -> None:
    service = _services()[name]
    path = urlsplit(_healthcheck_url(service)).path

    assert path in {"/health", "/ready"}
    assert path in _health_paths(_command(service), tmp_path)
    assert service["healthcheck"]["test"][0] == "CMD", "no shell needed"


def _listening(name: str) -> set[int]:
    """The ports a third-party service listens on, from its command and configuration."""
    service = _services()[name]
    command = [str(a) for a in service.get("command", [])]
    if name == "nats":
        assert "--jetstream" in command or "-js" in command, "the event stream needs JetStream"
        return {NATS_CLIENT_PORT, int(command[command.index("--http_port") + 1])}
    if name == "tempo":
        config = yaml.safe_load(TEMPO_CONFIG.read_text())
        protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
        otlp = {_address(p["endpoint"])[1] for p in protocols.values()}
        return {int(config["server"]["http_listen_port"]), *otlp}
    flags = dict(arg.lstrip("-").split("=", 1) for arg in command if "=" in arg)
    if name == "prometheus" and "web.listen-address" in flags:
        return {_address(flags["web.listen-address"])[1]}
    if name == "grafana" and "GF_SERVER_HTTP_PORT" in service.get("environment", {}):
        return {int(service["environment"]["GF_SERVER_HTTP_PORT"])}
    return {IMAGE_DEFAULT_PORTS[name]}


@pytest.mark.parametrize("name", sorted(set(_services()) - set(VENTA_SERVICES)))
def test_other_services_publish_and_probe_their_own_ports(name: str) -> None:
    service = _services()[name]
    ports = _listening(name)
    test = " ".join(service["healthcheck"]["test"])

    for host, _, container in _published(service):
        assert host == "127.0.0.1", "publish on loopback only"
        assert container in ports
    probes = {
        "postgres": r"^CMD pg_isready --host 127\.0\.0\.1 ",
        "redis": r"^CMD-SHELL redis-cli ping \| grep -q PONG$",
        "nats": r"http://127\.0\.0\.1:(\d+)/healthz\?js-enabled-only=true$",
        "prometheus": r"http://127\.0\.0\.1:(\d+)/-/ready$",
        "grafana": r"http://127\.0\.0\.1:(\d+)/api/health$",
        "tempo": r"http://127\.0\.0\.1:(\d+)/ready$",
    }
    match = re.search(probes[name], test)
    assert match, f"{name}: {test}"
    if match.groups():
        assert int(match.group(1)) in ports


def test_the_backends_publish_nothing() -> None:
    # Reached by service name inside the stack (`docker compose exec worker venta ...`); a
    # published 5432, 6379 or 4222 would collide with services of the developer's machine.
    for name in BACKENDS:
        assert "ports" not in _services()[name]


def test_host_ports_are_unique() -> None:
    published = [port for s in _services().values() for _, port, _ in _published(s)]

    assert len(published) == len(set(published)), "the dev profile may run beside the stack"


def test_the_migration_runs_once_after_postgres_and_everything_else_after_it() -> None:
    name, migrate = _builder()

    assert migrate["restart"] == "no"
    assert _depends_on(migrate) == {"postgres": "service_healthy"}
    assert "healthcheck" not in migrate
    for server in SERVERS:
        assert _depends_on(_services()[server]).get(name) == "service_completed_successfully"


@pytest.mark.parametrize("name", SERVERS)
def test_venta_services_wait_for_healthy_backends_and_services(name: str) -> None:
    service = _services()[name]
    settings = _process(name).settings
    depends = _depends_on(service)
    remote = {_address(a)[0] for a in settings.remote_services.values()}

    for needed in BACKENDS | remote:
        assert depends.get(needed) == "service_healthy", f"{name} must wait for {needed}"


def _callers() -> list[tuple[str, str, str]]:
    return [
        (name, service, address)
        for name in SERVERS
        for service, address in _process(name).settings.remote_services.items()
    ]


def test_gateways_and_the_worker_call_every_service_remotely() -> None:
    callers = {(name, service) for name, service, _ in _callers()}

    for name in ("gateway", "ws", "worker"):
        for service in ("user", "vendor", "location"):
            assert (name, service) in callers


@pytest.mark.parametrize("caller", _callers(), ids=lambda c: f"{c[0]}->{c[1]}")
def test_every_service_address_reaches_the_process_serving_it(
    caller: tuple[str, str, str],
) -> None:
    name, service_name, address = caller
    host, port = _address(address)
    server = _process(host)

    assert service_name not in _process(name).services, "a process must not name its own"
    assert service_name in server.services, f"{host} does not serve {service_name}"
    assert grpc_port_of(server, _command(_services()[host]), service_name) == port


def test_every_dependency_is_met_in_the_same_profile() -> None:
    for name, service in _services().items():
        for dependency, condition in _depends_on(service).items():
            target = _services()[dependency]
            assert condition in {"service_healthy", "service_completed_successfully"}, name
            if condition == "service_healthy":
                assert "healthcheck" in target, f"{dependency} has no healthcheck to wait for"
            else:
                assert target.get("restart") == "no", f"{dependency} must be a one-shot"
            assert not target.get("profiles") or target.get("profiles") == service.get(
                "profiles"
            ), f"{name} depends on {dependency}, which only runs in a profile"


@pytest.mark.parametrize("name", sorted(set(_services()) - {_builder()[0]}))
def test_every_long_running_service_restarts_and_has_a_healthcheck(name: str) -> None:
    service = _services()[name]

    assert service["restart"] == "unless-stopped"
    assert {"test", "interval", "timeout", "retries"} <= set(service["healthcheck"])


def test_the_dev_profile_runs_serve_all_alone_on_the_same_backends() -> None:
    profiled = {n: s for n, s in _services().items() if s.get("profiles")}

    assert set(profiled) == {"all"}
    (service,) = profiled.values()
    assert service["profiles"] == ["dev"]
    assert resolve(_command(service))[0] == ["serve", "all"]
    assert _process("all").settings.remote_services == {}, "every service in process"
    assert set(_depends_on(service)) == BACKENDS | {_builder()[0]}
    assert _process("all").settings.database_url == _process("gateway").settings.database_url


def test_named_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(_compose()["volumes"])
    used = set()
    for service in _services().values():
        for target, source in _mounts(service).items():
            assert target.startswith("/")
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{source} is not in the repository"
            else:
                used.add(source)
    assert used == declared


def test_every_venta_service_names_itself_and_the_trace_backend() -> None:
    names = []
    for name in VENTA_SERVICES:
        env = _environment(_services()[name])
        host, port = _address(urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).netloc)
        assert host == "tempo" and port in _listening("tempo")
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc" and port == 4317
        names.append(env["OTEL_SERVICE_NAME"])
    assert len(names) == len(set(names))
    assert all(n.startswith(JOB_PREFIX) for n in names)


# === Prometheus ================================================================================


def test_prometheus_scrapes_exactly_the_venta_servers_on_their_metrics_ports(
    tmp_path: Path,
) -> None:
    jobs = _scrape_targets()
    targets = {target for group in jobs.values() for target in group}
    expected = {(name, _process(name).ops_port) for name in DEFAULT_SERVERS}

    assert targets == expected
    for job, group in jobs.items():
        (host, _) = group[0]
        assert len(group) == 1
        assert job == _environment(_services()[host])["OTEL_SERVICE_NAME"], "one name per role"
    path = next(iter(_prometheus_config()["scrape_configs"])).get("metrics_path", "/metrics")
    for name in DEFAULT_SERVERS:
        assert path in _health_paths(_command(_services()[name]), tmp_path)


def test_prometheus_reads_the_repository_config_and_rules() -> None:
    service = _services()["prometheus"]
    flags = dict(a.lstrip("-").split("=", 1) for a in service["command"] if "=" in a)
    mounts = _mounts(service)
    config = Path(flags["config.file"])
    source = ROOT / mounts[str(config.parent)]

    assert source == PROMETHEUS_DIR
    assert (source / config.name).is_file()
    assert mounts[flags["storage.tsdb.path"]] in _compose()["volumes"]
    for pattern in _prometheus_config()["rule_files"]:
        assert list(source.glob(pattern)), f"rule_files {pattern} matches nothing"


# === Grafana ===================================================================================


def _grafana_yaml(kind: str) -> dict[str, Any]:
    (path,) = (GRAFANA_DIR / "provisioning" / kind).glob("*.yml")
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_grafana_is_provisioned_from_the_repository() -> None:
    service = _services()["grafana"]
    mounts = _mounts(service)
    (provider,) = _grafana_yaml("dashboards")["providers"]
    dashboards_at = provider["options"]["path"]
    home = service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]

    assert ROOT / mounts[GRAFANA_PROVISIONING] == GRAFANA_DIR / "provisioning"
    assert ROOT / mounts[dashboards_at] == DASHBOARDS, "the provider reads the dashboards dir"
    assert list(DASHBOARDS.glob("*.json"))
    assert home.startswith(dashboards_at + "/")
    assert (DASHBOARDS / Path(home).name).is_file()
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False


def test_grafana_datasources_reach_prometheus_and_tempo() -> None:
    sources = {s["type"]: s for s in _grafana_yaml("datasources")["datasources"]}

    assert set(sources) == {"prometheus", "tempo"}
    assert sources["prometheus"]["isDefault"] is True
    for kind, source in sources.items():
        url = urlsplit(source["url"])
        assert url.hostname == kind, f"{kind}: the compose service"
        assert url.port in _listening(kind)
    interval = _prometheus_config()["global"]["scrape_interval"]
    assert sources["prometheus"]["jsonData"]["timeInterval"] == interval


@pytest.mark.parametrize("variant", sorted(ENVIRONMENTS))
def test_grafana_asks_for_a_password_from_the_environment(variant: str) -> None:
    raw = _raw()["services"]["grafana"]["environment"]
    env = _services(variant)["grafana"]["environment"]

    assert raw["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD")
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == ENVIRONMENTS[variant].get(
        "GRAFANA_ADMIN_PASSWORD", "admin"
    )


def test_interpolation_follows_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}

    assert interpolate("${SET:-d}|${EMPTY:-d}|${EMPTY-d}|${UNSET-d}|$SET|$$SET", env) == (
        "x|d||d|x|$SET"
    )
    assert interpolate("${SET:+y}|${UNSET:+y}|${SET:?needed}", env) == "y||x"
    with pytest.raises(pytest.fail.Exception):
        interpolate("${UNSET:?needed}", env)
