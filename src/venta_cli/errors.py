"""How CLI commands fail: a line or two on stderr and a non-zero exit code, never a traceback.

- A failure the command expects (bad settings, a backend down, a schema behind, a taken port)
  prints ``error: <cause>``, and ``hint: <fix>`` when there is one. Settings and usage errors
  exit 2, a database schema that is not current 2, the rest 1.
- A bad flag is one line naming it: ``error: --port: 99999 is not in the range 1<=x<=65535``.
- Anything else (a bug, a plugin failing) is one line too, with a hint to rerun with ``--debug``.
- With ``venta --debug`` or ``VENTA_LOG__LEVEL=DEBUG`` the traceback is printed first.

Messages go through the log redaction, so a password in an exception text is masked here too.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

from venta_core.settings import Settings, SettingsError, load_settings

__all__ = [
    "debugging",
    "fail",
    "report",
    "settings_or_exit",
    "usage_error_line",
    "user_errors",
]

DEBUG_HINT = "rerun with `venta --debug ...` to see the traceback"


def fail(message: str, code: int = 1, hint: str | None = None) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    raise typer.Exit(code)


def debugging() -> bool:
    """Whether tracebacks are wanted: ``VENTA_LOG__LEVEL=DEBUG`` in the environment, which
    ``venta --debug`` sets for the command it runs."""
    return os.environ.get("VENTA_LOG__LEVEL", "").strip().upper() == "DEBUG"


def settings_or_exit(*, logs: bool = False, **overrides: object) -> Settings:
    """The settings, or exit 2 with the one-line reason. Variables named ``VENTA_*`` that are
    no setting are warned about: through the logs a process configures from these settings
    (``logs``, for processes that serve), else as ``warning:`` lines."""
    from venta_cli.environment import unknown_variable_warnings

    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc), code=2)
    warnings = unknown_variable_warnings()
    if logs:
        from venta_core.observability.logging import configure_logging

        configure_logging(settings.log)
        for warning in warnings:
            logging.getLogger("venta.settings").warning(warning)
    else:
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
    return settings


def report(exc: BaseException) -> NoReturn:
    """Print ``exc`` as ``error:`` (and ``hint:``) lines and exit with its code."""
    from venta_core.errors import VentaError
    from venta_core.observability.logging import redact
    from venta_core.startup import StartupError

    if debugging():
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, StartupError):
        fail(str(exc), exc.exit_code, exc.hint)
    if isinstance(exc, SettingsError):
        fail(str(exc), code=2)
    if isinstance(exc, VentaError):
        fail(f"{exc.code}: {exc.message}")
    if _expected(exc):
        fail(str(redact(str(exc))))
    if isinstance(exc, OSError):
        fail(f"{type(exc).__name__}: {redact(str(exc))}")
    lines = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    fail(f"unexpected {redact(detail)}", hint=None if debugging() else DEBUG_HINT)


def _expected(exc: BaseException) -> bool:
    """Errors whose text is already the one line a person needs (their modules say so).
    Matched by class name, so that failing does not import alembic, uvicorn or grpc."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"RunnerError", "MigrationError", "GrpcServerError", "OpsServerError"})


_RANGE_ERRORS = {"less_than_equal", "greater_than_equal", "less_than", "greater_than"}


def _bad_value(exc: Any, param: Any, message: str) -> str:
    """What is wrong with a flag's value, with the value: typer checks values with pydantic,
    whose error (the ``__cause__``) holds it."""
    errors = getattr(exc.__cause__, "errors", None)
    if not callable(errors) or not errors():
        return message
    first = errors()[0]
    given = first.get("input")
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if first.get("type") in _RANGE_ERRORS and (low is not None or high is not None):
        bounds = "<=".join(str(b) for b in (low, "x", high) if b is not None)
        if low is None or high is None:
            bounds = f"x>={low}" if high is None else f"x<={high}"
        return f"{given} is not in the range {bounds}"
    return f"{given} is not valid ({message[:1].lower()}{message[1:]})"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the failures of a command into ``error:`` lines (``report``)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:
        report(exc)


def usage_error_line(exc: Any) -> str:
    """One line for a usage error of typer's click: the flag, then what is wrong with it."""
    param = getattr(exc, "param", None)
    message = str(getattr(exc, "message", exc)).strip().rstrip(".")
    if param is not None:
        names = [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
        longest = max(names, key=len) if param.param_type_name == "option" and names else None
        flag = longest or (param.metavar or param.name or "").upper()
        if "MissingParameter" in {cls.__name__ for cls in type(exc).__mro__}:
            return f"{flag}: required, not given"
        return f"{flag}: {_bad_value(exc, param, message)}"
    option = getattr(exc, "option_name", None)
    if option and type(exc).__name__ == "NoSuchOption":
        close = sorted(getattr(exc, "possibilities", None) or ())
        guess = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"no such option {option}{guess}"
    return message[:1].lower() + message[1:]
