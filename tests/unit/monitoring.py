"""What the monitoring files of deploy/ are checked with: the metric names a PromQL expression
reads, the queries of the Grafana dashboards, the rules of deploy/prometheus/rules, the series
names a /metrics page exposes, and the Prometheus tools.

Shared by the unit tests of the dashboards and rules and by the end-to-end test that runs them
against real processes (tests/e2e/test_monitoring.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.deployment import ROOT

__all__ = [
    "ALERTS",
    "DASHBOARDS",
    "PROMETHEUS_CONFIG",
    "RULE_FILES",
    "RULE_TESTS",
    "Query",
    "dashboard_queries",
    "dashboards",
    "exposed_names",
    "grafana_value",
    "metric_names",
    "require_tool",
    "rules",
    "selectors",
]

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
ALERTS = PROMETHEUS_DIR / "rules" / "alerts.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))

# --- PromQL ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<range>\[[^\]]*\])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-z]*)
  | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<space>\s+)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)
#: Followed by a parenthesised list of label names, not of expressions.
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
#: Aggregation operators may be followed by `by (...)` before their `(`.
_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"}


def _tokens(expr: str) -> list[tuple[str, str]]:
    found = []
    for match in _TOKEN.finditer(expr):
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append((kind, match.group()))
    return found


def selectors(expr: str) -> Iterator[tuple[str, str]]:
    """(metric name, text between its braces, "" without) of every series an expression
    selects: identifiers that are not functions, operators, keywords or label names."""
    tokens = _tokens(expr)
    depth = 0
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if text == "{":
            depth += 1
        elif text == "}":
            depth -= 1
        elif kind == "name" and depth == 0:
            if text in _GROUPING and following == "(":
                i = _closing(tokens, i + 1)
            elif following == "(" or text in _AGGREGATIONS or text in _KEYWORDS:
                pass
            else:
                matchers = ""
                if following == "{":
                    end = _closing(tokens, i + 1)
                    matchers = "".join(t for _, t in tokens[i + 2 : end])
                yield text, matchers
        i += 1


def _closing(tokens: list[tuple[str, str]], opening: int) -> int:
    """Index of the bracket closing the one at ``opening``."""
    pairs = {"(": ")", "{": "}"}
    close = pairs[tokens[opening][1]]
    level = 0
    for index in range(opening, len(tokens)):
        if tokens[index][1] == tokens[opening][1]:
            level += 1
        elif tokens[index][1] == close:
            level -= 1
            if level == 0:
                return index
    raise AssertionError(f"unbalanced {tokens[opening][1]!r}")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (``__name__`` matchers aside)."""
    return {name for name, _ in selectors(expr)}


# --- /metrics ----------------------------------------------------------------------------------

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "info": ("_info",),
}


def exposed_names(text: str) -> set[str]:
    """The series names a Prometheus text page makes queryable: those it has samples of, and
    those its families declare (a labelled counter no event has touched yet is declared with
    ``# TYPE`` and has no sample until the first one)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
    return names


# --- dashboards --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard."""
    return {path.name: json.loads(path.read_text()) for path in DASHBOARDS}


def dashboard_queries() -> list[Query]:
    """Every PromQL expression of every panel."""
    return [
        Query(name, str(panel["title"]), str(target["expr"]))
        for name, board in dashboards().items()
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def grafana_value(expr: str) -> str:
    """``expr`` with Grafana's variables replaced by what Prometheus gets when every job and
    instance is chosen, so that it can be parsed or evaluated."""
    values = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
    for variable, value in values.items():
        expr = expr.replace(variable, value)
    return expr.replace('"$job"', '".*"').replace('"$instance"', '".*"')


# --- rules -------------------------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    """Every rule of deploy/prometheus/rules, alerting and recording."""
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(group["rules"])
    return found


# --- tools -------------------------------------------------------------------------------------


def require_tool(name: str) -> Path:
    """The path of ``name`` (promtool, prometheus: Debian's package `prometheus`); skips the
    test when it is missing, fails it under ``CI=true``."""
    found = shutil.which(name)
    if found:
        return Path(found)
    message = f"{name} is not installed (apt-get install -y prometheus)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + "; CI must run these tests")
    pytest.skip(message)
