-- name: cacheops_hotel_exists
SELECT EXISTS (SELECT 1 FROM hotels WHERE id = %(hotel_id)s);

-- name: cacheops_trigger_start
-- Every update request leaves a row, pending until the update finishes.
INSERT INTO booking_engine_cache_triggers (trigger_type, cache_type, hotel_id, triggered_by,
                                           status)
VALUES (%(trigger_type)s, %(cache_type)s, %(hotel_id)s, %(triggered_by)s, 'pending')
RETURNING id;

-- name: cacheops_trigger_finish
UPDATE booking_engine_cache_triggers
SET status = %(status)s, completed_at = CURRENT_TIMESTAMP, error_message = %(error)s,
    entries_written = %(written)s, entries_removed = %(removed)s
WHERE id = %(id)s
RETURNING completed_at;

-- name: cacheops_mark_updated
-- The cache of `cache_type` is fresh for these hotels; a full update (all_hotels) also
-- clears the counter of changes to hotels that no longer exist.
WITH fresh AS (
    INSERT INTO booking_engine_cache_status AS s (cache_type, hotel_id, last_updated,
                                                  cache_ttl_minutes, is_active, pending_changes)
    SELECT %(cache_type)s, h.id, CURRENT_TIMESTAMP, %(ttl_minutes)s, true, 0
    FROM hotels h WHERE h.id = ANY(%(hotel_ids)s::int[])
    ON CONFLICT (cache_type, (coalesce(hotel_id, 0))) DO UPDATE
    SET last_updated = EXCLUDED.last_updated, cache_ttl_minutes = EXCLUDED.cache_ttl_minutes,
        is_active = true, pending_changes = 0
    RETURNING 1
)
UPDATE booking_engine_cache_status
SET pending_changes = 0, last_updated = CURRENT_TIMESTAMP
WHERE %(all_hotels)s AND cache_type = %(cache_type)s AND hotel_id IS NULL;

-- name: cacheops_drop_status
-- Bookkeeping rows of hotels that are gone (the cascade covers deletes; this covers caches
-- that were filled before the hotel vanished while the bridge was down).
DELETE FROM booking_engine_cache_status
WHERE hotel_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM hotels h WHERE h.id = hotel_id);

-- name: cacheops_status
-- One line per cache type: the newest update, whether any is active, and what is still pending.
SELECT cache_type,
       max(last_updated)::timestamptz AS last_updated,
       bool_or(is_active) AS is_active,
       coalesce(sum(pending_changes), 0)::int AS pending_changes
FROM booking_engine_cache_status
WHERE %(hotel_id)s::int IS NULL OR hotel_id = %(hotel_id)s::int
GROUP BY cache_type;

-- name: cacheops_last_applied
-- When the bridge last applied captured changes: availability is updated live by them.
SELECT max(updated_at) FROM pms_bridge.checkpoint WHERE changes_applied > 0;

-- name: cacheops_hotel_room_types
SELECT id FROM room_types WHERE hotel_id = %(hotel_id)s ORDER BY id;
