"""The Grafana dashboard in docs/ plots only metrics that pyresque exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

from pyresque import Resque
from pyresque.observability.exporter import exporter_registry
from pyresque.observability.metrics import PrometheusMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
#: PromQL functions and keywords that look like names
_NOT_METRICS = {"sum", "by", "rate", "max", "histogram_quantile", "le"}


def _referenced() -> set[str]:
    data = json.loads(DASHBOARD.read_text())
    names: set[str] = set()
    for panel in data["panels"]:
        for target in panel.get("targets", []):
            expr = re.sub(r"\{[^}]*\}", "", target["expr"])  # label matchers
            expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
            names.update(w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if w not in _NOT_METRICS)
    return names - {"queue", "class", "state", "outcome"}


def _exported() -> set[str]:
    plugin = PrometheusMetrics()
    app = Resque("fakeredis://obs-grafana", plugins=[plugin])
    app.job(lambda: None, name="Noop")
    app.enqueue("q", "Noop")
    from pyresque.testing import drain

    drain(app)
    assert plugin.registry is not None
    names: set[str] = set()
    for metric in [*plugin.registry.collect(), *exporter_registry(app).collect()]:
        names |= _series(metric.name, metric.type)
    app.close()
    return names


def _series(name: str, kind: str) -> set[str]:
    """The series names a metric family exposes, whether or not it has a sample yet."""
    if kind == "counter":
        return {name + "_total"}
    if kind == "histogram":
        return {name + "_bucket", name + "_count", name + "_sum"}
    return {name}


def test_every_metric_the_dashboard_plots_is_exported() -> None:
    referenced = _referenced()
    assert len(referenced) >= 15, referenced
    missing = referenced - _exported()
    assert not missing, f"the dashboard plots metrics nobody exports: {sorted(missing)}"


def test_the_dashboard_is_importable_json() -> None:
    data = json.loads(DASHBOARD.read_text())
    assert data["uid"] and data["panels"]
    assert len({p["id"] for p in data["panels"]}) == len(data["panels"])
