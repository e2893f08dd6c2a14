"""observability: JSON logging with redaction, readiness reports, metric labels."""

from __future__ import annotations

import json
import logging

import pytest

from venta_core.context import RequestContext, request_context
from venta_core.observability.health import liveness, readiness
from venta_core.observability.logging import (
    REDACTED,
    ContextFilter,
    JsonFormatter,
    RedactingFilter,
    configure_logging,
    redact,
)
from venta_core.observability.metrics import HttpMetrics, new_registry
from venta_core.settings import LogSettings


def _format(record: logging.LogRecord) -> dict[str, object]:
    for log_filter in (ContextFilter(), RedactingFilter()):
        log_filter.filter(record)
    return json.loads(JsonFormatter().format(record))


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("venta.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_fields_and_request_id():
    with request_context(RequestContext("rid-7").with_user("ext", "user-1")):
        line = _format(_record("hello %s", "world", vendor_id="v1"))
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
    assert line["logger"] == "venta.test"
    assert str(line["time"]).endswith("Z")
    assert line["request_id"] == "rid-7"
    assert line["user_id"] == "user-1"
    assert line["vendor_id"] == "v1"


def test_json_line_outside_a_request():
    assert _format(_record("boot"))["request_id"] is None


def test_exceptions_are_formatted_into_the_line():
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = _format(record)
    assert "ValueError: bad" in str(line["exc"])


def test_secrets_are_redacted():
    line = _format(
        _record(
            "auth header Bearer abc.def.ghi for %s",
            "postgres://app:s3cret@db/v",
            authorization="Bearer xyz",
            password="pw",
            api_key="k",
            headers={"Cookie": "c", "accept": "json"},
        )
    )
    text = json.dumps(line)
    for secret in ("abc.def.ghi", "s3cret", "xyz", '"pw"', '"k"', '"c"'):
        assert secret not in text, secret
    assert line["authorization"] == REDACTED
    assert line["headers"] == {"Cookie": REDACTED, "accept": "json"}
    assert "Bearer [redacted]" in str(line["message"])


def test_redact_leaves_plain_values():
    assert redact({"name": "x", "n": 1, "items": [1, "a"]}) == {
        "name": "x",
        "n": 1,
        "items": [1, "a"],
    }


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    yield root
    for handler in [h for h in root.handlers if h not in saved[1]]:
        root.removeHandler(handler)
    root.setLevel(saved[0])


def test_configure_logging_is_idempotent(restore_root, capsys):
    configure_logging(LogSettings(level="DEBUG"))
    handler = configure_logging(LogSettings(level="WARNING"))
    ours = [h for h in restore_root.handlers if getattr(h, "_venta_handler", False)]
    assert ours == [handler]
    assert restore_root.level == logging.WARNING
    assert logging.getLogger("uvicorn.access").propagate is False


def test_plain_format(restore_root, capsys):
    configure_logging(LogSettings(json_format=False))
    with request_context(RequestContext("rid-plain")):
        logging.getLogger("venta.plain").warning("token=%s", "Bearer abc")
    err = capsys.readouterr().err
    assert "[rid-plain] token=Bearer [redacted]" in err


async def test_readiness_report():
    async def probe() -> dict[str, str | None]:
        return {"a": None, "b": "down " + "x" * 400}

    ok, body = await readiness(probe)
    assert ok is False
    assert body["checks"]["a"] == "ok"
    assert len(body["checks"]["b"]) == 300
    assert liveness() == {"status": "ok"}


def test_method_label_is_bounded():
    metrics = HttpMetrics(new_registry())
    assert metrics.method_label("GET") == "GET"
    assert metrics.method_label("BREW") == "OTHER"


def test_extra_fields_do_not_replace_base_fields():
    line = _format(_record("real", level="fake", logger="fake", time="fake"))
    assert line["level"] == "INFO" and line["logger"] == "venta.test"
    assert line["time"] != "fake"
