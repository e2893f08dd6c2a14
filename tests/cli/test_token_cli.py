"""``venta token issue``: a bare development token that the identity provider accepts."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
import typer
from typer.testing import CliRunner, Result

from venta_cli.token import token_app
from venta_core.errors import Unauthenticated
from venta_core.ports.identity import DevTokenProvider
from venta_core.settings import Settings

root = typer.Typer()
root.add_typer(token_app, name="token")


def issue(*args: str) -> Result:
    return CliRunner().invoke(root, ["token", "issue", *args])


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VENTA_AUTH__DEV_SECRET", "a-development-secret-for-the-cli-tests")


def _provider() -> DevTokenProvider:
    return DevTokenProvider(Settings(_env_file=None).auth)


async def test_token_verifies_with_the_configured_secret() -> None:
    result = issue("--sub", "alice", "--claim", "role=admin", "--claim", "level=3")

    assert result.exit_code == 0, result.output
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n"
    assert " " not in token
    identity = await _provider().verify(token)
    assert identity.subject == "alice"
    assert identity.claims["role"] == "admin"
    assert identity.claims["level"] == 3


async def test_ttl_sets_the_expiry() -> None:
    token = issue("--sub", "bob", "--ttl", "60").stdout.strip()

    claims = (await _provider().verify(token)).claims

    assert claims["exp"] - claims["iat"] == 60


async def test_another_secret_rejects_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue("--sub", "alice").stdout.strip()
    monkeypatch.setenv("VENTA_AUTH__DEV_SECRET", "another-development-secret-of-32-bytes")

    with pytest.raises(Unauthenticated):
        await _provider().verify(token)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_refused_when_dev_tokens_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENTA_AUTH__DEV_TOKENS", "false")

    result = issue("--sub", "alice")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        result.stderr == "error: development tokens are disabled (VENTA_AUTH__DEV_TOKENS=false)\n"
    )


@pytest.mark.parametrize(
    ("claim", "reason"),
    [("exp=1", "set by the token itself"), ("novalue", "expected key=value")],
)
def test_bad_claims_are_refused(claim: str, reason: str) -> None:
    result = issue("--sub", "alice", "--claim", claim)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert reason in result.stderr
    assert result.stderr.count("\n") == 1


def test_subject_is_required() -> None:
    result = issue()

    assert result.exit_code == 2
    assert "--sub" in result.stderr
