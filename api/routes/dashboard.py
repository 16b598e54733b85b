"""The built-in status page: sync latency against the 5 s target, lag, throughput, deliveries,
slot, parked changes, reconciliation, cache, API."""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import Metric

from api.auth.operator import RESPONSES, SECURITY, operator_only
from api.context import ApiContext
from api.openapi import Documented
from metrics.definitions import REGISTRY, SYNC_TARGET_SECONDS

# The age at which metrics/alerts.yml pages for an undelivered event; shown red from then.
OLDEST_OPEN_ALERT_SECONDS = 300


class DashboardData(msgspec.Struct):
    capture: str
    connected: bool
    applied: int
    parked: int
    changes_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    within_target_ratio: float
    target_seconds: float
    lag_seconds: float
    waiting: float
    cache_hits: float
    cache_misses: float
    api_requests: float
    api_errors: float
    deliveries_pending: int
    deliveries_failed: int
    # Pending events whose last attempt failed: the endpoint is down or refusing.
    deliveries_retrying: int
    # Age of the oldest webhook event not delivered yet, across hotels.
    delivery_oldest_seconds: float
    heartbeat_age_seconds: float
    contract_ok: bool
    # Reconciliations run by this process: when the last ended (None: none yet) and the
    # differences they found and repaired.
    reconcile_last_run: datetime | None
    reconcile_differences: int
    # Logical capture only: WAL the slot keeps on the server, and WAL not yet confirmed.
    slot_retained_bytes: float | None = None
    slot_lag_bytes: float | None = None


class _Rate:
    """Changes per second between two looks at the page."""

    def __init__(self) -> None:
        self.last = (time.monotonic(), 0)
        self.value = 0.0

    def update(self, applied: int) -> float:
        now = time.monotonic()
        then, before = self.last
        if now - then >= 0.5:
            self.value = max(applied - before, 0) / (now - then)
            self.last = (now, applied)
        return self.value


_rate = _Rate()


def _samples(name: str) -> list[tuple[dict[str, str], float, str]]:
    found: list[tuple[dict[str, str], float, str]] = []
    metric: Metric
    for metric in REGISTRY.collect():
        if metric.name == name:
            found.extend((s.labels, s.value, s.name) for s in metric.samples)
    return found


def _within_target() -> float:
    """Share of applied changes whose commit -> cache latency was within the 5 s target."""
    within = total = 0.0
    for labels, value, sample in _samples("pms_bridge_sync_latency_seconds"):
        if sample.endswith("_bucket") and labels.get("le") == str(SYNC_TARGET_SECONDS):
            within += value
        elif sample.endswith("_count"):
            total += value
    return within / total if total else 1.0


def _value(name: str, **labels: str) -> float:
    """The sum of a gauge's (or a counter's `_total`) samples that carry `labels`."""
    return sum(
        v
        for lb, v, s in _samples(name)
        if not s.endswith("_created") and all(lb.get(k) == want for k, want in labels.items())
    )


def _oldest_open() -> float:
    return max((v for _, v, _s in _samples("pms_bridge_delivery_oldest_open_seconds")), default=0)


def collect(ctx: ApiContext) -> DashboardData:
    bridge = ctx.status
    hits = sum(
        v
        for lb, v, s in _samples("pms_bridge_cache_requests")
        if lb.get("result") == "hit" and s.endswith("_total")
    )
    misses = sum(
        v
        for lb, v, s in _samples("pms_bridge_cache_requests")
        if lb.get("result") == "miss" and s.endswith("_total")
    )
    api = _samples("pms_bridge_api_requests")
    requests = sum(v for _, v, s in api if s.endswith("_total"))
    errors = sum(v for lb, v, s in api if s.endswith("_total") and lb.get("status", "")[:1] in "45")
    applied = bridge.applied if bridge else 0
    logical = ctx.settings.capture == "logical"
    last_run = _value("pms_bridge_reconcile_last_run_timestamp_seconds")
    return DashboardData(
        capture=bridge.capture if bridge else "off (api only)",
        connected=bool(bridge and bridge.connected),
        applied=applied,
        parked=int(_value("pms_bridge_parked_changes")),
        changes_per_second=_rate.update(applied),
        latency_p50_ms=bridge.latency_percentile(0.5) * 1000 if bridge else 0.0,
        latency_p99_ms=bridge.latency_percentile(0.99) * 1000 if bridge else 0.0,
        within_target_ratio=_within_target(),
        target_seconds=SYNC_TARGET_SECONDS,
        lag_seconds=bridge.lag[1] if bridge else 0.0,
        waiting=bridge.lag[0] if bridge else 0.0,
        cache_hits=hits,
        cache_misses=misses,
        api_requests=requests,
        api_errors=errors,
        deliveries_pending=int(_value("pms_bridge_delivery_events_open", status="pending")),
        deliveries_failed=int(_value("pms_bridge_delivery_events_open", status="failed")),
        deliveries_retrying=int(_value("pms_bridge_delivery_events_retrying")),
        delivery_oldest_seconds=_oldest_open(),
        heartbeat_age_seconds=_value("pms_bridge_heartbeat_age_seconds"),
        contract_ok=_value("pms_bridge_schema_contract_ok") == 1,
        reconcile_last_run=datetime.fromtimestamp(last_run, UTC) if last_run else None,
        reconcile_differences=int(_value("pms_bridge_reconcile_differences")),
        slot_retained_bytes=_value("pms_bridge_slot_retained_bytes") if logical else None,
        slot_lag_bytes=_value("pms_bridge_slot_lag_bytes") if logical else None,
    )


@get(
    "/dashboard/data",
    tags=["operators"],
    operation_id="getDashboardData",
    operation_class=Documented,
    security=SECURITY,
    responses=RESPONSES,
    guards=[operator_only],
)
async def dashboard_data(ctx: NamedDependency[ApiContext]) -> DashboardData:
    return collect(ctx)


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2"><title>PMS Bridge status</title>
<style>body{{font:15px system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}}
h1{{font-size:1.3rem}}
.grid{{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(210px,1fr))}}
.card{{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px}}
.v{{font-size:1.6rem;font-weight:600}}.ok{{color:#17803d}}.bad{{color:#b42318}}
small{{color:#666}}</style></head><body>
<h1>PMS Bridge <small>capture: {capture} &middot;
<span class="{conn_class}">{conn}</span></small></h1>
<div class="grid">
<div class="card">
<small>sync latency p50 / p99 (target {target:.0f} s)</small>
<div class="v {lat_class}">{p50:.1f} / {p99:.1f} ms</div></div>
<div class="card"><small>changes within the {target:.0f} s target</small>
<div class="v {lat_class}">{within:.3%}</div></div>
<div class="card"><small>lag</small><div class="v">{lag:.2f} s</div>
<small>{waiting:.0f} waiting</small></div>
<div class="card"><small>throughput</small><div class="v">{rate:.0f}/s</div></div>
<div class="card"><small>changes applied</small><div class="v">{applied}</div></div>
<div class="card"><small>deliveries pending / failed</small>
<div class="v"><span id="deliveries-pending">{pending}</span> /
<span id="deliveries-failed" class="{failed_class}">{failed}</span></div>
<small><span id="deliveries-retrying" class="{retrying_class}">{retrying}</span> retrying &middot;
oldest undelivered <span id="delivery-oldest" class="{oldest_class}">{oldest:.0f} s</span>
</small></div>
<div class="card"><small>parked changes</small>
<div class="v {parked_class}" id="parked">{parked}</div></div>
<div class="card"><small>replication slot</small><div class="v" id="slot">{slot}</div>
<small>{slot_note}</small></div>
<div class="card"><small>reconciliation</small>
<div class="v" id="reconcile-last">{reconciled}</div>
<small><span id="reconcile-differences">{differences}</span> differences repaired</small></div>
<div class="card"><small>heartbeat / schema contract</small>
<div class="v"><span id="heartbeat-age">{heartbeat:.0f} s</span> /
<span id="contract" class="{contract_class}">{contract}</span></div></div>
<div class="card"><small>cache hits / misses</small>
<div class="v">{hits:.0f} / {misses:.0f}</div></div>
<div class="card"><small>API requests / 4xx+5xx</small>
<div class="v">{requests:.0f} / {errors:.0f}</div></div>
</div><p><small>Prometheus: <a href="/metrics">/metrics</a> &middot; JSON:
<a href="/dashboard/data">/dashboard/data</a> &middot; API:
<a href="/schema/openapi.json">/schema/openapi.json</a></small></p></body></html>"""


def _bytes(value: float) -> str:
    if value < 1024:
        return f"{value:.0f} B"
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"


@get(
    "/dashboard",
    tags=["operators"],
    operation_id="getDashboard",
    operation_class=Documented,
    media_type="text/html",
    security=SECURITY,
    responses=RESPONSES,
    guards=[operator_only],
)
async def dashboard(ctx: NamedDependency[ApiContext]) -> Response[str]:
    d = collect(ctx)
    page = _PAGE.format(
        capture=html.escape(d.capture),
        conn="connected" if d.connected else "not connected",
        conn_class="ok" if d.connected else "bad",
        target=d.target_seconds,
        p50=d.latency_p50_ms,
        p99=d.latency_p99_ms,
        lat_class="ok" if d.latency_p99_ms < d.target_seconds * 1000 else "bad",
        within=d.within_target_ratio,
        lag=d.lag_seconds,
        waiting=d.waiting,
        rate=d.changes_per_second,
        applied=d.applied,
        pending=d.deliveries_pending,
        failed=d.deliveries_failed,
        failed_class="bad" if d.deliveries_failed else "ok",
        retrying=d.deliveries_retrying,
        retrying_class="bad" if d.deliveries_retrying else "",
        oldest=d.delivery_oldest_seconds,
        oldest_class="bad" if d.delivery_oldest_seconds > OLDEST_OPEN_ALERT_SECONDS else "",
        parked=d.parked,
        parked_class="bad" if d.parked else "",
        slot=_bytes(d.slot_retained_bytes) if d.slot_retained_bytes is not None else "none",
        slot_note=(
            "WAL retained; " + _bytes(d.slot_lag_bytes or 0) + " not yet confirmed"
            if d.slot_retained_bytes is not None
            else "trigger capture keeps no slot"
        ),
        reconciled=(
            d.reconcile_last_run.strftime("%Y-%m-%d %H:%M:%S UTC")
            if d.reconcile_last_run is not None
            else "not run yet"
        ),
        differences=d.reconcile_differences,
        heartbeat=d.heartbeat_age_seconds,
        contract="kept" if d.contract_ok else "broken",
        contract_class="ok" if d.contract_ok else "bad",
        hits=d.cache_hits,
        misses=d.cache_misses,
        requests=d.api_requests,
        errors=d.api_errors,
    )
    return Response(page, media_type="text/html")
