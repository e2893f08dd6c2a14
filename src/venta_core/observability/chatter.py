"""Library chatter: INFO messages of other libraries that tell an operator nothing, demoted to
DEBUG.

uvicorn logs every websocket handshake (``WebSocket /socket.io/?... [accepted]``, then
``connection open`` and ``connection closed``) at INFO: one real-time client is three lines, a
busy gateway thousands a minute. It also announces its own lifecycle (``Started server
process``, ``Waiting for application startup``...), which venta's start-up banner and shutdown
lines already say. Alembic sets itself up aloud (``Context impl SQLiteImpl.``, ``Will assume
transactional DDL.``, ``setup plugin ...``) before every migration command.

These loggers also carry messages that matter (uvicorn's errors, alembic's ``Running upgrade``),
so the loggers' levels stay as they are: ``ChatterFilter`` matches the chatter by logger and
message template and shows it as DEBUG, only when the process logs at DEBUG.
"""

from __future__ import annotations

import logging

__all__ = ["CHATTER", "ChatterFilter", "is_chatter"]

#: Logger name -> message templates (``record.msg`` prefixes) logged at INFO that are chatter.
CHATTER: dict[str, tuple[str, ...]] = {
    "uvicorn.error": (
        '%s - "WebSocket ',  # handshake lines: [accepted], 403, other statuses
        "connection open",
        "connection closed",
        "Started server process",
        "Finished server process",
        "Waiting for application",
        "Application startup complete",
        "Application shutdown complete",
        "Shutting down",
        "Uvicorn running on",
        "Waiting for connections to close",
        "Waiting for background tasks",
    ),
    "websockets.server": ("connection open", "connection closed"),
    "alembic.runtime.migration": ("Context impl ", "Will assume "),
    "alembic.runtime.plugins": ("setup plugin ",),
}


def is_chatter(record: logging.LogRecord) -> bool:
    templates = CHATTER.get(record.name)
    return (
        templates is not None
        and record.levelno == logging.INFO
        and isinstance(record.msg, str)
        and record.msg.startswith(templates)
    )


class ChatterFilter(logging.Filter):
    """Drops chatter, or relabels it DEBUG when the process logs at DEBUG (``debug``)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self._debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_chatter(record):
            return True
        if not self._debug:
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True
