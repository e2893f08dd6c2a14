"""deploy/kubernetes and the Dockerfile agree with the code.

Every VENTA_* variable they name is a setting, every container runs a real `venta` command,
every probe and Service reaches the port the process listens on with the settings the pod gets,
grace periods cover the shutdown settings, the kustomization lists every manifest, and the image
installs the plugins of plugins/.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import tomllib
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from venta_cli.main import cli
from venta_cli.serve_grpc import parse_services
from venta_core.settings import Settings

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = K8S / "kustomization.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PLUGINS = ROOT / "plugins"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"

CONFIG_MAP = "venta-config"
SECRET = "venta"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
INGRESS_EXAMPLE = K8S / "ingress.example.yaml"
#: Time a process needs after its servers stopped: position flush, the outbox relay's last pass.
STOP_MARGIN_SECONDS = 10.0
#: The backends' URLs: they may carry passwords, so they belong in the Secret.
CONNECTION_URLS = {"VENTA_DATABASE_URL", "VENTA_REDIS_URL", "VENTA_NATS_URL"}
VARIABLE = re.compile(r"\bVENTA_[A-Z0-9_]*[A-Z0-9]\b")
ADDRESS = re.compile(r"^dns:///(?P<host>[a-z0-9]([-a-z0-9]*[a-z0-9])?):(?P<port>[0-9]+)$")

Manifest = dict[str, Any]


# --- settings ----------------------------------------------------------------------------------


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_is_secret(arg) for arg in typing.get_args(annotation))
    return False


def _variables(model: type[BaseModel], prefix: str, delimiter: str) -> dict[str, bool]:
    """Environment variable -> whether it holds a secret, for every leaf field of ``model``."""
    names: dict[str, bool] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _variables(annotation, f"{prefix}{name.upper()}{delimiter}", delimiter)
        else:
            names[f"{prefix}{name.upper()}"] = _is_secret(annotation)
    return names


CORE_VARIABLES = _variables(Settings, "VENTA_", "__")
SENSITIVE = {name for name, secret in CORE_VARIABLES.items() if secret} | CONNECTION_URLS


def _plugin_projects() -> dict[str, Path]:
    """Project name -> directory, for every plugin of plugins/."""
    projects = {}
    for pyproject in sorted(PLUGINS.glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        projects[str(name)] = pyproject.parent
    return projects


PLUGIN_PROJECTS = _plugin_projects()


def _plugin_prefix(project: str) -> str:
    return "VENTA_" + project.removeprefix("venta-").upper().replace("-", "_") + "_"


def _plugin_variables(project: str) -> dict[str, bool]:
    """The variables of a plugin's settings classes (the plugins are installed with the tests)."""
    module = importlib.import_module(project.replace("-", "_") + ".settings")
    names: dict[str, bool] = {}
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value is not BaseSettings
        ):
            prefix = str(value.model_config.get("env_prefix", ""))
            names |= _variables(value, prefix.upper(), "__")
    assert names, f"{project}: no settings class found in {module.__name__}"
    return names


def _settings(env: dict[str, str]) -> Settings:
    """Settings as a process with exactly this environment builds them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("VENTA_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        return Settings(_env_file=None)


# --- manifests ---------------------------------------------------------------------------------


@cache
def _documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


MANIFEST_FILES = sorted(p for p in K8S.glob("*.yaml") if p != KUSTOMIZATION)


def _kustomization() -> Manifest:
    documents = _documents(KUSTOMIZATION)
    assert len(documents) == 1
    return documents[0]


def _applied_files() -> list[Path]:
    return [K8S / str(name) for name in _kustomization().get("resources", [])]


def _objects(files: list[Path] | None = None) -> list[Manifest]:
    return [doc for path in (files or MANIFEST_FILES) for doc in _documents(path)]


def _of_kind(kind: str, files: list[Path] | None = None) -> list[Manifest]:
    return [doc for doc in _objects(files) if doc.get("kind") == kind]


def _named(kind: str, name: str) -> Manifest:
    found = [doc for doc in _of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r} in deploy/kubernetes, found {len(found)}"
    return found[0]


def _name(doc: Manifest) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def _workloads() -> list[Manifest]:
    return _of_kind("Deployment") + _of_kind("Job")


def _containers() -> list[tuple[Manifest, Manifest]]:
    return [(w, c) for w in _workloads() for c in _pod_spec(w)["containers"]]


def _container_id(item: tuple[Manifest, Manifest]) -> str:
    return f"{_name(item[0])}:{item[1]['name']}"


def _source(ref: Manifest, kind: str) -> dict[str, str]:
    """The data of the ConfigMap or Secret an envFrom / valueFrom reference names."""
    if kind == "Secret":
        assert ref["name"] == SECRET, f"pods read secrets from the Secret {SECRET!r} only"
        secret = _documents(SECRET_EXAMPLE)[0]
        return {k: str(v) for k, v in secret["stringData"].items()}
    return {k: str(v) for k, v in _named("ConfigMap", ref["name"]).get("data", {}).items()}


def _environment(container: Manifest) -> dict[str, str]:
    """The environment the container gets (Secret values from secret.example.yaml)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= _source(source["configMapRef"], "ConfigMap")
        if "secretRef" in source:
            env |= _source(source["secretRef"], "Secret")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]
        if "configMapKeyRef" in ref:
            env[item["name"]] = _source(ref["configMapKeyRef"], "ConfigMap")[
                ref["configMapKeyRef"]["key"]
            ]
        elif "secretKeyRef" in ref:
            env[item["name"]] = _source(ref["secretKeyRef"], "Secret")[ref["secretKeyRef"]["key"]]
        else:
            pytest.fail(f"{item['name']}: unsupported valueFrom {ref}")
    return env


def _literal_env_names(container: Manifest) -> set[str]:
    return {item["name"] for item in container.get("env", []) if "value" in item}


def _container_port(container: Manifest, port: int | str) -> int:
    """A probe's or Service's port (number or name) as a declared containerPort."""
    declared = {p.get("name"): int(p["containerPort"]) for p in container.get("ports", [])}
    if isinstance(port, int):
        assert port in declared.values(), f"{port} is not a containerPort of {container['name']}"
        return port
    assert port in declared, f"no containerPort named {port!r} in {container['name']}"
    return declared[port]


# --- the venta command -------------------------------------------------------------------------

COMMAND = get_command(cli)


def _resolve(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``["serve", "grpc", "--service", "user"]`` -> (["serve", "grpc"], parsed options)."""
    command: Any = COMMAND
    path: list[str] = []
    rest = list(args)
    while isinstance(command, TyperGroup):
        assert rest, f"`venta {' '.join(path)}` needs a sub-command"
        sub = command.commands.get(rest[0])
        assert sub is not None, f"`venta {' '.join(path)}` has no command {rest[0]!r}"
        path.append(rest.pop(0))
        command = sub
    context = command.make_context(" ".join(["venta", *path]), rest)
    return path, dict(context.params)


@dataclass(frozen=True)
class Process:
    """Where a `venta` process listens, from its arguments and settings."""

    host: str | None
    ports: frozenset[int]
    ops_port: int | None  # /health and /ready
    shutdown_seconds: float  # in-flight work allowed after SIGTERM
    services: tuple[str, ...]  # gRPC services it serves
    settings: Settings


def _process(args: list[str], env: dict[str, str]) -> Process:
    path, params = _resolve(args)
    s = _settings(env)
    host: str | None = params.get("host")
    port: int | None = params.get("port")
    match path:
        case ["serve", "gateway" | "all"]:
            listen = port if port is not None else s.http.port
            return Process(
                host or s.http.host,
                frozenset({listen}),
                listen,
                s.http.shutdown_timeout_seconds,
                (),
                s,
            )
        case ["serve", "ws"]:
            listen = port if port is not None else s.realtime.port
            return Process(
                host or s.realtime.host,
                frozenset({listen}),
                listen,
                s.http.shutdown_timeout_seconds,
                (),
                s,
            )
        case ["serve", "worker"]:
            listen = port if port is not None else s.worker.port
            return Process(
                host or s.worker.host,
                frozenset({listen}),
                listen,
                s.worker.drain_timeout_seconds,
                (),
                s,
            )
        case ["serve", "grpc"]:
            served = tuple(parse_services(str(params["service"])))
            grpc_ports = [port if port is not None else s.grpc.port_of(n) for n in served]
            ops = s.grpc.metrics_port_for(grpc_ports[0])
            return Process(
                host or s.grpc.host,
                frozenset({*grpc_ports, ops}),
                ops,
                s.grpc.shutdown_drain_seconds + s.grpc.shutdown_grace_seconds,
                served,
                s,
            )
        case ["db", "migrate"]:
            return Process(None, frozenset(), None, 0.0, (), s)
    pytest.fail(f"`venta {' '.join(path)}`: this test does not know where it listens")


def _grpc_port_of(process: Process, args: list[str], service: str) -> int:
    port = _resolve(args)[1].get("port")
    return int(port) if port is not None else process.settings.grpc.port_of(service)


# --- Dockerfile --------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comment lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def _args_of(keyword: str) -> list[str]:
    return [rest for kw, rest in _instructions() if kw == keyword]


def _assignments(text: str) -> dict[str, str]:
    """``A=1 B="x y"`` -> {"A": "1", "B": "x y"}."""
    pairs = {}
    for token in shlex.split(text):
        name, sep, value = token.partition("=")
        pairs[name] = value if sep else ""
    return pairs


def _build_args(name: str) -> list[str]:
    return [_assignments(rest)[name] for rest in _args_of("ARG") if name in _assignments(rest)]


# === tests =====================================================================================


@pytest.mark.parametrize("path", [KUSTOMIZATION, *MANIFEST_FILES], ids=lambda p: p.name)
def test_every_manifest_parses_as_named_namespace_free_objects(path: Path) -> None:
    documents = _documents(path)

    assert documents, f"{path.name} holds no object"
    for doc in documents:
        assert {"apiVersion", "kind"} <= set(doc), f"{path.name}: apiVersion and kind required"
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], f"{path.name}: an object without a name"
            assert "namespace" not in doc["metadata"], f"{_name(doc)}: leave the namespace out"


def test_the_kustomization_lists_every_manifest_except_the_examples() -> None:
    listed = [str(name) for name in _kustomization()["resources"]]
    examples = {p.name for p in MANIFEST_FILES if p.name.endswith(".example.yaml")}
    expected = {p.name for p in MANIFEST_FILES} - examples

    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == expected
    assert {SECRET_EXAMPLE.name, INGRESS_EXAMPLE.name} <= examples
    assert not list(K8S.glob("*.yml")), "name manifests *.yaml"
    assert _of_kind("Secret", _applied_files()) == [], "no Secret may be applied from the repo"


def test_the_migration_step_selects_the_config_map_and_the_job_alone() -> None:
    # The guide applies these two selections first, then waits for the Job.
    def selected(component: str) -> list[str]:
        return [
            _name(doc)
            for doc in _objects(_applied_files())
            if doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]

    assert selected("config") == [f"ConfigMap/{CONFIG_MAP}"]
    assert selected("migrate") == ["Job/venta-migrate"]
    (container,) = _pod_spec(_named("Job", "venta-migrate"))["containers"]
    assert _resolve([str(a) for a in container["args"]])[0] == ["db", "migrate"]


def test_every_container_uses_the_image_the_kustomization_sets() -> None:
    names = {str(image["name"]) for image in _kustomization()["images"]}

    for workload, container in _containers():
        assert container["image"].split(":")[0] in names, _name(workload)


@pytest.mark.parametrize(
    "path", [*MANIFEST_FILES, DOCKERFILE], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_venta_variable_named_is_a_setting(path: Path) -> None:
    plugin_prefixes = tuple(_plugin_prefix(project) for project in PLUGIN_PROJECTS)
    named = set(VARIABLE.findall(path.read_text()))
    core = {name for name in named if not name.startswith(plugin_prefixes)}

    assert sorted(core - set(CORE_VARIABLES)) == [], "not settings of venta_core.settings"


@pytest.mark.parametrize("project", sorted(PLUGIN_PROJECTS))
def test_every_plugin_variable_named_is_a_setting_of_that_plugin(project: str) -> None:
    prefix = _plugin_prefix(project)
    named = {
        name
        for path in [*MANIFEST_FILES, DOCKERFILE]
        for name in VARIABLE.findall(path.read_text())
        if name.startswith(prefix)
    }

    assert sorted(named - set(_plugin_variables(project))) == []


def test_the_variable_list_covers_nested_groups() -> None:
    # The check above is only as good as this list.
    assert {"VENTA_ENV", "VENTA_HTTP__PORT", "VENTA_SERVICES__VENDOR__ADDRESS"} <= set(
        CORE_VARIABLES
    )
    assert {"VENTA_GRPC__IDENTITY_SECRET", "VENTA_AUTH__DEV_SECRET"} <= SENSITIVE
    assert "VENTA_SERVICES" not in CORE_VARIABLES


def test_the_config_map_runs_production_without_secrets() -> None:
    data = _named("ConfigMap", CONFIG_MAP)["data"]

    assert data["VENTA_ENV"] == "production"
    assert sorted(set(data) & SENSITIVE) == [], "secrets and backend URLs go in the Secret"
    for plugin in PLUGIN_PROJECTS:
        prefix = _plugin_prefix(plugin)
        secret_names = {n for n in data if n.startswith(prefix)}
        if secret_names:
            secrets = {n for n, s in _plugin_variables(plugin).items() if s}
            assert sorted(secret_names & secrets) == []


def test_the_secret_example_holds_the_connection_urls_and_the_identity_secret() -> None:
    secret = _documents(SECRET_EXAMPLE)[0]
    keys = set(secret["stringData"])

    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == SECRET
    assert CONNECTION_URLS | {"VENTA_GRPC__IDENTITY_SECRET"} <= keys
    assert sorted(keys - set(CORE_VARIABLES)) == []
    assert all(
        "CHANGE-ME" in str(v) for k, v in secret["stringData"].items() if k != "VENTA_NATS_URL"
    )
    assert "kubectl create secret generic venta" in SECRET_EXAMPLE.read_text()


@pytest.mark.parametrize("item", _containers(), ids=_container_id)
def test_no_secret_is_written_into_a_container_spec(item: tuple[Manifest, Manifest]) -> None:
    assert sorted(_literal_env_names(item[1]) & SENSITIVE) == []


@pytest.mark.parametrize("item", _containers(), ids=_container_id)
def test_every_container_runs_a_venta_command(item: tuple[Manifest, Manifest]) -> None:
    args = [str(arg) for arg in item[1]["args"]]

    assert "command" not in item[1], "keep the image's entrypoint (venta)"
    _resolve(args)  # every option parses
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("item", _containers(), ids=_container_id)
def test_every_container_gets_valid_settings(item: tuple[Manifest, Manifest]) -> None:
    settings = _settings(_environment(item[1]))

    assert settings.env.value == "production"
    assert not settings.is_sqlite, "pods share PostgreSQL; a SQLite file would be per pod"
    assert settings.redis_url and settings.nats_url, "replicas share Redis and NATS"
    assert settings.auto_migrate is False, "the Job migrates, not the processes"


def _servers() -> list[tuple[Manifest, Manifest]]:
    return [(w, c) for w, c in _containers() if w["kind"] == "Deployment"]


@pytest.mark.parametrize("item", _servers(), ids=_container_id)
def test_probes_and_ports_match_where_the_process_listens(item: tuple[Manifest, Manifest]) -> None:
    container = item[1]
    process = _process([str(a) for a in container["args"]], _environment(container))
    declared = {int(p["containerPort"]) for p in container["ports"]}

    assert process.host in {"0.0.0.0", "::"}, f"listens on {process.host}: unreachable in a pod"
    assert declared == set(process.ports), "declare exactly the ports the process listens on"
    probes = {
        "startupProbe": "/health",
        "livenessProbe": "/health",  # never /ready: a database outage must not restart pods
        "readinessProbe": "/ready",
    }
    for probe, path in probes.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{probe} must ask {path}"
        assert _container_port(container, get["port"]) == process.ops_port, probe


@pytest.mark.parametrize("deployment", _of_kind("Deployment"), ids=_name)
def test_the_grace_period_covers_the_shutdown(deployment: Manifest) -> None:
    pod = _pod_spec(deployment)
    (container,) = pod["containers"]
    process = _process([str(a) for a in container["args"]], _environment(container))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    has_service = any(_selected_by(service, deployment) for service in _of_kind("Service"))

    if has_service:
        assert pre_stop > 0, "let endpoints drop the pod before it stops accepting (preStop sleep)"
    needed = pre_stop + process.shutdown_seconds + STOP_MARGIN_SECONDS
    assert pod["terminationGracePeriodSeconds"] >= needed


def _selected_by(service: Manifest, workload: Manifest) -> bool:
    selector: dict[str, str] = service["spec"]["selector"]
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return selector.items() <= labels.items()


def _selected(service: Manifest) -> Manifest:
    matches = [d for d in _of_kind("Deployment") if _selected_by(service, d)]
    assert len(matches) == 1, f"{_name(service)} selects {len(matches)} Deployments"
    return matches[0]


@pytest.mark.parametrize("service", _of_kind("Service"), ids=_name)
def test_every_service_reaches_a_deployment_port(service: Manifest) -> None:
    (container,) = _pod_spec(_selected(service))["containers"]

    for port in service["spec"]["ports"]:
        target = _container_port(container, port.get("targetPort", port["port"]))
        if service["spec"].get("clusterIP") == "None":
            # Callers of a headless Service connect to the pods: no port mapping.
            assert port["port"] == target


def _callers() -> list[tuple[Manifest, Manifest, str, str]]:
    found = []
    for workload, container in _containers():
        for name, value in _environment(container).items():
            match = re.fullmatch(r"VENTA_SERVICES__([A-Z]+)__ADDRESS", name)
            if match:
                found.append((workload, container, match.group(1).lower(), value))
    return found


def test_the_gateways_call_every_service_remotely() -> None:
    callers = {(_name(w), service) for w, _, service, _ in _callers()}

    for deployment in ("venta-gateway", "venta-ws"):
        for service in ("user", "vendor", "location"):
            assert (f"Deployment/{deployment}", service) in callers


@pytest.mark.parametrize("caller", _callers(), ids=lambda c: f"{_name(c[0])}->{c[2]}")
def test_every_service_address_reaches_a_pod_serving_it(
    caller: tuple[Manifest, Manifest, str, str],
) -> None:
    _, container, service_name, address = caller
    match = ADDRESS.fullmatch(address)
    assert match, f"{address!r}: use dns:///<headless Service>:<port> to balance over pods"
    service = _named("Service", match.group("host"))
    port = int(match.group("port"))
    own = _process([str(a) for a in container["args"]], _environment(container))
    (server,) = _pod_spec(_selected(service))["containers"]
    server_args = [str(a) for a in server["args"]]
    serving = _process(server_args, _environment(server))

    assert service_name not in own.services, "a process must not name an address it serves"
    assert service["spec"].get("clusterIP") == "None", "gRPC needs a headless Service"
    assert port in {int(p["port"]) for p in service["spec"]["ports"]}
    assert service_name in serving.services
    assert _grpc_port_of(serving, server_args, service_name) == port


@pytest.mark.parametrize("workload", _workloads(), ids=_name)
def test_pods_run_as_non_root_on_a_read_only_root(workload: Manifest) -> None:
    pod = _pod_spec(workload)
    volumes = {v["name"] for v in pod.get("volumes", [])}

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod.get("automountServiceAccountToken") is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, "a writable /tmp (multipart spooling, libraries)"
        assert set(mounts.values()) <= volumes
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


def _max_replicas(deployment: Manifest) -> int:
    for hpa in _of_kind("HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]:
            return int(hpa["spec"]["maxReplicas"])
    return int(deployment["spec"].get("replicas", 1))


def test_the_gateway_keeps_uploads_on_a_volume_every_replica_shares() -> None:
    gateways = [
        (w, c)
        for w, c in _servers()
        if _resolve([str(a) for a in c["args"]])[0] in (["serve", "gateway"], ["serve", "all"])
    ]

    assert gateways
    for workload, container in gateways:
        uploads = _settings(_environment(container)).uploads.dir
        assert uploads.startswith("/"), "an absolute VENTA_UPLOADS__DIR (the root is read-only)"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert uploads in mounts, f"mount a volume at {uploads}"
        volume = next(v for v in _pod_spec(workload)["volumes"] if v["name"] == mounts[uploads])
        if _max_replicas(workload) > 1:
            claim = _named("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
            assert "ReadWriteMany" in claim["spec"]["accessModes"]


@pytest.mark.parametrize("hpa", _of_kind("HorizontalPodAutoscaler"), ids=_name)
def test_autoscalers_own_the_replicas_of_their_deployment(hpa: Manifest) -> None:
    target = hpa["spec"]["scaleTargetRef"]
    deployment = _named(target["kind"], target["name"])

    assert "replicas" not in deployment["spec"], "an apply would reset what the autoscaler set"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for container in _pod_spec(deployment)["containers"]:
        assert "cpu" in container["resources"]["requests"], "utilization needs a CPU request"


def test_gateway_and_ws_autoscale_and_ws_has_a_disruption_budget() -> None:
    scaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in _of_kind("HorizontalPodAutoscaler")}
    (budget,) = _of_kind("PodDisruptionBudget")
    ws = _named("Deployment", "venta-ws")

    assert {"venta-gateway", "venta-ws"} <= scaled
    assert budget["spec"]["selector"]["matchLabels"].items() <= (
        ws["spec"]["template"]["metadata"]["labels"].items()
    )


def _size_in_bytes(text: str) -> int:
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    match = re.fullmatch(r"([0-9]+)([kmg]?)", text.lower())
    assert match, text
    return int(match.group(1)) * units[match.group(2)]


def test_the_ingress_example_routes_http_and_websockets() -> None:
    ingresses = {doc["metadata"]["name"]: doc for doc in _documents(INGRESS_EXAMPLE)}
    defaults = _settings({})
    ws_notes = ingresses["venta-ws"]["metadata"]["annotations"]
    http_notes = ingresses["venta-gateway"]["metadata"]["annotations"]
    routes = {
        path["path"]: path["backend"]["service"]
        for ingress in ingresses.values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }

    assert routes["/"]["name"] == "venta-gateway"
    assert routes["/socket.io/"]["name"] == "venta-ws"
    for backend in routes.values():
        ports = _named("Service", backend["name"])["spec"]["ports"]
        assert backend["port"]["name"] in {p["name"] for p in ports}
    body = _size_in_bytes(http_notes["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert body > defaults.uploads.max_bytes, "image uploads must pass the proxy"
    keepalive = defaults.realtime.ping_interval_seconds + defaults.realtime.ping_timeout_seconds
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(ws_notes[f"nginx.ingress.kubernetes.io/{timeout}"]) > keepalive
    assert ws_notes["nginx.ingress.kubernetes.io/affinity"] == "cookie", "long-polling clients"


def test_the_image_runs_venta_serve_all_by_default() -> None:
    (entrypoint,) = _args_of("ENTRYPOINT")
    (command,) = _args_of("CMD")

    assert yaml.safe_load(entrypoint) == ["venta"]
    assert yaml.safe_load(command) == ["serve", "all"]
    assert CliRunner().invoke(cli, [*yaml.safe_load(command), "--help"]).exit_code == 0


def test_the_image_is_multi_stage_on_python_slim_and_runs_as_non_root() -> None:
    (base,) = _build_args("PYTHON_IMAGE")
    stages = _args_of("FROM")
    users = _args_of("USER")

    assert base == "python:3.11-slim"
    assert len(stages) >= 2 and all(s.startswith("${PYTHON_IMAGE}") for s in stages)
    assert users, "the image must not run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric user lets Kubernetes verify runAsNonRoot"
    (run_as,) = {
        w["spec"]["template"]["spec"]["securityContext"]["runAsUser"] for w in _workloads()
    }
    assert run_as == int(user)


def test_the_image_builds_and_installs_every_plugin_by_default() -> None:
    defaults = _build_args("PLUGINS")
    copied = " ".join(_args_of("COPY"))
    installs = [run for run in _args_of("RUN") if "pip install" in run]

    assert len(defaults) == 2, "declare PLUGINS in the build and the final stage"
    for value in defaults:
        assert sorted(value.split()) == sorted(p.name for p in PLUGIN_PROJECTS.values())
        assert sorted(value.split()) == sorted(PLUGIN_PROJECTS)  # directory = project name
    assert "plugins" in copied.split()
    (install,) = installs
    assert re.search(r"\bventa \$\{PLUGINS\}", install), "install venta and the chosen plugins"
    assert "--no-index" in install, "install only the wheels built in the image"


def test_the_image_copies_what_the_build_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = set(" ".join(_args_of("COPY")).split())
    hook = project["tool"]["hatch"]["build"]["hooks"]["custom"]["path"]

    assert {"pyproject.toml", project["project"]["readme"], hook, "src"} <= copied


def test_the_image_listens_on_all_interfaces_and_bakes_no_secret() -> None:
    env = {k: v for rest in _args_of("ENV") for k, v in _assignments(rest).items()}
    hosts = {name for name in CORE_VARIABLES if name.endswith("__HOST")}

    assert hosts == {
        "VENTA_HTTP__HOST",
        "VENTA_REALTIME__HOST",
        "VENTA_WORKER__HOST",
        "VENTA_GRPC__HOST",
    }
    for name in hosts:
        assert env.get(name) == "0.0.0.0", name
    assert sorted(set(env) & SENSITIVE) == []
    assert not [arg for arg in _args_of("ARG") if VARIABLE.search(arg)], "no settings as build args"


def test_the_image_exposes_the_default_port_of_every_role() -> None:
    exposed = {int(p.split("/")[0]) for rest in _args_of("EXPOSE") for p in rest.split()}
    s = _settings({})
    grpc = {s.grpc.port_of(name) for name in ("user", "vendor", "location")}
    side = {s.grpc.metrics_port_for(port) for port in grpc}

    assert exposed == {s.http.port, s.realtime.port, s.worker.port, *grpc, *side}


def test_the_build_context_leaves_local_secrets_and_environments_out() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}

    assert {".git", ".venv", "**/.env"} <= patterns
    assert "src/venta_core/transports/grpc/generated" in patterns  # made by the build itself


def test_the_deployment_guide_names_every_manifest() -> None:
    text = DEPLOYMENT_DOC.read_text()
    kubernetes = text.split("\n## Kubernetes\n", 1)[1].split("\n## ", 1)[0]

    assert "\n## Container image\n" in text
    assert "kubectl apply -k deploy/kubernetes" in kubernetes
    for path in MANIFEST_FILES:
        assert path.name in kubernetes, f"docs/deployment.md, Kubernetes: describe {path.name}"
