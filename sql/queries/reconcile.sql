-- name: reconcile_bookings
-- The reservations of sync-enabled hotels (one, or all) whose current document differs from
-- what the booking engine was last told (pms_bridge.booking_digests), with the operation that
-- repairs each: created (never told), cancelled (told before its status moved to
-- cancelled), updated (told otherwise), deleted (told, and the reservation is gone). A
-- reservation whose stay ended before `since` is left out; deletions cannot be dated, so
-- every one of them is counted.
WITH hotels AS (
    SELECT DISTINCT c.hotel_id
    FROM booking_engine_config c
    WHERE c.sync_enabled AND (%(hotel_id)s::int IS NULL OR c.hotel_id = %(hotel_id)s::int)
), now_ AS (
    SELECT r.hotel_id, r.id AS booking_id, r.status,
           pms_bridge.reservation_digest(doc) AS digest
    FROM hotels h
    JOIN reservations r ON r.hotel_id = h.hotel_id
    CROSS JOIN LATERAL pms_bridge.reservation_document(r.hotel_id, r.id, NULL) AS doc
    WHERE %(since)s::date IS NULL OR r.check_out >= %(since)s::date
)
SELECT n.hotel_id, n.booking_id,
       CASE WHEN b.digest IS NULL THEN 'created'
            WHEN n.status = 'cancelled' AND b.status <> 'cancelled' THEN 'cancelled'
            ELSE 'updated' END AS operation,
       b.digest AS told, n.digest
FROM now_ n
LEFT JOIN pms_bridge.booking_digests b
       ON b.hotel_id = n.hotel_id AND b.booking_id = n.booking_id
WHERE b.digest IS DISTINCT FROM n.digest
UNION ALL
SELECT b.hotel_id, b.booking_id, 'deleted' AS operation, b.digest AS told, NULL AS digest
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
