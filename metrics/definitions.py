"""The metric definitions, in one registry so tests and /metrics read the same numbers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# 5 s is the product's promise, so it is a bucket edge; the rest resolve 5 ms ... 10 s.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
SYNC_TARGET_SECONDS = 5.0

sync_latency = Histogram(
    "pms_bridge_sync_latency_seconds",
    "Time from a change's commit in the PMS to its effects applied to the caches",
    ["capture"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
changes_applied = Counter(
    "pms_bridge_changes_applied_total",
    "Row changes applied end to end",
    ["table", "op"],
    registry=REGISTRY,
)
changes_parked = Counter(
    "pms_bridge_changes_parked_total",
    "Malformed changes parked in pms_bridge.parked_changes and skipped",
    ["table"],
    registry=REGISTRY,
)
batches_applied = Counter("pms_bridge_batches_applied_total", "Batches applied", registry=REGISTRY)
batch_size = Histogram(
    "pms_bridge_batch_size_changes",
    "Changes per applied batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
    registry=REGISTRY,
)
availability_keys_written = Counter(
    "pms_bridge_availability_keys_written_total",
    "Availability entries (hotel, room type, night) written to the cache",
    registry=REGISTRY,
)
lag_changes = Gauge(
    "pms_bridge_lag_changes",
    "Captured changes not yet applied (outbox rows waiting)",
    registry=REGISTRY,
)
lag_seconds = Gauge(
    "pms_bridge_lag_seconds",
    "Age of the oldest captured change not yet applied",
    registry=REGISTRY,
)
source_errors = Counter(
    "pms_bridge_source_errors_total",
    "Connection losses and other errors the consumer recovered from",
    ["kind"],
    registry=REGISTRY,
)
consumer_active = Gauge(
    "pms_bridge_consumer_active",
    "1 while this process holds the consumer lock and applies changes",
    registry=REGISTRY,
)
schema_contract_ok = Gauge(
    "pms_bridge_schema_contract_ok",
    "1 while the PMS schema and the role's privileges keep the bridge's contract; 0 while "
    "applying is paused for them",
    registry=REGISTRY,
)
applying_paused = Counter(
    "pms_bridge_applying_paused_total",
    "Times applying paused because the PMS schema or privileges broke the contract",
    registry=REGISTRY,
)
cache_requests = Counter(
    "pms_bridge_cache_requests_total",
    "Cache reads by kind and result",
    ["kind", "result"],
    registry=REGISTRY,
)
api_requests = Counter(
    "pms_bridge_api_requests_total",
    "API requests by route and status code",
    ["route", "method", "status"],
    registry=REGISTRY,
)
api_latency = Histogram(
    "pms_bridge_api_request_seconds",
    "API request duration",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
api_memo_answers = Counter(
    "pms_bridge_api_memo_answers_total",
    "Memoized reads (availability, hotel) by outcome: hit (the memo's answer), shared (waited"
    " for a computation in progress) or computed",
    ["memo", "outcome"],
    registry=REGISTRY,
)
api_rate_limited = Counter(
    "pms_bridge_api_rate_limited_total",
    "Rate-limit outcomes that are not a plain pass: rejected calls, limiter errors",
    ["klass", "outcome"],
    registry=REGISTRY,
)
api_pruned = Counter(
    "pms_bridge_api_pruned_total",
    "Rows of the API's own records removed past their retention",
    ["table"],
    registry=REGISTRY,
)
api_prune_failed = Counter(
    "pms_bridge_api_prune_failed_total",
    "Passes of the API's retention that failed (tried again at the next interval)",
    registry=REGISTRY,
)
api_audit_failed = Counter(
    "pms_bridge_api_audit_failed_total",
    "Audit log entries that could not be written (the requests themselves succeeded)",
    ["reason"],
    registry=REGISTRY,
)
api_bookings = Counter(
    "pms_bridge_api_bookings_total",
    "Booking writes through the API by operation and outcome",
    ["op", "outcome"],
    registry=REGISTRY,
)
cache_updates = Counter(
    "pms_bridge_cache_updates_total",
    "Cache update requests (hotels, room types, availability refresh) by outcome",
    ["cache_type", "status"],
    registry=REGISTRY,
)
availability_refreshed = Counter(
    "pms_bridge_availability_refreshed_total",
    "Availability entries the background refresher recomputed because their TTL expired",
    registry=REGISTRY,
)
availability_cleaned = Counter(
    "pms_bridge_availability_cleaned_total",
    "Availability entries removed for nights older than the retention",
    registry=REGISTRY,
)
deliveries = Counter(
    "pms_bridge_deliveries_total",
    "Webhook delivery attempts to the booking engine by outcome (delivered, retry, failed)",
    ["outcome"],
    registry=REGISTRY,
)
delivery_failed = Counter(
    "pms_bridge_delivery_failed_total",
    "Booking changes given up after the retry limit (booking_sync_status = failed)",
    registry=REGISTRY,
)
delivery_latency = Histogram(
    "pms_bridge_delivery_seconds",
    "Time from a booking change's commit to the booking engine's acknowledgement",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
slot_lag_bytes = Gauge(
    "pms_bridge_slot_lag_bytes",
    "Logical capture: WAL bytes written since the slot's confirmed flush position",
    registry=REGISTRY,
)
slot_lag_seconds = Gauge(
    "pms_bridge_slot_lag_seconds",
    "Logical capture: seconds since the consumer was last caught up with the slot",
    registry=REGISTRY,
)
slot_retained_bytes = Gauge(
    "pms_bridge_slot_retained_bytes",
    "Logical capture: WAL bytes the slot keeps on the server (from its restart position)",
    registry=REGISTRY,
)
slot_lag_warning = Gauge(
    "pms_bridge_slot_lag_warning",
    "1 while the slot lag is above BRIDGE_SLOT_LAG_WARN_BYTES",
    registry=REGISTRY,
)
logical_identity_gaps = Counter(
    "pms_bridge_logical_identity_gaps_total",
    "Updates/deletes received without the old row the projector needs (REPLICA IDENTITY not FULL)",
    ["table"],
    registry=REGISTRY,
)

# --- reconciliation (bridge/reconcile.py) ------------------------------------------------
reconcile_differences = Counter(
    "pms_bridge_reconcile_differences_total",
    "Differences reconciliation found between the PMS and what the booking engine was told "
    "(booking) or the availability cache holds (availability); 0 in a healthy system",
    ["kind"],
    registry=REGISTRY,
)
reconcile_last_run = Gauge(
    "pms_bridge_reconcile_last_run_timestamp_seconds",
    "When the last reconciliation ended (Unix time)",
    registry=REGISTRY,
)

# --- slot safety and heartbeats ----------------------------------------------------------
slot_recreated = Counter(
    "pms_bridge_slot_recreated_total",
    "Logical capture: slots made anew after one was missing or invalidated (a capture gap)",
    ["reason"],
    registry=REGISTRY,
)
heartbeat_age_seconds = Gauge(
    "pms_bridge_heartbeat_age_seconds",
    "Seconds since a heartbeat last came back through capture and apply (since the first "
    "was written, while none has)",
    registry=REGISTRY,
)
heartbeat_round_trip_seconds = Histogram(
    "pms_bridge_heartbeat_round_trip_seconds",
    "Time from writing a heartbeat into the PMS database to its batch's apply commit",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

# --- what the operator is paged for, refreshed from the database (bridge/observer.py) -----
delivery_events_open = Gauge(
    "pms_bridge_delivery_events_open",
    "Webhook events not delivered yet, per hotel: pending (to be sent or retried) and failed "
    "(given up after the retry limit; each holds its reservation's later events)",
    ["hotel_id", "status"],
    registry=REGISTRY,
)
delivery_events_retrying = Gauge(
    "pms_bridge_delivery_events_retrying",
    "Pending webhook events whose last attempt failed, per hotel: the booking engine's "
    "endpoint is down or refusing while this stays above 0",
    ["hotel_id"],
    registry=REGISTRY,
)
delivery_oldest_open_seconds = Gauge(
    "pms_bridge_delivery_oldest_open_seconds",
    "Age of the oldest webhook event not delivered yet, per hotel (0 when none waits)",
    ["hotel_id"],
    registry=REGISTRY,
)
parked_changes = Gauge(
    "pms_bridge_parked_changes",
    "Changes held in pms_bridge.parked_changes (malformed, skipped until dealt with)",
    registry=REGISTRY,
)
