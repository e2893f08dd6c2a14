"""The Prometheus configuration and rules of deploy/prometheus pass promtool, and their unit
tests (deploy/prometheus/tests, `promtool test rules`) fire and silence every alert.

Every alert waits `for:` a while, has a severity, a summary, a description and a runbook link
to its own section of docs/operations.md; every recording rule is named level:metric:operations
and feeds an alert. That the series the rules read are exposed by running processes, and that
a real Prometheus loads them, is tested in tests/e2e/test_monitoring.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deployment import ROOT
from tests.unit.markdown import anchor, headings
from tests.unit.monitoring import (
    ALERTS,
    PROMETHEUS_CONFIG,
    RULE_FILES,
    RULE_TESTS,
    metric_names,
    require_tool,
    rules,
)

OPERATIONS = ROOT / "docs" / "operations.md"
SEVERITIES = {"critical", "warning"}
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
DURATION = re.compile(r"^(\d+[smhd])+$")

ALERTING = [rule for rule in rules() if "alert" in rule]
RECORDING = [rule for rule in rules() if "record" in rule]


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    promtool = require_tool("promtool")
    return subprocess.run(
        [str(promtool), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _headings() -> dict[str, str]:
    """Anchor -> heading text of docs/operations.md."""
    return headings(OPERATIONS)


def _tests() -> list[dict[str, Any]]:
    return [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text())["tests"]]


# === promtool ==================================================================================


def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", *RULE_FILES)

    found = re.findall(r"SUCCESS: (\d+) rules found", result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(map(int, found)) == len(rules()) and len(found) == len(RULE_FILES)


def test_promtool_accepts_the_configuration() -> None:
    result = _promtool("check", "config", PROMETHEUS_CONFIG)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout


def test_the_rule_unit_tests_pass() -> None:
    result = _promtool("test", "rules", *RULE_TESTS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


# === what the rules say ========================================================================


def test_the_unit_tests_load_every_rule_file() -> None:
    for path in RULE_TESTS:
        listed = yaml.safe_load(path.read_text())["rule_files"]
        loaded = {(path.parent / name).resolve() for name in listed}
        assert loaded == {f.resolve() for f in RULE_FILES}, path.name


@pytest.mark.parametrize("alert", ALERTING, ids=lambda r: str(r["alert"]))
def test_every_alert_is_tested_firing_and_silent(alert: dict[str, Any]) -> None:
    cases = [
        case
        for test in _tests()
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == alert["alert"]
    ]

    assert [c for c in cases if c.get("exp_alerts")], "no test case where it fires"
    assert [c for c in cases if not c.get("exp_alerts")], "no test case where it stays silent"


@pytest.mark.parametrize("alert", ALERTING, ids=lambda r: str(r["alert"]))
def test_every_alert_waits_names_its_severity_and_links_its_runbook(alert: dict[str, Any]) -> None:
    name = str(alert["alert"])
    annotations = alert["annotations"]
    url = annotations["runbook_url"]

    assert re.fullmatch(r"Venta[A-Z][A-Za-z]+", name)
    assert DURATION.match(str(alert.get("for", ""))) and alert["for"] not in {"0s", "0m"}
    assert alert["labels"]["severity"] in SEVERITIES
    assert annotations["summary"] and annotations["description"]
    assert url == f"docs/operations.md#{anchor(name)}"
    assert _headings().get(anchor(name)) == name, f"docs/operations.md: add a section {name}"


def test_alert_names_are_unique_and_every_runbook_section_has_its_alert() -> None:
    names = [str(rule["alert"]) for rule in ALERTING]
    sections = {text for text in _headings().values() if text.startswith("Venta")}

    assert len(names) == len(set(names))
    assert sections == set(names), "a runbook section without its alert, or the reverse"


def test_the_brief_of_alerting_is_covered() -> None:
    # What an operator must hear about, by the series each alert reads.
    read = {str(rule["alert"]): _reads(rule) for rule in ALERTING}

    def alerting_on(metric: str) -> list[str]:
        return [name for name, metrics in read.items() if metric in metrics]

    assert alerting_on("up")
    assert alerting_on("venta_outbox_pending")
    assert alerting_on("venta_worker_consumer_pending")
    assert alerting_on("venta_worker_events_dead_lettered_total")
    assert alerting_on("venta_ws_slow_consumers_total")
    for errors in (
        "venta_http_requests_total",
        "venta_grpc_server_handled_total",
        "venta_ws_errors_total",
        "venta_worker_events_failed_total",
    ):
        assert alerting_on(errors), f"an error ratio on {errors}"
    for client in (
        "venta_db_pool_connections_in_use",
        "venta_db_pool_waiting",
        "venta_redis_errors_total",
        "venta_nats_errors_total",
        "venta_jwks_fetches_total",
        "venta_webhook_deliveries_total",
    ):
        assert alerting_on(client), f"an alert on {client}"
    for histogram in (
        "venta_http_request_duration_seconds_bucket",
        "venta_grpc_server_handling_seconds_bucket",
        "venta_ws_fanout_latency_seconds_bucket",
        "venta_worker_handle_duration_seconds_bucket",
    ):
        assert alerting_on(histogram), f"a p99 latency on {histogram}"


def _reads(rule: dict[str, Any]) -> set[str]:
    """The raw series an alert reads, through the recording rules it uses."""
    records = {str(r["record"]): str(r["expr"]) for r in RECORDING}
    names = metric_names(str(rule["expr"]))
    seen: set[str] = set()
    while names - seen:
        name = (names - seen).pop()
        seen.add(name)
        if name in records:
            names |= metric_names(records[name])
    return {n for n in names if n not in records}


@pytest.mark.parametrize("rule", RECORDING, ids=lambda r: str(r["record"]))
def test_every_recording_rule_is_named_by_convention_and_used(rule: dict[str, Any]) -> None:
    name = str(rule["record"])
    used = [a["alert"] for a in ALERTING if name in metric_names(str(a["expr"]))]

    assert RECORD_NAME.match(name), "level:metric:operations"
    assert used, f"{name} feeds no alert"


def test_rules_read_venta_series_only() -> None:
    records = {str(r["record"]) for r in RECORDING}

    for rule in rules():
        for name in metric_names(str(rule["expr"])) - records:
            assert name == "up" or name.startswith("venta_"), name


def test_role_down_covers_every_scraped_job() -> None:
    (down,) = [rule for rule in ALERTING if rule["alert"] == "VentaRoleDown"]
    (pattern,) = re.findall(r'up\{job=~"([^"]+)"\}', str(down["expr"]))
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())

    for job in config["scrape_configs"]:
        assert re.fullmatch(pattern, job["job_name"]), job["job_name"]
    assert not re.fullmatch(pattern, "node"), "other jobs are not venta's to page for"


def test_the_alerts_file_documents_where_its_tests_are() -> None:
    assert "deploy/prometheus/tests" in ALERTS.read_text()
