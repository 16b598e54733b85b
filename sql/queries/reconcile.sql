-- name: reconcile_bookings
-- The reservations of sync-enabled hotels (one, or all) whose current document differs from
-- what the booking engine was last told (pms_bridge.booking_digests), with the operation that
-- repairs each: created (never told), cancelled (told before its status moved to
-- cancelled), updated (told otherwise), deleted (told, and the reservation is gone). A
-- reservation whose stay ended before `since` is left out; deletions cannot be dated, so
-- every one of them is counted. A reservation without a recorded digest is `known`, not
-- created, when it was made before the bridge was installed and never changed since (no
-- sync row, and nothing of it in the PMS's audit log since: the bridge delivers changes,
-- not what the PMS held before it came; a change made while capture was away, as with a
-- lost slot, leaves no sync row but is in the log), or when an earlier version, which kept
-- no digests (before migration 130), told it (its sync row synced, last changed before
-- then). Such a reservation is recorded as told, not sent.
WITH hotels AS (
    SELECT DISTINCT c.hotel_id
    FROM booking_engine_config c
    WHERE c.sync_enabled AND (%(hotel_id)s::int IS NULL OR c.hotel_id = %(hotel_id)s::int)
), installed AS (
    -- The PMS's timestamps are local time without a zone, as these casts make the bridge's.
    SELECT min(applied_at)::timestamp AS at,
           min(applied_at) FILTER (WHERE version = 130)::timestamp AS digests_from
    FROM pms_bridge.schema_migrations
), logged AS (
    -- Reservations the PMS's audit log shows changed since the installation: its rows name
    -- the table changed as the trigger saw it (a partition: reservations_1), and the
    -- reservation itself, or a row carrying its id (nights, payments).
    SELECT DISTINCT booking_id
    FROM logs_reservation l
    CROSS JOIN installed i
    CROSS JOIN LATERAL (
        SELECT CASE WHEN l.table_name ~ '^reservations(_[0-9]+)?$' THEN l.record_id
                    ELSE (coalesce(l.changes -> 'new', l.changes) ->> 'reservation_id')::uuid
               END AS booking_id
    ) b
    WHERE l.log_time > i.at AND b.booking_id IS NOT NULL
), now_ AS (
    SELECT r.hotel_id, r.id AS booking_id, r.status, r.created_at,
           pms_bridge.reservation_digest(doc) AS digest
    FROM hotels h
    JOIN reservations r ON r.hotel_id = h.hotel_id
    CROSS JOIN LATERAL pms_bridge.reservation_document(r.hotel_id, r.id, NULL) AS doc
    WHERE %(since)s::date IS NULL OR r.check_out >= %(since)s::date
)
SELECT n.hotel_id, n.booking_id,
       CASE WHEN b.digest IS NULL AND (
                     (s.booking_id IS NULL AND n.created_at <= i.at
                      AND NOT EXISTS (SELECT 1 FROM logged g WHERE g.booking_id = n.booking_id))
                     OR (s.sync_status = 'synced' AND s.last_changed_at < i.digests_from))
                THEN 'known'
            WHEN b.digest IS NULL THEN 'created'
            WHEN n.status = 'cancelled' AND b.status <> 'cancelled' THEN 'cancelled'
            ELSE 'updated' END AS operation,
       b.digest AS told, n.digest, n.status
FROM now_ n
CROSS JOIN installed i
LEFT JOIN pms_bridge.booking_digests b
       ON b.hotel_id = n.hotel_id AND b.booking_id = n.booking_id
LEFT JOIN booking_sync_status s ON s.hotel_id = n.hotel_id AND s.booking_id = n.booking_id
WHERE b.digest IS DISTINCT FROM n.digest
UNION ALL
SELECT b.hotel_id, b.booking_id, 'deleted' AS operation, b.digest AS told, NULL AS digest,
       NULL AS status
FROM pms_bridge.booking_digests b
JOIN hotels h ON h.hotel_id = b.hotel_id
WHERE b.status <> 'deleted'
  AND NOT EXISTS (SELECT 1 FROM reservations r
                  WHERE r.hotel_id = b.hotel_id AND r.id = b.booking_id)
ORDER BY hotel_id, booking_id;

-- name: reconcile_room_types
-- The room types whose availability the cache keeps (as availability_all_room_types), of
-- one hotel or all.
SELECT hotel_id, id AS room_type_id
FROM room_types
WHERE %(hotel_id)s::int IS NULL OR hotel_id = %(hotel_id)s::int
ORDER BY hotel_id, id;

-- name: reconcile_record_known
-- Reservations the PMS held before the bridge came (see reconcile_bookings), recorded as
-- told so that later changes are measured against them.
INSERT INTO pms_bridge.booking_digests (hotel_id, booking_id, digest, status, recorded_at)
SELECT x.hotel_id, x.booking_id, x.digest, x.status, now()
FROM unnest(%(hotel_ids)s::int[], %(booking_ids)s::uuid[], %(digests)s::text[],
            %(statuses)s::text[]) AS x(hotel_id, booking_id, digest, status)
ON CONFLICT (hotel_id, booking_id) DO NOTHING;

-- name: resend_bookings
-- `sync resend`: every reservation of the hotel whose stay ends on or after `since` (all
-- when NULL), whatever the booking engine was told of it.
SELECT r.id AS booking_id
FROM reservations r
WHERE r.hotel_id = %(hotel_id)s
  AND (%(since)s::date IS NULL OR r.check_out >= %(since)s::date)
ORDER BY r.check_in, r.id;
