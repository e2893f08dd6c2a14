"""Process logging: JSON lines or readable text, carrying the request id, with secrets redacted.

``configure_logging`` installs one handler on the root logger; calling it again replaces that
handler, so the CLI and tests may call it freely. ``log.format`` picks the format: ``json`` (one
object per line, for log collectors), ``text`` (for people), or ``auto``: text when stderr is a
terminal, JSON otherwise. Uvicorn's own loggers are routed through the same handler and its
access log is silenced, because the HTTP gateway writes its own access line; the chatter of
uvicorn and alembic shows only at DEBUG (``chatter.py``).

Redaction happens on the handler, so it covers every logger, uvicorn's included, in both formats:
values under secret-looking keys, bearer tokens, passwords inside URLs and secret-looking query
parameters (``?token=``, ``access_token``, ``api_key``, ``X-Amz-Signature``...), which uvicorn
writes in its websocket handshake line and a Socket.IO client sends at connect.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from venta_core.context import current
from venta_core.observability import tracing
from venta_core.observability.chatter import ChatterFilter
from venta_core.settings import LogSettings

__all__ = [
    "REDACTED",
    "SAFE_RECORD",
    "ContextFilter",
    "JsonFormatter",
    "RedactingFilter",
    "StderrHandler",
    "TextFormatter",
    "configure_logging",
    "redact",
    "uses_json",
]

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"authorization|password|passwd|secret|token|api[_-]?key|cookie|credential", re.IGNORECASE
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*):[^@\s/]+@")
#: ``?name=value`` / ``&name=value`` whose name ends (after ``_``, ``-``, ``.``) in a secret word.
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:[a-z0-9]+[_.-])*"
    r"(?:token|jwt|key|apikey|secret|password|passwd|pwd|signature|sig|auth|authorization"
    r"|credential|credentials|code|session|sessionid)=)[^&#\s\"']*"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

#: Extra fields other libraries attach that are not for the log line (uvicorn's ANSI-coloured
#: copy of its message).
_DROPPED_EXTRAS = frozenset({"color_message"})
_HANDLER_MARK = "_venta_handler"
#: ``extra={SAFE_RECORD: True}`` marks a record made only of values venta bounds itself (the
#: access line: method label, route template, status, duration), which redaction skips.
SAFE_RECORD = "_venta_safe"


def redact(value: Any, key: str = "") -> Any:
    """``value`` with secrets masked: values under secret-looking keys; in text, bearer
    tokens, passwords inside URLs and secret-looking query parameters."""
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        value = _BEARER.sub(r"\1 " + REDACTED, value)
        value = _QUERY_SECRET.sub(r"\1" + REDACTED, value)
        return _URL_PASSWORD.sub(r"\1:***@", value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v) for v in value)
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(record).items()
        if k not in _RECORD_ATTRS and k not in _DROPPED_EXTRAS and not k.startswith("_")
    }


class RedactingFilter(logging.Filter):
    """Masks secrets in the message and ``extra`` fields before formatting.

    A text message is redacted once merged with its arguments, since a secret is often split
    between the two (``"GET %s"`` and a path with ``?token=...``, ``"?key=%s"`` and the key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SAFE_RECORD, False):
            return True
        if isinstance(record.msg, str):
            try:
                message = record.getMessage()
            except Exception:  # a bad format: logging reports it when the record is emitted
                message = None
            if message is not None:
                record.msg, record.args = redact(message), None
        elif isinstance(record.msg, Mapping):
            record.msg = redact(record.msg)
        for name, value in _extras(record).items():
            setattr(record, name, redact(value, name))
        return True


class ContextFilter(logging.Filter):
    """Stamps ``request_id`` (and ``user_id``) from the request context onto each record, and
    ``trace_id``/``span_id`` of the current span when tracing is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        if getattr(record, "request_id", None) is None:
            record.request_id = ctx.request_id if ctx else None
        if ctx is not None and ctx.user_id and getattr(record, "user_id", None) is None:
            record.user_id = ctx.user_id
        if tracing.active():
            span = trace.get_current_span().get_span_context()
            if span.is_valid:
                record.trace_id = format(span.trace_id, "032x")
                record.span_id = format(span.span_id, "016x")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": _ANSI.sub("", record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in _extras(record).items():
            payload.setdefault(key, value)  # extra fields never replace the fields above
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One readable line: local time, level, logger, ``[request id]``, message, then the
    ``extra`` fields as ``key=value``; a traceback follows on its own lines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).astimezone()
        parts = [
            stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}",
            f"{record.levelname:<7}",
            record.name,
        ]
        request_id = getattr(record, "request_id", None)
        if request_id:
            parts.append(f"[{request_id}]")
        parts.append(record.getMessage())
        fields = {k: v for k, v in _extras(record).items() if k not in {"request_id"}}
        parts.extend(f"{k}={_text_value(v)}" for k, v in fields.items() if v is not None)
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _text_value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


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


def uses_json(settings: LogSettings) -> bool:
    """Whether ``settings`` ask for JSON lines on this process's stderr (``auto``: when it is
    not a terminal)."""
    if settings.format == "auto":
        isatty = getattr(sys.stderr, "isatty", None)
        return not (callable(isatty) and isatty())
    return settings.format == "json"


def _build_handler(settings: LogSettings) -> logging.Handler:
    handler = StderrHandler()
    handler.addFilter(ChatterFilter(debug=settings.level == "DEBUG"))
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if uses_json(settings) else TextFormatter())
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
    """Send uvicorn's messages through the root handler, at the root's level (a uvicorn server
    started earlier with its own ``log_level`` leaves one on these loggers); drop its duplicate
    access log."""
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.setLevel(logging.WARNING)
