"""Developer sessions: `nox -s tests`, `nox -s tests_real`, `nox -s lint`, `nox -s typecheck`."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

REAL_SERVICES = {
    "VENTA_TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
    "VENTA_TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
    "VENTA_TEST_NATS_URL": "nats://127.0.0.1:4222",
}


@nox.session
def tests(session: nox.Session) -> None:
    """The suite on the embedded backends (real-service variants skip)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def tests_real(session: nox.Session) -> None:
    """The suite with PostgreSQL, Redis and NATS on loopback (override with VENTA_TEST_*)."""
    session.install("-e", ".[test]")
    env = {k: session.env.get(k, v) for k, v in REAL_SERVICES.items()}
    session.run("pytest", *session.posargs, env={**env, "CI": "true"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and the import-layer contracts."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", "src", "tests")
    session.run("ruff", "format", "--check", "src", "tests")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".[dev]")
    session.run("mypy")
