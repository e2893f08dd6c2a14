"""``venta config show`` and docs/configuration.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from venta_cli.config import config_app, env_name, mask_url_passwords, settings_fields

root = typer.Typer()
root.add_typer(config_app, name="config")

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"
SECRETS = (
    "s3cret",
    "pgpass",
    "redispass",
    "natspass",
    "grpc-identity-s3cret",
    "previous-dev-s3cret",
    "accepted-grpc-s3cret",
)


def show(*args: str) -> Result:
    return CliRunner().invoke(root, ["config", "show", *args])


@pytest.fixture(autouse=True)
def _no_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTA_AUTH__DEV_SECRET", "s3cret")
    monkeypatch.setenv("VENTA_GRPC__IDENTITY_SECRET", "grpc-identity-s3cret")
    monkeypatch.setenv("VENTA_AUTH__DEV_SECRET_PREVIOUS", "previous-dev-s3cret")
    monkeypatch.setenv("VENTA_GRPC__IDENTITY_SECRET_ACCEPTED", "accepted-grpc-s3cret")
    monkeypatch.setenv("VENTA_DATABASE_URL", "postgresql://venta:pgpass@db:5432/venta")
    monkeypatch.setenv("VENTA_REDIS_URL", "redis://:redispass@redis:6379/0")
    monkeypatch.setenv("VENTA_NATS_URL", "nats://n:natspass@a:4222,nats://n:natspass@b:4222")


def test_show_lists_every_setting() -> None:
    result = show()

    assert result.exit_code == 0, result.output
    names = [line.split("=", 1)[0] for line in result.stdout.splitlines()]
    assert names == [env_name(path) for path, _ in settings_fields()]
    assert "VENTA_HTTP__PORT=8000" in result.stdout.splitlines()
    assert "VENTA_REDIS_URL=" in result.stdout.splitlines()


@pytest.mark.usefixtures("secrets")
def test_show_masks_secrets() -> None:
    result = show()

    assert result.exit_code == 0, result.output
    assert not [secret for secret in SECRETS if secret in result.output]
    lines = result.stdout.splitlines()
    assert "VENTA_AUTH__DEV_SECRET=********" in lines
    assert "VENTA_AUTH__DEV_SECRET_PREVIOUS=********" in lines
    assert "VENTA_GRPC__IDENTITY_SECRET_ACCEPTED=********" in lines
    assert "VENTA_DATABASE_URL=postgresql+asyncpg://venta:***@db:5432/venta" in lines
    assert "VENTA_REDIS_URL=redis://:***@redis:6379/0" in lines
    assert "VENTA_NATS_URL=nats://n:***@a:4222,nats://n:***@b:4222" in lines


@pytest.mark.usefixtures("secrets")
def test_show_json_is_nested_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTA_HTTP__CORS_ORIGINS", '["https://app.example"]')
    monkeypatch.setenv("VENTA_GRPC__TLS_CERT_FILE", "/etc/venta/tls.crt")
    monkeypatch.setenv("VENTA_GRPC__TLS_KEY_FILE", "/etc/venta/tls.key")

    result = show("--json")

    assert result.exit_code == 0, result.output
    assert not [secret for secret in SECRETS if secret in result.output]
    data = json.loads(result.stdout)
    assert data["auth"]["dev_secret"] == "********"
    assert data["http"]["port"] == 8000
    assert data["http"]["cors_origins"] == ["https://app.example"]
    assert data["grpc"]["tls_cert_file"] == "/etc/venta/tls.crt"
    assert data["grpc"]["identity_secret"] == "********"
    assert data["services"]["vendor"]["address"] is None
    assert data["env"] == "development"


def test_invalid_configuration_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTA_HTTP__PORT", "99999")

    result = show()

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: VENTA_HTTP__PORT: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("redis://:p%40ss@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("nats://h:4222", "nats://h:4222"),
        ("nats://a:b@h1:4222,nats://h2:4222", "nats://a:***@h1:4222,nats://h2:4222"),
    ],
)
def test_mask_url_passwords(url: str, masked: str) -> None:
    assert mask_url_passwords(url) == masked


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `(VENTA_[A-Z0-9_]+)`", DOC.read_text(), re.MULTILINE))
    names = {env_name(path) for path, _ in settings_fields()}

    assert sorted(names - documented) == [], "add these to docs/configuration.md"
    assert sorted(documented - names) == [], "these are documented but are not settings"
