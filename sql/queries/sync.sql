-- name: sync_mark_pending
-- One row per reservation: a later change of the same booking resets it to pending.
INSERT INTO booking_sync_status AS s (hotel_id, booking_id, sync_status, last_change_op,
                                      last_changed_at)
SELECT x.hotel_id, x.booking_id, 'pending', x.op, x.changed_at
FROM unnest(%(hotel_ids)s::int[], %(booking_ids)s::uuid[], %(ops)s::text[],
            %(changed_at)s::timestamp[]) AS x(hotel_id, booking_id, op, changed_at)
ON CONFLICT (hotel_id, booking_id) DO UPDATE
SET sync_status = 'pending',
    last_change_op = EXCLUDED.last_change_op,
    last_changed_at = EXCLUDED.last_changed_at,
    retry_count = 0,
    error_message = NULL;
