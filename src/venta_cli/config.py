"""``venta config``: the effective configuration, with secrets masked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from enum import Enum
from functools import reduce
from typing import Annotated, Any

import typer
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from venta_cli.errors import settings_or_exit
from venta_cli.help import examples
from venta_core.settings import Settings

__all__ = [
    "SECRET_MASK",
    "config_app",
    "env_name",
    "mask_url_passwords",
    "masked_settings",
    "settings_fields",
]

SECRET_MASK = "********"  # noqa: S105 - the mask shown instead of a secret
# scheme://user:PASSWORD@ -- also inside a comma-separated list of servers (NATS).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s,]*):[^@\s]*?@")

config_app = typer.Typer(
    help="Inspect the configuration.",
    epilog=examples("venta config show", "venta config show --json"),
    no_args_is_help=True,
)


def settings_fields(
    model: type[BaseModel] = Settings, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    """Every leaf setting as (path of field names, field), nested groups walked depth first."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from settings_fields(annotation, (*path, name))
        else:
            yield (*path, name), field


def env_name(path: tuple[str, ...]) -> str:
    """``("http", "port")`` -> ``VENTA_HTTP__PORT``."""
    return "VENTA_" + "__".join(part.upper() for part in path)


def mask_url_passwords(url: str) -> str:
    return _URL_PASSWORD.sub(r"\g<head>:***@", url)


def _masked(path: tuple[str, ...], value: Any) -> Any:
    if isinstance(value, SecretStr):
        return SECRET_MASK
    if isinstance(value, str) and path[-1].endswith("_url"):
        return mask_url_passwords(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _leaves(settings: Settings) -> Iterator[tuple[tuple[str, ...], Any]]:
    for path, _field in settings_fields():
        yield path, _masked(path, reduce(getattr, path, settings))


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings as nested JSON-ready data, secrets and URL passwords masked."""
    data: dict[str, Any] = {}
    for path, value in _leaves(settings):
        group = reduce(lambda node, key: node.setdefault(key, {}), path[:-1], data)
        group[path[-1]] = value
    return data


def _env_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


@config_app.command(
    epilog=examples(
        "venta config show",
        "venta config show --json",
        "VENTA_HTTP__PORT=9000 venta config show | grep HTTP",
    )
)
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
) -> None:
    """Print the effective configuration (environment, .env, defaults), secrets masked."""
    settings = settings_or_exit()
    if as_json:
        typer.echo(json.dumps(masked_settings(settings), indent=2, default=str))
        return
    for path, value in _leaves(settings):
        typer.echo(f"{env_name(path)}={_env_value(value)}")
