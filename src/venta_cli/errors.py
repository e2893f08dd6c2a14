"""How CLI commands fail: one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from venta_core.settings import Settings, SettingsError, load_settings

__all__ = ["fail", "settings_or_exit", "user_errors"]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc), code=2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the expected failures of a command into a one-line message."""
    from venta_core.errors import VentaError
    from venta_core.runner import RunnerError

    try:
        yield
    except (RunnerError, SettingsError) as exc:
        fail(str(exc), code=2 if isinstance(exc, SettingsError) else 1)
    except VentaError as exc:
        fail(f"{exc.code}: {exc.message}")
    except OSError as exc:
        fail(f"{type(exc).__name__}: {exc}")
