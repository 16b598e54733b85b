"""The Grafana dashboard and alert rules only query metrics the bridge really exports."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.metrics import NAME, exported

ROOT = Path(__file__).resolve().parents[2]


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
