-- name: checkpoint_load
SELECT position, changes_applied, last_captured_at, updated_at FROM pms_bridge.checkpoint
WHERE consumer = %(consumer)s;

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
       (SELECT extract(epoch FROM clock_timestamp() - min(captured_at)) FROM pms_bridge.outbox),
       (SELECT count(*) FROM pms_bridge.parked_changes) AS parked
FROM (SELECT 1) AS one
LEFT JOIN pms_bridge.checkpoint c ON c.consumer = %(consumer)s;
