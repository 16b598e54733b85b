-- name: sync_mark_pending
-- One row per reservation: a later change of the same booking resets it to pending, except
-- the booking engine's own writes through our API (every transaction of the booking's
-- changes in the batch is one of them: no echo) and a failed delivery, which stays failed
-- until `pms-bridge sync retry`. A booking's transactions come as an array literal per row.
-- Arrays are bound in binary (b placeholders): cheaper to dump than text for a backlog.
INSERT INTO booking_sync_status AS s (hotel_id, booking_id, sync_status, last_change_op,
                                      last_changed_at)
SELECT x.hotel_id, x.booking_id, 'pending', x.op, x.changed_at
FROM unnest(%(hotel_ids)b::int[], %(booking_ids)b::uuid[], %(ops)b::text[],
            %(changed_at)b::timestamp[], %(xids)b::text[])
     AS x(hotel_id, booking_id, op, changed_at, xids)
WHERE NOT pms_bridge.engine_wrote_all(x.hotel_id, x.booking_id, x.xids::bigint[])
ON CONFLICT (hotel_id, booking_id) DO UPDATE
SET sync_status = CASE WHEN s.sync_status = 'failed' THEN 'failed' ELSE 'pending' END,
    last_change_op = EXCLUDED.last_change_op,
    last_changed_at = EXCLUDED.last_changed_at,
    retry_count = CASE WHEN s.sync_status = 'failed' THEN s.retry_count ELSE 0 END,
    error_message = CASE WHEN s.sync_status = 'failed' THEN s.error_message END;
