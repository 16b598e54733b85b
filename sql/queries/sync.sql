-- name: sync_mark_pending
-- One row per reservation: a later change of the same booking resets it to pending, except
-- the booking engine's own write through our API (its transaction is the row's origin_xid:
-- no echo) and a failed delivery, which stays failed until `pms-bridge sync retry`.
-- Arrays are bound in binary (b placeholders): cheaper to dump than text for a backlog.
INSERT INTO booking_sync_status AS s (hotel_id, booking_id, sync_status, last_change_op,
                                      last_changed_at)
SELECT x.hotel_id, x.booking_id, 'pending', x.op, x.changed_at
FROM unnest(%(hotel_ids)b::int[], %(booking_ids)b::uuid[], %(ops)b::text[],
            %(changed_at)b::timestamp[], %(only_xids)b::bigint[])
     AS x(hotel_id, booking_id, op, changed_at, only_xid)
WHERE NOT EXISTS (SELECT 1 FROM booking_sync_status e
                  WHERE e.hotel_id = x.hotel_id AND e.booking_id = x.booking_id
                    AND e.origin = 'booking_engine' AND e.origin_xid = x.only_xid)
ON CONFLICT (hotel_id, booking_id) DO UPDATE
SET sync_status = CASE WHEN s.sync_status = 'failed' THEN 'failed' ELSE 'pending' END,
    last_change_op = EXCLUDED.last_change_op,
    last_changed_at = EXCLUDED.last_changed_at,
    retry_count = CASE WHEN s.sync_status = 'failed' THEN s.retry_count ELSE 0 END,
    error_message = CASE WHEN s.sync_status = 'failed' THEN s.error_message END;
