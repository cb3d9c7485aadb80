"""deploy/prometheus/alerts.yml and deploy/grafana/cskh.json: every expression is PromQL that
parses (promql-parser, the Rust PromQL parser) and names only metrics /metrics exposes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

import ingest.web.app  # noqa: F401  (imports every module that declares a metric)

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "cskh.json"
PROMETHEUS_OWN = {"up"}  # written by Prometheus itself for every scrape target


def exposed() -> set[str]:
    """Every sample name the default registry exposes (with _total, _bucket, ...)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{s}" for s in ("bucket", "sum", "count"))
    return names


def selectors(node: Any) -> set[str]:
    """The metric names an expression's vector selectors read."""
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name} if node.name else set()
    found: set[str] = set()
    for attr in ("lhs", "rhs", "expr", "vector_selector", "param"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            found |= selectors(child)
    for arg in getattr(node, "args", None) or ():
        found |= selectors(arg)
    return found


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_the_alerts_cover_what_on_call_needs_and_each_is_complete() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    for needed in ("CskhConsumerLagGrowing", "CskhDeadLettersGrowing", "CskhChannelFailing",
                   "CskhPullerStalled"):
        assert needed in by_name
    for rule in by_name.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_each_alert_expression_parses_and_reads_metrics_that_exist(
        rule: dict[str, Any]) -> None:
    names = selectors(promql_parser.parse(rule["expr"]))
    assert names
    missing = names - exposed() - PROMETHEUS_OWN
    assert not missing, missing


def test_the_checker_catches_an_unknown_metric_and_bad_promql() -> None:
    assert "cskh_no_such_metric" in selectors(
        promql_parser.parse("rate(cskh_no_such_metric[5m]) > 0"))
    assert "cskh_no_such_metric" not in exposed()
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (group (cskh_consumer_lag_records)")


def test_every_dashboard_panel_queries_metrics_that_exist() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    seen: set[str] = set()
    for panel in panels:
        for target in panel["targets"]:
            names = selectors(promql_parser.parse(target["expr"]))
            assert names and not names - exposed(), (panel["title"], names - exposed())
            seen |= names
    for metric in ("cskh_consumer_lag_records", "cskh_dlq_records", "cskh_sender_failures_total",
                   "cskh_puller_up", "cskh_sla_events_total"):
        assert metric in seen
