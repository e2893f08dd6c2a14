"""What the deployment files (Kubernetes manifests, compose.yaml) are checked against: the
settings a process builds from an environment, the `venta` command tree, and where a process
with given arguments and settings listens.

Shared by tests/unit/test_deploy_manifests.py and tests/unit/test_compose.py.
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
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings
from typer.core import TyperGroup
from typer.main import get_command

from venta_cli.main import cli
from venta_cli.serve_grpc import parse_services
from venta_core.settings import Settings

__all__ = [
    "CONNECTION_URLS",
    "CORE_VARIABLES",
    "DOCKERFILE",
    "PLUGINS",
    "PLUGIN_PROJECTS",
    "ROOT",
    "SENSITIVE",
    "VARIABLE",
    "Process",
    "assignments",
    "dockerfile_args",
    "dockerfile_env",
    "grpc_port_of",
    "plugin_prefix",
    "plugin_variables",
    "process_of",
    "resolve",
    "settings_for",
]

ROOT = Path(__file__).parents[2]
PLUGINS = ROOT / "plugins"
DOCKERFILE = ROOT / "Dockerfile"
#: The backends' URLs: they may carry passwords, so they are treated as secrets.
CONNECTION_URLS = {"VENTA_DATABASE_URL", "VENTA_REDIS_URL", "VENTA_NATS_URL"}
VARIABLE = re.compile(r"\bVENTA_[A-Z0-9_]*[A-Z0-9]\b")


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


def plugin_prefix(project: str) -> str:
    """``venta-clerk`` -> ``VENTA_CLERK_``."""
    return "VENTA_" + project.removeprefix("venta-").upper().replace("-", "_") + "_"


def plugin_variables(project: str) -> dict[str, bool]:
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


def settings_for(env: dict[str, str]) -> Settings:
    """Settings as a process with exactly this environment builds them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("VENTA_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        return Settings(_env_file=None)


# --- the venta command -------------------------------------------------------------------------

COMMAND = get_command(cli)


def resolve(args: list[str]) -> tuple[list[str], dict[str, Any]]:
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
    ops_port: int | None  # /health, /ready and /metrics
    shutdown_seconds: float  # in-flight work allowed after SIGTERM
    services: tuple[str, ...]  # gRPC services it serves
    settings: Settings


def process_of(args: list[str], env: dict[str, str]) -> Process:
    path, params = resolve(args)
    s = settings_for(env)
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


def grpc_port_of(process: Process, args: list[str], service: str) -> int:
    """The port ``service`` is served on by ``process`` (started with ``args``)."""
    port = resolve(args)[1].get("port")
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


def dockerfile_args(keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction of the Dockerfile, in order."""
    return [rest for kw, rest in _instructions() if kw == keyword]


def assignments(text: str) -> dict[str, str]:
    """``A=1 B="x y"`` -> {"A": "1", "B": "x y"}."""
    pairs = {}
    for token in shlex.split(text):
        name, sep, value = token.partition("=")
        pairs[name] = value if sep else ""
    return pairs


def dockerfile_env() -> dict[str, str]:
    """The environment the image gives every container (its ENV instructions)."""
    return {k: v for rest in dockerfile_args("ENV") for k, v in assignments(rest).items()}
