-- name: delivery_enqueue
-- Webhook events for a batch's bookings, for hotels with sync enabled, skipping a booking
-- whose transactions in the batch are all the booking engine's own writes through our API
-- (pms_bridge.engine_writes; a booking's transactions come as an array literal per row).
-- The body is built here, once (pms_bridge.reservation_document): every attempt sends the
-- same bytes under the same key. What the event tells is recorded in the same statement
-- (pms_bridge.booking_digests), so reconciliation knows it exactly when the event exists.
-- Arrays are bound in binary (b placeholders): cheaper to dump than text for a backlog.
WITH x AS (
    SELECT *
    FROM unnest(%(event_ids)b::uuid[], %(hotel_ids)b::int[], %(booking_ids)b::uuid[],
                %(operations)b::text[], %(occurred_at)b::timestamptz[], %(xids)b::text[])
         AS x(event_id, hotel_id, booking_id, operation, occurred_at, xids)
), due AS (
    SELECT x.*, s.booking_engine_id
    FROM x
    LEFT JOIN booking_sync_status s ON s.hotel_id = x.hotel_id AND s.booking_id = x.booking_id
    WHERE EXISTS (SELECT 1 FROM booking_engine_config c
                  WHERE c.hotel_id = x.hotel_id AND c.sync_enabled)
      AND NOT pms_bridge.engine_wrote_all(x.hotel_id, x.booking_id, x.xids::bigint[])
), ins AS (
    INSERT INTO pms_bridge.delivery_events (event_id, hotel_id, booking_id, operation,
                                            occurred_at, payload)
    SELECT d.event_id, d.hotel_id, d.booking_id, d.operation, d.occurred_at,
           jsonb_build_object(
               'event_id', d.event_id,
               'type', 'reservation.' || d.operation,
               'operation', d.operation,
               'hotel_id', d.hotel_id,
               'occurred_at', d.occurred_at,
               'reservation', coalesce(
                   res.doc || jsonb_build_object('updated_at', d.occurred_at),
                   jsonb_build_object('id', d.booking_id, 'hotel_id', d.hotel_id,
                                      'booking_engine_id', d.booking_engine_id,
                                      'status', NULL, 'nights', '[]'::jsonb)))
    FROM due d
    LEFT JOIN LATERAL (
        SELECT doc
        FROM pms_bridge.reservation_document(d.hotel_id, d.booking_id, d.booking_engine_id)
             AS doc
        WHERE d.operation <> 'deleted'
    ) res ON true
    ON CONFLICT (event_id) DO NOTHING
    RETURNING hotel_id, booking_id, seq, payload -> 'reservation' AS told
), recorded AS (
    -- A booking told nothing but its ids (deleted, or gone before its event was built) is
    -- recorded as deleted. One row per booking: the newest event of the statement tells.
    INSERT INTO pms_bridge.booking_digests AS b (hotel_id, booking_id, digest, status)
    SELECT DISTINCT ON (i.hotel_id, i.booking_id)
           i.hotel_id, i.booking_id,
           CASE WHEN i.told ->> 'status' IS NOT NULL
                THEN pms_bridge.reservation_digest(i.told) END,
           coalesce(i.told ->> 'status', 'deleted')
    FROM ins i
    ORDER BY i.hotel_id, i.booking_id, i.seq DESC
    ON CONFLICT (hotel_id, booking_id) DO UPDATE
    SET digest = EXCLUDED.digest, status = EXCLUDED.status, recorded_at = now()
)
SELECT count(*) FROM ins CROSS JOIN LATERAL (SELECT pg_notify('pms_bridge_delivery', '')) n;

-- name: delivery_listen
LISTEN pms_bridge_delivery;

-- name: delivery_lock
-- One delivering process at a time keeps each reservation's events in order.
SELECT pg_try_advisory_lock(hashtext('pms_bridge.delivery'), 0);

-- name: delivery_due
-- The oldest open event of each booking, if it is due and not in flight here: a booking's
-- next event waits for the one before it, so order holds per reservation. A failed head
-- blocks its booking until `pms-bridge sync retry` requeues it.
WITH heads AS (
    SELECT DISTINCT ON (e.hotel_id, e.booking_id)
           e.event_id, e.hotel_id, e.booking_id, e.status, e.attempts, e.next_attempt_at,
           e.occurred_at, e.seq, e.payload
    FROM pms_bridge.delivery_events e
    WHERE e.status <> 'delivered'
    ORDER BY e.hotel_id, e.booking_id, e.seq
)
-- The previous secret of a rotation signs too until it is cleared or its end has passed.
SELECT h.event_id, h.hotel_id, h.booking_id, h.attempts, h.occurred_at,
       h.payload::text AS body, c.booking_engine_url AS url, c.webhook_secret AS secret,
       CASE WHEN c.webhook_secret_previous_until IS NULL
                 OR c.webhook_secret_previous_until > now()
            THEN c.webhook_secret_previous END AS previous_secret
FROM heads h
JOIN LATERAL (
    SELECT booking_engine_url, webhook_secret, webhook_secret_previous,
           webhook_secret_previous_until
    FROM booking_engine_config
    WHERE hotel_id = h.hotel_id AND sync_enabled ORDER BY id DESC LIMIT 1
) c ON true
WHERE h.status = 'pending' AND h.next_attempt_at <= now()
  AND h.booking_id <> ALL(%(in_flight)s::uuid[])
ORDER BY h.next_attempt_at, h.seq
LIMIT %(limit)s;

-- name: delivery_next_due
-- When the next open event falls due (for sleeping until then).
SELECT extract(epoch FROM min(next_attempt_at) - now())
FROM pms_bridge.delivery_events WHERE status = 'pending';

-- name: delivery_mark_delivered
-- The event is acknowledged; the booking is synced once none of its events is open.
WITH e AS (
    UPDATE pms_bridge.delivery_events
    SET status = 'delivered', attempts = attempts + 1, delivered_at = now(), last_error = NULL
    WHERE event_id = %(event_id)s AND status = 'pending'
    RETURNING hotel_id, booking_id, attempts
)
UPDATE booking_sync_status s
SET sync_status = CASE WHEN EXISTS (
        SELECT 1 FROM pms_bridge.delivery_events o
        WHERE o.hotel_id = e.hotel_id AND o.booking_id = e.booking_id
          AND o.status <> 'delivered' AND o.event_id <> %(event_id)s)
        THEN s.sync_status ELSE 'synced' END,
    last_sync_attempt = CURRENT_TIMESTAMP,
    retry_count = e.attempts - 1,
    error_message = NULL,
    booking_engine_id = coalesce(%(booking_engine_id)s, s.booking_engine_id)
FROM e
WHERE s.hotel_id = e.hotel_id AND s.booking_id = e.booking_id;

-- name: delivery_mark_retry
WITH e AS (
    UPDATE pms_bridge.delivery_events
    SET attempts = attempts + 1, last_error = %(error)s,
        next_attempt_at = now() + make_interval(secs => %(delay)s)
    WHERE event_id = %(event_id)s AND status = 'pending'
    RETURNING hotel_id, booking_id, attempts
)
UPDATE booking_sync_status s
SET last_sync_attempt = CURRENT_TIMESTAMP, retry_count = e.attempts, error_message = %(error)s
FROM e
WHERE s.hotel_id = e.hotel_id AND s.booking_id = e.booking_id;

-- name: delivery_mark_failed
WITH e AS (
    UPDATE pms_bridge.delivery_events
    SET status = 'failed', attempts = attempts + 1, last_error = %(error)s
    WHERE event_id = %(event_id)s AND status = 'pending'
    RETURNING hotel_id, booking_id, attempts
)
UPDATE booking_sync_status s
SET sync_status = 'failed', last_sync_attempt = CURRENT_TIMESTAMP,
    retry_count = e.attempts - 1, error_message = %(error)s
FROM e
WHERE s.hotel_id = e.hotel_id AND s.booking_id = e.booking_id;

-- name: delivery_requeue
-- `sync retry`: failed events (all, one hotel's, or one booking's) go back to pending with a
-- fresh retry budget; with a booking, its pending events are also made due now.
WITH e AS (
    UPDATE pms_bridge.delivery_events
    SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
    WHERE status <> 'delivered'
      AND (%(booking_id)s::uuid IS NULL OR booking_id = %(booking_id)s::uuid)
      AND (%(hotel_id)s::int IS NULL OR hotel_id = %(hotel_id)s::int)
      AND (status = 'failed' OR %(booking_id)s::uuid IS NOT NULL)
    RETURNING hotel_id, booking_id
), s AS (
    UPDATE booking_sync_status s
    SET sync_status = 'pending', retry_count = 0, error_message = NULL
    FROM (SELECT DISTINCT hotel_id, booking_id FROM e) b
    WHERE s.hotel_id = b.hotel_id AND s.booking_id = b.booking_id
    RETURNING 1
)
SELECT count(*) FROM e;

-- name: delivery_mark_pending
UPDATE booking_sync_status
SET sync_status = 'pending', retry_count = 0, error_message = NULL
WHERE booking_id = %(booking_id)s
  AND (%(hotel_id)s::int IS NULL OR hotel_id = %(hotel_id)s::int);

-- name: delivery_booking_hotel
SELECT hotel_id FROM booking_sync_status
WHERE booking_id = %(booking_id)s AND (%(hotel_id)s::int IS NULL OR hotel_id = %(hotel_id)s::int)
UNION
SELECT hotel_id FROM reservations
WHERE id = %(booking_id)s AND (%(hotel_id)s::int IS NULL OR hotel_id = %(hotel_id)s::int);

-- name: delivery_failed
-- Failed events (of one hotel, or all), oldest first, each with how many later events of its
-- reservation wait behind it: a failed event holds them until it is requeued.
SELECT e.event_id, e.hotel_id, e.booking_id, e.operation, e.attempts, e.last_error,
       e.occurred_at, e.created_at,
       (SELECT count(*) FROM pms_bridge.delivery_events w
        WHERE w.hotel_id = e.hotel_id AND w.booking_id = e.booking_id
          AND w.status = 'pending' AND w.seq > e.seq) AS waiting
FROM pms_bridge.delivery_events e
WHERE e.status = 'failed' AND (%(hotel_id)s::int IS NULL OR e.hotel_id = %(hotel_id)s::int)
ORDER BY e.seq
LIMIT %(limit)s;

-- name: delivery_hotel_syncs
-- Whether events of the hotel are enqueued at all (delivery_enqueue skips other hotels).
SELECT EXISTS (SELECT 1 FROM booking_engine_config
               WHERE hotel_id = %(hotel_id)s AND sync_enabled);

-- name: delivery_failed_bookings
-- The hotel's reservations whose failed event holds their later ones.
SELECT count(DISTINCT booking_id) FROM pms_bridge.delivery_events
WHERE status = 'failed' AND hotel_id = %(hotel_id)s;

-- name: delivery_summary
-- Totals for the demo's summary line and `sync retry`'s report.
SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered,
       coalesce(sum(CASE status WHEN 'pending' THEN attempts
                                ELSE greatest(attempts - 1, 0) END), 0)::bigint AS retried,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'pending') AS pending
FROM pms_bridge.delivery_events
WHERE created_at >= %(since)s;

-- name: delivery_demo_configure
-- The demo points every hotel's webhook at its local receiver (an existing row is reused).
WITH updated AS (
    UPDATE booking_engine_config
    SET booking_engine_url = %(url)s, sync_enabled = true, updated_at = CURRENT_TIMESTAMP
    RETURNING hotel_id, webhook_secret
), inserted AS (
    INSERT INTO booking_engine_config (hotel_id, booking_engine_url, sync_enabled)
    SELECT h.id, %(url)s, true FROM hotels h
    WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.hotel_id = h.id)
    RETURNING hotel_id, webhook_secret
)
SELECT hotel_id, webhook_secret FROM updated
UNION ALL
SELECT hotel_id, webhook_secret FROM inserted;

-- name: delivery_open_events
SELECT count(*) FROM pms_bridge.delivery_events WHERE status = 'pending';

-- name: delivery_prune
-- Delivered events are the delivery log; they are kept for a week (a reservation's open
-- events are never pruned, so order and idempotency keys stay intact).
WITH events AS (
    DELETE FROM pms_bridge.delivery_events
    WHERE status = 'delivered' AND delivered_at < now() - make_interval(days => %(days)s)
)
DELETE FROM pms_bridge.engine_writes
WHERE written_at < now() - make_interval(days => %(days)s);

-- name: delivery_hotel_hold
-- The hotel's endpoint is down: its waiting events are not due before the next probe.
UPDATE pms_bridge.delivery_events
SET next_attempt_at = now() + make_interval(secs => %(delay)s)
WHERE hotel_id = %(hotel_id)s AND status = 'pending'
  AND next_attempt_at < now() + make_interval(secs => %(delay)s);

-- name: delivery_hotel_recovered
-- The hotel's endpoint answered again: everything that waited for it is due now.
UPDATE pms_bridge.delivery_events
SET next_attempt_at = now()
WHERE hotel_id = %(hotel_id)s AND status = 'pending' AND next_attempt_at > now();
