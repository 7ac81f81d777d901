"""The Grafana dashboard and the PrometheusRule alerts reference only metrics the services
define (shared/pcaptotal/metrics.py), with labels those metrics have."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from pcaptotal import metrics
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from tests.paths import REPO

MONITORING = REPO / "deploy" / "k8s" / "monitoring"
BUILTIN = {"up"}  # Prometheus' own
SUFFIXES = {Counter: ("_total",), Gauge: ("",), Histogram: ("_bucket", "_count", "_sum")}
_METRIC = re.compile(r"\b(pcaptotal_[a-z_]+|up)\b")
_SELECTOR = re.compile(r"\b(pcaptotal_[a-z_]+)\{([^}]*)\}")


def _defined() -> dict[str, set[str]]:
    """Every series name the services can expose -> the labels it carries."""
    out: dict[str, set[str]] = {}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            kind = next(k for k in SUFFIXES if isinstance(obj, k))
            for suffix in SUFFIXES[kind]:
                labels = set(obj._labelnames)
                out[obj._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return out


def _dashboard_exprs() -> list[str]:
    dash = json.loads((MONITORING / "dashboard.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def _alert_exprs() -> list[str]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]


def _check(expr: str, defined: dict[str, set[str]]) -> list[str]:
    problems = [
        f"unknown metric {name}"
        for name in _METRIC.findall(expr)
        if name not in defined and name not in BUILTIN
    ]
    for name, selector in _SELECTOR.findall(expr):
        for label in re.findall(r"(\w+)\s*[=!]~?", selector):
            if name in defined and label not in defined[name]:
                problems.append(f"{name} has no label {label}")
    return problems


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_monitoring_references_only_defined_metrics(source: str) -> None:
    exprs = _dashboard_exprs() if source == "dashboard" else _alert_exprs()
    assert exprs
    defined = _defined()
    problems = [p for e in exprs for p in _check(e, defined)]
    assert problems == []


def test_alerts_cover_what_the_runbook_promises() -> None:
    rule: dict[str, Any] = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    names = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "PcapTotalDeadLetters",
        "PcapTotalCapturesStuck",
        "PcapTotalFailureRate",
        "PcapTotalQueueAge",
    } <= names


def test_dashboard_shows_every_metric() -> None:
    shown = {m for e in _dashboard_exprs() for m in _METRIC.findall(e)}
    families = {n.removesuffix(s) for n in shown for s in ("_bucket", "_count", "_sum", "_total")}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            assert obj._name in families | shown, obj._name


def test_the_check_can_fail() -> None:
    defined = _defined()
    assert _check("rate(pcaptotal_made_up_total[5m])", defined) == [
        "unknown metric pcaptotal_made_up_total"
    ]
    assert _check('pcaptotal_uploads_total{queue="x"}', defined) == [
        "pcaptotal_uploads_total has no label queue"
    ]
