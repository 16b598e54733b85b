-- name: checkpoint_load
SELECT position, changes_applied, last_captured_at, updated_at, capture_gap_since
FROM pms_bridge.checkpoint
WHERE consumer = %(consumer)s;

-- name: checkpoint_record_gap
-- The earliest unrepaired gap wins: a second gap before the first is repaired starts later.
UPDATE pms_bridge.checkpoint
SET capture_gap_since = least(capture_gap_since, %(since)s)
WHERE consumer = %(consumer)s;

-- name: checkpoint_gap_repaired
-- Only the gap that was reconciled: one recorded meanwhile (earlier) stays.
UPDATE pms_bridge.checkpoint
SET capture_gap_since = NULL
WHERE consumer = %(consumer)s AND capture_gap_since >= %(since)s;

-- name: checkpoint_save
INSERT INTO pms_bridge.checkpoint AS c (consumer, position, changes_applied, last_captured_at)
VALUES (%(consumer)s, %(position)s, %(applied)s, %(last_captured_at)s)
ON CONFLICT (consumer) DO UPDATE
SET position = EXCLUDED.position,
    changes_applied = c.changes_applied + EXCLUDED.changes_applied,
    -- A batch of parked changes only has no commit time: keep the last one known.
    last_captured_at = COALESCE(EXCLUDED.last_captured_at, c.last_captured_at),
    updated_at = now();

-- name: status_overview
SELECT c.position, c.changes_applied, c.updated_at,
       (SELECT count(*) FROM pms_bridge.outbox) AS waiting,
       (SELECT extract(epoch FROM clock_timestamp() - min(captured_at)) FROM pms_bridge.outbox)
           AS lag_seconds,
       (SELECT count(*) FROM pms_bridge.parked_changes) AS parked
FROM (SELECT 1) AS one
LEFT JOIN pms_bridge.checkpoint c ON c.consumer = %(consumer)s;
