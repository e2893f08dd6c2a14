"""Log formats (JSON, text, auto), library chatter and redaction, on the real handler."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from venta_core.observability.logging import configure_logging, uses_json
from venta_core.settings import LogSettings

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    logger = logging.getLogger()
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
    logger.setLevel(level)


def test_auto_is_text_on_a_terminal_and_json_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert uses_json(LogSettings())
    monkeypatch.setattr("sys.stderr", Terminal())
    assert not uses_json(LogSettings())
    assert uses_json(LogSettings(format="json"))


def test_the_old_json_format_switch_still_works() -> None:
    assert LogSettings(json_format=False).format == "text"
    assert LogSettings(json_format=True).format == "json"
    assert LogSettings(json_format=True, format="text").format == "text"


@pytest.mark.usefixtures("root")
def test_text_lines_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    configure_logging(LogSettings())

    logging.getLogger("venta.test").info("vendor %s moved", "v1", extra={"cell": "u33db"})

    line = terminal.getvalue()
    assert line.endswith(" INFO    venta.test vendor v1 moved cell=u33db\n")
    assert not line.startswith("{")


@pytest.mark.usefixtures("root")
def test_json_lines_carry_no_terminal_colours(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(format="json"))

    logging.getLogger("uvicorn.error").warning(
        "worker %s \x1b[31mfailed\x1b[0m", "w1", extra={"color_message": "\x1b[36m%s\x1b[0m"}
    )

    err = capsys.readouterr().err
    line = json.loads(err)
    assert line["message"] == "worker w1 failed"
    assert "color_message" not in line
    assert "\x1b" not in err


CHATTER = [
    ("alembic.runtime.migration", "Context impl %s.", ("SQLiteImpl",)),
    ("alembic.runtime.migration", "Will assume %s DDL.", ("transactional",)),
    ("alembic.runtime.plugins", "setup plugin %s", ("alembic.autogenerate.schemas",)),
    ("uvicorn.error", '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5000", "/socket.io/")),
    ("uvicorn.error", "connection open", ()),
    ("uvicorn.error", "connection closed", ()),
    ("uvicorn.error", "Started server process [%d]", (42,)),
]


@pytest.mark.usefixtures("root")
@pytest.mark.parametrize(("logger", "template", "args"), CHATTER)
def test_library_chatter_is_not_shown_at_info(
    capsys: pytest.CaptureFixture[str], logger: str, template: str, args: tuple[object, ...]
) -> None:
    configure_logging(LogSettings(format="json"))

    logging.getLogger(logger).info(template, *args)
    logging.getLogger("alembic.runtime.migration").info("Running upgrade %s -> %s", "", "0001")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["Running upgrade  -> 0001"]


@pytest.mark.usefixtures("root")
@pytest.mark.parametrize(("logger", "template", "args"), CHATTER)
def test_library_chatter_is_debug(
    capsys: pytest.CaptureFixture[str], logger: str, template: str, args: tuple[object, ...]
) -> None:
    configure_logging(LogSettings(format="json", level="DEBUG"))

    logging.getLogger(logger).info(template, *args)

    (line,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert line["level"] == "DEBUG"
    assert line["message"] == template % args


@pytest.mark.usefixtures("root")
def test_warnings_of_chatty_loggers_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSettings(format="json"))

    logging.getLogger("uvicorn.error").warning("connection open failed")

    assert json.loads(capsys.readouterr().err)["level"] == "WARNING"


@pytest.mark.usefixtures("root")
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_query_string_secrets_are_redacted(
    capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    configure_logging(LogSettings(format=log_format, level="DEBUG"))  # type: ignore[arg-type]
    path = f"/socket.io/?token={TOKEN}&transport=websocket&EIO=4"

    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:1", path)
    logging.getLogger("venta.test").info(
        "fetched https://h/x?access_token=%s&api_key=k3y&X-Amz-Signature=5ig&page=2",
        TOKEN,
        extra={"url": f"wss://h/socket.io/?EIO=4&token={TOKEN}"},
    )

    out = capsys.readouterr().err
    assert TOKEN not in out and "k3y" not in out and "5ig" not in out
    assert "/socket.io/?token=[redacted]&transport=websocket&EIO=4" in out
    assert "access_token=[redacted]&api_key=[redacted]&X-Amz-Signature=[redacted]&page=2" in out
    assert "EIO=4&token=[redacted]" in out


@pytest.mark.usefixtures("root")
def test_a_level_left_on_uvicorns_loggers_does_not_hide_their_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A uvicorn server configured earlier in the process with its own ``log_level`` (a test
    stand-in, a host application) sets that level on ``uvicorn.error``; once venta configures
    logging, the root's level decides."""
    error_logger = logging.getLogger("uvicorn.error")
    before = error_logger.level
    error_logger.setLevel(logging.ERROR)
    try:
        configure_logging(LogSettings(format="json", level="INFO"))
        error_logger.warning("Invalid HTTP request received.")
        (line,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert line["logger"] == "uvicorn.error"
    finally:
        error_logger.setLevel(before)
