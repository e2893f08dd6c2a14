"""How environment variables become setting values: list settings and connection URLs."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic.functional_validators import BeforeValidator

from tests.cli.process import venta
from venta_cli.config import env_name, settings_fields
from venta_core.settings_types import split_list


def _lines(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines())


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("https://a.example", '["https://a.example"]'),
        (" https://a.example , https://b.example,", '["https://a.example", "https://b.example"]'),
        ('["https://a.example"]', '["https://a.example"]'),
    ],
)
def test_a_list_setting_takes_one_item_a_comma_list_or_json(
    tmp_path: Path, value: str, shown: str
) -> None:
    result = venta(
        "config",
        "show",
        cwd=tmp_path,
        VENTA_HTTP__CORS_ORIGINS=value,
        VENTA_REALTIME__CORS_ORIGINS=value,
    )

    assert (result.returncode, result.stderr) == (0, "")
    settings = _lines(result.stdout)
    assert settings["VENTA_HTTP__CORS_ORIGINS"] == shown
    assert settings["VENTA_REALTIME__CORS_ORIGINS"] == shown


def test_a_broken_json_list_is_one_line(tmp_path: Path) -> None:
    result = venta("config", "show", cwd=tmp_path, VENTA_WORKER__BACKOFF_SECONDS="[1, 2")

    assert result.returncode == 2
    assert result.stderr == (
        "error: VENTA_WORKER__BACKOFF_SECONDS: starts with '[' but is not a JSON list; "
        "give a comma list (got '[1, 2')\n"
    )


def _list_fields() -> list[tuple[str, typing.Any]]:
    return [
        (env_name(path), field)
        for path, field in settings_fields()
        if typing.get_origin(field.annotation) is list
    ]


def test_every_list_setting_reads_comma_lists() -> None:
    fields = _list_fields()
    assert len(fields) >= 5
    for name, field in fields:
        splitters = [
            m for m in field.metadata if isinstance(m, BeforeValidator) and m.func is split_list
        ]
        assert splitters, f"{name}: declare it as CommaList[...]"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "VENTA_REDIS_URL",
            "http://redis:6379/0",
            "use redis://[:password@]host:6379/0 (rediss:// for TLS, unix:///path.sock, "
            "redis+cluster://host1:6379,host2:6379 for a Redis Cluster)",
        ),
        (
            "VENTA_REDIS_URL",
            "redis:6379",
            "use redis://[:password@]host:6379/0 (rediss:// for TLS, unix:///path.sock, "
            "redis+cluster://host1:6379,host2:6379 for a Redis Cluster)",
        ),
        (
            "VENTA_NATS_URL",
            "nats://a:4222,http://b:4222",
            "use nats://host:4222 (tls://, ws:// or wss:// also work); several servers "
            "separated by commas",
        ),
        ("VENTA_DATABASE_URL", "mysql://db/venta", "use a postgresql:// or sqlite:// URL"),
    ],
)
def test_a_url_of_the_wrong_scheme_is_refused(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = venta("config", "show", cwd=tmp_path, **{variable: value})

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {variable}: {message}\n"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VENTA_REDIS_URL", "rediss://:pw@redis:6380/1"),
        ("VENTA_REDIS_URL", "redis+cluster://a:7000,b:7001"),
        ("VENTA_NATS_URL", "nats://a:4222,tls://b:4222"),
    ],
)
def test_accepted_urls(tmp_path: Path, variable: str, value: str) -> None:
    result = venta("config", "show", cwd=tmp_path, **{variable: value})

    assert (result.returncode, result.stderr) == (0, "")


def test_an_empty_url_means_unset(tmp_path: Path) -> None:
    result = venta("config", "show", "--json", cwd=tmp_path, VENTA_REDIS_URL="", VENTA_NATS_URL=" ")

    assert result.returncode == 0, result.stderr
    assert '"redis_url": null' in result.stdout
    assert '"nats_url": null' in result.stdout


def test_a_group_given_as_one_variable_must_be_json(tmp_path: Path) -> None:
    result = venta("config", "show", cwd=tmp_path, VENTA_HTTP="port=9000")

    assert result.returncode == 2
    assert result.stderr.startswith("error: VENTA_HTTP: not valid JSON (")
    assert result.stderr.count("\n") == 1
