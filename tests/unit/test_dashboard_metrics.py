"""The Grafana dashboard and alert rules only query metrics the bridge really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from metrics.definitions import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"pms_bridge_[a-z_]+")


def exported() -> set[str]:
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        names.update(sample.name for sample in metric.samples)
        if metric.type == "counter":
            names.add(metric.name + "_total")
        if metric.type == "histogram":
            names.update(metric.name + s for s in ("_bucket", "_count", "_sum"))
    return names


def test_dashboard_queries_known_metrics() -> None:
    dashboard = json.loads((ROOT / "metrics/dashboards/pms-bridge.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in NAME.findall(target["expr"])
    }
    assert used, "the dashboard queries nothing"
    assert used - exported() == set()


def test_alerts_query_known_metrics() -> None:
    used = set(NAME.findall((ROOT / "metrics/alerts.yml").read_text()))
    assert used - exported() == set()


def test_latency_buckets_resolve_the_target() -> None:
    from metrics.definitions import LATENCY_BUCKETS, SYNC_TARGET_SECONDS

    assert SYNC_TARGET_SECONDS in LATENCY_BUCKETS
    assert min(LATENCY_BUCKETS) <= 0.005 and max(LATENCY_BUCKETS) >= 10.0
