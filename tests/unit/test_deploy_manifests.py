"""deploy/kubernetes and the Dockerfile agree with the code.

Every VENTA_* variable they name is a setting, every container runs a real `venta` command,
every probe and Service reaches the port the process listens on with the settings the pod gets,
grace periods cover the shutdown settings, the kustomization lists every manifest, and the image
installs the plugins of plugins/.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.unit.deployment import (
    CONNECTION_URLS,
    CORE_VARIABLES,
    DOCKERFILE,
    PLUGIN_PROJECTS,
    ROOT,
    SENSITIVE,
    VARIABLE,
    assignments,
    dockerfile_args,
    dockerfile_env,
    grpc_port_of,
    plugin_prefix,
    plugin_variables,
    process_of,
    resolve,
    settings_for,
)
from venta_cli.main import cli

K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = K8S / "kustomization.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"

CONFIG_MAP = "venta-config"
SECRET = "venta"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
INGRESS_EXAMPLE = K8S / "ingress.example.yaml"
#: Time a process needs after its servers stopped: position flush, the outbox relay's last pass.
STOP_MARGIN_SECONDS = 10.0
ADDRESS = re.compile(r"^dns:///(?P<host>[a-z0-9]([-a-z0-9]*[a-z0-9])?):(?P<port>[0-9]+)$")

Manifest = dict[str, Any]


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


# --- Dockerfile --------------------------------------------------------------------------------


def _build_args(name: str) -> list[str]:
    return [assignments(rest)[name] for rest in dockerfile_args("ARG") if name in assignments(rest)]


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
    assert resolve([str(a) for a in container["args"]])[0] == ["db", "migrate"]


def test_every_container_uses_the_image_the_kustomization_sets() -> None:
    names = {str(image["name"]) for image in _kustomization()["images"]}

    for workload, container in _containers():
        assert container["image"].split(":")[0] in names, _name(workload)


@pytest.mark.parametrize(
    "path", [*MANIFEST_FILES, DOCKERFILE], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_venta_variable_named_is_a_setting(path: Path) -> None:
    plugin_prefixes = tuple(plugin_prefix(project) for project in PLUGIN_PROJECTS)
    named = set(VARIABLE.findall(path.read_text()))
    core = {name for name in named if not name.startswith(plugin_prefixes)}

    assert sorted(core - set(CORE_VARIABLES)) == [], "not settings of venta_core.settings"


@pytest.mark.parametrize("project", sorted(PLUGIN_PROJECTS))
def test_every_plugin_variable_named_is_a_setting_of_that_plugin(project: str) -> None:
    prefix = plugin_prefix(project)
    named = {
        name
        for path in [*MANIFEST_FILES, DOCKERFILE]
        for name in VARIABLE.findall(path.read_text())
        if name.startswith(prefix)
    }

    assert sorted(named - set(plugin_variables(project))) == []


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
        prefix = plugin_prefix(plugin)
        secret_names = {n for n in data if n.startswith(prefix)}
        if secret_names:
            secrets = {n for n, s in plugin_variables(plugin).items() if s}
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
    resolve(args)  # every option parses
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("item", _containers(), ids=_container_id)
def test_every_container_gets_valid_settings(item: tuple[Manifest, Manifest]) -> None:
    settings = settings_for(_environment(item[1]))

    assert settings.env.value == "production"
    assert not settings.is_sqlite, "pods share PostgreSQL; a SQLite file would be per pod"
    assert settings.redis_url and settings.nats_url, "replicas share Redis and NATS"
    assert settings.auto_migrate is False, "the Job migrates, not the processes"


def _servers() -> list[tuple[Manifest, Manifest]]:
    return [(w, c) for w, c in _containers() if w["kind"] == "Deployment"]


@pytest.mark.parametrize("item", _servers(), ids=_container_id)
def test_probes_and_ports_match_where_the_process_listens(item: tuple[Manifest, Manifest]) -> None:
    container = item[1]
    process = process_of([str(a) for a in container["args"]], _environment(container))
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
    process = process_of([str(a) for a in container["args"]], _environment(container))
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
    own = process_of([str(a) for a in container["args"]], _environment(container))
    (server,) = _pod_spec(_selected(service))["containers"]
    server_args = [str(a) for a in server["args"]]
    serving = process_of(server_args, _environment(server))

    assert service_name not in own.services, "a process must not name an address it serves"
    assert service["spec"].get("clusterIP") == "None", "gRPC needs a headless Service"
    assert port in {int(p["port"]) for p in service["spec"]["ports"]}
    assert service_name in serving.services
    assert grpc_port_of(serving, server_args, service_name) == port


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
        if resolve([str(a) for a in c["args"]])[0] in (["serve", "gateway"], ["serve", "all"])
    ]

    assert gateways
    for workload, container in gateways:
        uploads = settings_for(_environment(container)).uploads.dir
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
    defaults = settings_for({})
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
    (entrypoint,) = dockerfile_args("ENTRYPOINT")
    (command,) = dockerfile_args("CMD")

    assert yaml.safe_load(entrypoint) == ["venta"]
    assert yaml.safe_load(command) == ["serve", "all"]
    assert CliRunner().invoke(cli, [*yaml.safe_load(command), "--help"]).exit_code == 0


def test_the_image_is_multi_stage_on_python_slim_and_runs_as_non_root() -> None:
    (base,) = _build_args("PYTHON_IMAGE")
    stages = dockerfile_args("FROM")
    users = dockerfile_args("USER")

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
    copied = " ".join(dockerfile_args("COPY"))
    installs = [run for run in dockerfile_args("RUN") if "pip install" in run]

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
    copied = set(" ".join(dockerfile_args("COPY")).split())
    hook = project["tool"]["hatch"]["build"]["hooks"]["custom"]["path"]

    assert {"pyproject.toml", project["project"]["readme"], hook, "src"} <= copied
    assert "constraints.txt" in copied


def test_the_image_is_built_from_the_pinned_versions() -> None:
    (build,) = [run for run in dockerfile_args("RUN") if "pip wheel" in run]
    (install,) = [run for run in dockerfile_args("RUN") if "pip install" in run]

    assert "-c constraints.txt" in build, "build the wheels with the versions tested"
    assert "--no-index" in install, "so the image gets exactly those wheels"


def test_the_image_listens_on_all_interfaces_and_bakes_no_secret() -> None:
    env = dockerfile_env()
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
    build_args = dockerfile_args("ARG")
    assert not [arg for arg in build_args if VARIABLE.search(arg)], "no settings as build args"


def test_the_image_exposes_the_default_port_of_every_role() -> None:
    exposed = {int(p.split("/")[0]) for rest in dockerfile_args("EXPOSE") for p in rest.split()}
    s = settings_for({})
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
