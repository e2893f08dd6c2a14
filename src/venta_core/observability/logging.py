"""Process logging: JSON lines (or plain text) carrying the request id, with secrets redacted.

``configure_logging`` installs one handler on the root logger; calling it again replaces that
handler, so the CLI and tests may call it freely. Uvicorn's own loggers are routed through the
same handler and its access log is silenced, because the HTTP gateway writes its own access line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from venta_core.context import current
from venta_core.settings import LogSettings

__all__ = [
    "REDACTED",
    "ContextFilter",
    "JsonFormatter",
    "RedactingFilter",
    "StderrHandler",
    "configure_logging",
    "redact",
]

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"authorization|password|passwd|secret|token|api[_-]?key|cookie|credential", re.IGNORECASE
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+):[^@\s/]+@")

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

_PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"
_HANDLER_MARK = "_venta_handler"


def redact(value: Any, key: str = "") -> Any:
    """``value`` with secrets masked: values under secret-looking keys, bearer tokens and
    passwords inside URLs in text."""
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1:***@", _BEARER.sub(r"\1 " + REDACTED, value))
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v) for v in value)
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")
    }


class RedactingFilter(logging.Filter):
    """Masks secrets in the message, its arguments and ``extra`` fields before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str | Mapping):
            record.msg = redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = redact(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(a) for a in record.args)
        for name, value in _extras(record).items():
            setattr(record, name, redact(value, name))
        return True


class ContextFilter(logging.Filter):
    """Stamps ``request_id`` (and ``user_id``) from the request context onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        if getattr(record, "request_id", None) is None:
            record.request_id = ctx.request_id if ctx else None
        if ctx is not None and ctx.user_id and getattr(record, "user_id", None) is None:
            record.user_id = ctx.user_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in _extras(record).items():
            payload.setdefault(key, value)  # extra fields never replace the fields above
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def _rfc3339(created: float) -> str:
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class StderrHandler(logging.Handler):
    """Writes each record to the *current* ``sys.stderr``, looked up per record, so a stream
    swapped after configuration (test capture, a supervisor) is followed, not written closed."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _build_handler(settings: LogSettings) -> logging.Handler:
    handler = StderrHandler()
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    formatter = JsonFormatter() if settings.json_format else logging.Formatter(_PLAIN_FORMAT)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    return handler


def configure_logging(settings: LogSettings) -> logging.Handler:
    """Install (or replace) venta's handler on the root logger and return it. Idempotent."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    handler = _build_handler(settings)
    root.addHandler(handler)
    root.setLevel(settings.level)
    _route_uvicorn_loggers()
    return handler


def _route_uvicorn_loggers() -> None:
    """Send uvicorn's messages through the root handler; drop its duplicate access log."""
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.setLevel(logging.WARNING)
