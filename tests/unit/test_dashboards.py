"""The Grafana dashboards of deploy/grafana/dashboards are well formed and query what they say.

Each dashboard chooses its Prometheus through a `datasource` variable and its processes through
`job` and `instance` variables that every query applies; panels have unique ids and fit the
24-column grid without overlapping; every query parses as PromQL (promtool). That each series
a panel reads is exposed by some role is checked against running processes in
tests/e2e/test_monitoring.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.monitoring import (
    dashboard_queries,
    dashboards,
    grafana_value,
    metric_names,
    require_tool,
    selectors,
)

BOARDS = dashboards()
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_COLUMNS = 24
JOB = 'job=~"$job"'
INSTANCE = 'instance=~"$instance"'
#: What each dashboard is for: the series it must show, and how some are broken down.
REQUIRED = {
    "venta-overview": {"up": None, "venta_outbox_pending": None},
    "venta-http": {
        "venta_http_requests_total": "route",
        "venta_http_request_duration_seconds_bucket": "route",
    },
    "venta-realtime": {
        "venta_ws_connected": "namespace",
        "venta_ws_messages_out_total": "event",
        "venta_ws_deliveries_total": "path",
        "venta_ws_fanout_latency_seconds_bucket": None,
        "venta_ws_slow_consumers_total": None,
    },
    "venta-events": {
        "venta_outbox_pending": None,
        "venta_outbox_relayed_total": None,
        "venta_worker_consumer_pending": "handler",
        "venta_worker_events_redelivered_total": "handler",
        "venta_worker_events_dead_lettered_total": "reason",
        "venta_worker_handle_duration_seconds_bucket": "handler",
    },
    "venta-clients": {
        "venta_db_pool_connections_in_use": None,
        "venta_db_pool_waiting": None,
        "venta_db_pool_checkout_wait_seconds_bucket": None,
        "venta_redis_command_duration_seconds_count": "command",
        "venta_redis_errors_total": "command",
        "venta_nats_published_messages_total": "kind",
        "venta_nats_errors_total": "operation",
        "venta_rate_limit_rejections_total": "limit",
        "venta_jwks_fetches_total": "outcome",
        "venta_webhook_deliveries_total": "outcome",
    },
    "venta-grpc": {
        "venta_grpc_server_handled_total": "method",
        "venta_grpc_server_handling_seconds_bucket": "method",
        "venta_grpc_client_handled_total": "method",
        "venta_grpc_client_retries_total": "method",
    },
}


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = board["panels"]
    return panels


def _variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def test_the_tokenizer_finds_the_series_an_expression_reads() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job=~"$job", le!="x y"}'
        "[$__rate_interval]))) / on (job) group_left (instance) b offset 5m"
        ' + count(up{job="x"} == 0) or vector(0) unless max_over_time(c:rec:max[6h:])'
        ' and topk(3, d) > bool 1 and sum without (handler) (e{handler="sum by (f)"})'
    )

    assert metric_names(expr) == {"a_bucket", "b", "up", "c:rec:max", "d", "e"}
    assert dict(selectors('x{job=~"$job"} * y')) == {"x": 'job=~"$job"', "y": ""}


def test_the_dashboards_are_those_of_the_stack() -> None:
    uids = [board["uid"] for board in BOARDS.values()]
    titles = [board["title"] for board in BOARDS.values()]

    assert sorted(uids) == sorted(REQUIRED)
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_a_dashboard_chooses_datasource_job_and_instance(name: str) -> None:
    board = BOARDS[name]
    variables = _variables(board)

    assert "venta" in board["tags"]
    assert board["editable"] is False, "provisioned: change the JSON file, not the UI"
    assert list(variables)[:3] == ["datasource", "job", "instance"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for key in ("job", "instance"):
        variable = variables[key]
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"
        assert re.fullmatch(rf"label_values\(.+, {key}\)", _variable_query(variable))
    assert "$job" in _variable_query(variables["instance"]), "instances of the chosen jobs"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_have_unique_ids_a_datasource_and_fit_the_grid(name: str) -> None:
    panels = _panels(BOARDS[name])
    ids = [panel["id"] for panel in panels]
    boxes = []

    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["title"] and panel["description"], "say what to look at"
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["y"] >= 0 and grid["w"] > 0 and grid["h"] > 0
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, f"{panel['title']} overflows the grid"
        boxes.append((grid["x"], grid["y"], grid["x"] + grid["w"], grid["y"] + grid["h"]))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "overlap"


@pytest.mark.parametrize("query", dashboard_queries(), ids=lambda q: f"{q.dashboard}:{q.panel}")
def test_every_series_a_panel_reads_is_of_the_chosen_jobs_and_instances(query: Any) -> None:
    found = list(selectors(query.expr))

    assert found, "a panel query reads no series"
    for name, matchers in found:
        assert JOB in matchers and INSTANCE in matchers, f"{name}: filter by $job and $instance"


@pytest.mark.parametrize("uid", sorted(REQUIRED))
def test_each_dashboard_shows_what_it_is_for(uid: str) -> None:
    (board,) = [b for b in BOARDS.values() if b["uid"] == uid]
    exprs = [t["expr"] for panel in _panels(board) for t in panel["targets"]]

    for metric, label in REQUIRED[uid].items():
        using = [e for e in exprs if metric in metric_names(e)]
        assert using, f"{uid}: no panel shows {metric}"
        if label is not None:
            assert any(re.search(rf"by \([^)]*\b{label}\b", e) for e in using), (
                f"{uid}: show {metric} by {label}"
            )


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    import subprocess

    promtool = require_tool("promtool")
    queries = dashboard_queries()
    records = [
        {"record": f"dashboard:query:{i}", "expr": grafana_value(q.expr)}
        for i, q in enumerate(queries)
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": records}]}))

    result = subprocess.run(
        [str(promtool), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout
