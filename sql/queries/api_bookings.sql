-- name: api_booking_lock
-- Serializes booking writes per (hotel, room type) for the rest of the transaction. The key
-- lives in the bigint advisory-lock space above 2^32, where no hashtext() lock can land.
SELECT pg_advisory_xact_lock((%(hotel_id)s::bigint << 32) | %(room_type_id)s::bigint);

-- name: api_generic_plans
-- For the booking pool's connections (see bridge/runner.py): the plan is chosen once per
-- prepared statement, partitions are pruned when it runs.
SET plan_cache_mode = force_generic_plan;

-- name: api_booking_room_type_and_plan
-- One row: the room type (its sellable rooms and largest capacity; NULLs when the hotel has
-- no such type) and the plan a booking is priced with, the one asked for or the hotel's
-- first active plan (NULLs when there is none).
SELECT t.id, t.name, t.sellable, t.max_capacity,
       p.id, p.plans_global_id, p.name, p.plan_type
FROM (VALUES (1)) AS one (x)
LEFT JOIN LATERAL (
    SELECT rt.id, rt.name,
           count(r.id) FILTER (WHERE r.for_sale AND NOT r.is_staff_room)::int AS sellable,
           coalesce(max(r.capacity) FILTER (WHERE r.for_sale AND NOT r.is_staff_room), 0)::int
               AS max_capacity
    FROM room_types rt
    LEFT JOIN rooms r ON r.hotel_id = rt.hotel_id AND r.room_type_id = rt.id
    WHERE rt.hotel_id = %(hotel_id)s AND rt.id = %(room_type_id)s
    GROUP BY rt.id, rt.name
) AS t ON true
LEFT JOIN LATERAL (
    SELECT id, plans_global_id, name, plan_type
    FROM plans_hotel
    WHERE hotel_id = %(hotel_id)s AND is_active
      AND (%(plan_id)s::int IS NULL OR id = %(plan_id)s::int)
    ORDER BY display_order, id
    LIMIT 1
) AS p ON true;

-- name: api_booking_free_rooms
-- Every (night, room) of the type that is free, read from the PMS tables inside the booking
-- transaction (after the advisory lock), never from the cache. The booking being changed
-- (exclude) does not count against itself.
WITH nights AS (
    SELECT g::date AS date
    FROM generate_series(%(check_in)s::date, %(check_out)s::date - 1, interval '1 day') AS g
), candidates AS (
    SELECT id, capacity, assignment_priority
    FROM rooms
    WHERE hotel_id = %(hotel_id)s AND room_type_id = %(room_type_id)s
      AND for_sale AND NOT is_staff_room
), taken AS (
    SELECT DISTINCT d.room_id, d.date
    FROM reservation_details d
    JOIN reservations res ON res.hotel_id = d.hotel_id AND res.id = d.reservation_id
    WHERE d.hotel_id = %(hotel_id)s
      AND d.date >= %(check_in)s::date AND d.date < %(check_out)s::date
      AND d.cancelled IS NULL AND res.status <> 'cancelled'
      AND d.reservation_id IS DISTINCT FROM %(exclude)s::uuid
      AND d.room_id IN (SELECT id FROM candidates)
)
SELECT n.date, c.id AS room_id, coalesce(c.capacity, 0) >= %(people)s AS fits
FROM nights n
CROSS JOIN candidates c
WHERE NOT EXISTS (SELECT 1 FROM taken t WHERE t.room_id = c.id AND t.date = n.date)
ORDER BY n.date, c.assignment_priority NULLS LAST, c.id;

-- name: api_booking_hotel_availability
-- Free sellable rooms per room type and night: what a refused booking is told is still there.
WITH nights AS (
    SELECT g::date AS date
    FROM generate_series(%(check_in)s::date, %(check_out)s::date - 1, interval '1 day') AS g
), sellable AS (
    SELECT room_type_id, count(*)::int AS rooms
    FROM rooms
    WHERE hotel_id = %(hotel_id)s AND for_sale AND NOT is_staff_room
    GROUP BY room_type_id
), taken AS (
    SELECT r.room_type_id, d.date, count(DISTINCT d.room_id)::int AS rooms
    FROM reservation_details d
    JOIN reservations res ON res.hotel_id = d.hotel_id AND res.id = d.reservation_id
    JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
    WHERE d.hotel_id = %(hotel_id)s
      AND d.date >= %(check_in)s::date AND d.date < %(check_out)s::date
      AND d.cancelled IS NULL AND res.status <> 'cancelled'
      AND r.for_sale AND NOT r.is_staff_room
    GROUP BY r.room_type_id, d.date
)
SELECT s.room_type_id, n.date, greatest(s.rooms - coalesce(t.rooms, 0), 0)::int AS available
FROM sellable s
CROSS JOIN nights n
LEFT JOIN taken t ON t.room_type_id = s.room_type_id AND t.date = n.date
ORDER BY s.room_type_id, n.date;

-- name: api_booking_client_update
UPDATE clients
SET name = coalesce(%(name)s, name),
    name_kana = coalesce(%(name_kana)s, name_kana),
    email = coalesce(%(email)s, email),
    phone = coalesce(%(phone)s, phone)
WHERE id = %(client_id)s;

-- name: api_booking_details_insert
-- One reservation_details row per night, in one statement.
INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id, plans_hotel_id,
                                 plans_global_id, plan_name, plan_type, number_of_people,
                                 price)
SELECT %(hotel_id)s, %(reservation_id)s, x.date, x.room_id, %(plan_id)s, %(plans_global_id)s,
       %(plan_name)s, %(plan_type)s, %(people)s, x.price
FROM unnest(%(dates)s::date[], %(room_ids)s::int[], %(prices)s::numeric[])
     AS x(date, room_id, price);

-- name: api_booking_details_delete
DELETE FROM reservation_details
WHERE hotel_id = %(hotel_id)s AND reservation_id = %(reservation_id)s;

-- name: api_booking_reservation_for_update
SELECT id, reservation_client_id, check_in, check_out, number_of_people, status, type,
       payment_timing, comment
FROM reservations
WHERE hotel_id = %(hotel_id)s AND id = %(id)s
FOR UPDATE;

-- name: api_booking_current_nights
SELECT d.date, d.room_id, r.room_type_id, d.plans_hotel_id
FROM reservation_details d
LEFT JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
WHERE d.hotel_id = %(hotel_id)s AND d.reservation_id = %(id)s AND d.cancelled IS NULL
ORDER BY d.date;

-- name: api_booking_reservation_update
UPDATE reservations
SET check_in = %(check_in)s, check_out = %(check_out)s, number_of_people = %(people)s,
    comment = coalesce(%(comment)s, comment), updated_at = localtimestamp
WHERE hotel_id = %(hotel_id)s AND id = %(id)s;

-- name: api_booking_cancel
-- The PMS's cancellation: the reservation's status, and every night marked cancelled.
WITH res AS (
    UPDATE reservations
    SET status = 'cancelled', updated_at = localtimestamp
    WHERE hotel_id = %(hotel_id)s AND id = %(id)s
    RETURNING id
)
UPDATE reservation_details d
SET cancelled = res.id
FROM res
WHERE d.hotel_id = %(hotel_id)s AND d.reservation_id = res.id AND d.cancelled IS NULL;

-- name: api_booking_sync_echo
-- Marks the booking as written by the booking engine in this very transaction, so the bridge
-- recognises its own echo (origin_xid is the 32-bit id Change.xid carries) and does not
-- deliver it back as new.
INSERT INTO booking_sync_status AS s (hotel_id, booking_id, booking_engine_id, sync_status,
                                      origin, origin_xid, last_change_op, last_changed_at)
VALUES (%(hotel_id)s, %(booking_id)s, %(booking_engine_id)s, 'synced', 'booking_engine',
        pg_current_xact_id()::text::bigint %% 4294967296, %(op)s, localtimestamp)
ON CONFLICT (hotel_id, booking_id) DO UPDATE
SET booking_engine_id = coalesce(EXCLUDED.booking_engine_id, s.booking_engine_id),
    sync_status = 'synced',
    origin = 'booking_engine',
    origin_xid = EXCLUDED.origin_xid,
    last_change_op = EXCLUDED.last_change_op,
    last_changed_at = EXCLUDED.last_changed_at,
    error_message = NULL,
    retry_count = 0;

-- name: api_booking_get
-- The booking with its nights (a JSON array, so one statement reads it all). The PMS's
-- timestamps have no time zone: they are the server's local time, so they are given one
-- here (answers carry RFC 3339 times with an offset).
SELECT res.id, res.hotel_id, res.check_in, res.check_out, res.number_of_people, res.status,
       res.type, res.payment_timing, res.comment,
       res.created_at AT TIME ZONE current_setting('TimeZone') AS created_at,
       res.updated_at AT TIME ZONE current_setting('TimeZone') AS updated_at,
       c.id AS client_id, c.name, c.name_kana, c.email, c.phone,
       s.booking_engine_id, s.sync_status,
       s.last_sync_attempt AT TIME ZONE current_setting('TimeZone') AS last_sync_attempt,
       s.error_message,
       (SELECT coalesce(json_agg(json_build_object(
                    'date', d.date, 'room_id', d.room_id, 'room_number', rm.room_number,
                    'room_type_id', rm.room_type_id, 'plans_hotel_id', d.plans_hotel_id,
                    'plan_name', d.plan_name, 'number_of_people', d.number_of_people,
                    'price', d.price, 'cancelled', d.cancelled IS NOT NULL)
                ORDER BY d.date, d.room_id), '[]')
        FROM reservation_details d
        LEFT JOIN rooms rm ON rm.hotel_id = d.hotel_id AND rm.id = d.room_id
        WHERE d.hotel_id = res.hotel_id AND d.reservation_id = res.id) AS nights
FROM reservations res
JOIN clients c ON c.id = res.reservation_client_id
LEFT JOIN booking_sync_status s ON s.hotel_id = res.hotel_id AND s.booking_id = res.id
WHERE res.hotel_id = %(hotel_id)s AND res.id = %(id)s;

-- name: api_idempotency_claim
-- Taken first in the booking transaction: a concurrent retry with the same key waits on the
-- primary key until this transaction ends, then sees the stored response. The claim names
-- the booking it will create, so the write can tell its own claim from an earlier one.
INSERT INTO pms_bridge.api_idempotency (api_key_id, idempotency_key, request_hash, hotel_id,
                                        booking_id)
VALUES (%(api_key_id)s, %(key)s, %(request_hash)s, %(hotel_id)s, %(booking_id)s)
ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
RETURNING api_key_id;

-- name: api_idempotency_get
SELECT request_hash, status_code, response, hotel_id, booking_id
FROM pms_bridge.api_idempotency
WHERE api_key_id = %(api_key_id)s AND idempotency_key = %(key)s;

-- name: api_idempotency_store
UPDATE pms_bridge.api_idempotency
SET status_code = %(status_code)s, response = %(response)s
WHERE api_key_id = %(api_key_id)s AND idempotency_key = %(key)s;

-- name: api_booking_write
-- The serialized part of a booking in one statement, run right after the (hotel, room type)
-- lock: it re-checks the chosen rooms against what is committed now, and only when all are
-- still free (and, with an Idempotency-Key, the key is claimed here for this booking id or
-- already was by this transaction) writes the guest, the reservation, its nights and the echo
-- mark for the bridge. Otherwise it writes nothing, so the COMMIT queued after it commits
-- nothing; the answer row says which it was (rooms taken meanwhile, or the key's earlier
-- claim: a retry, answered from that claim).
WITH guard AS (
    SELECT NOT EXISTS (
        SELECT 1
        FROM unnest(%(dates)s::date[], %(room_ids)s::int[]) AS x(date, room_id)
        LEFT JOIN rooms r
          ON r.hotel_id = %(hotel_id)s AND r.id = x.room_id
         AND r.room_type_id = %(room_type_id)s AND r.for_sale AND NOT r.is_staff_room
         AND coalesce(r.capacity, 0) >= %(people)s
        WHERE r.id IS NULL OR EXISTS (
            SELECT 1
            FROM reservation_details d
            JOIN reservations res ON res.hotel_id = d.hotel_id AND res.id = d.reservation_id
            WHERE d.hotel_id = %(hotel_id)s AND d.room_id = x.room_id AND d.date = x.date
              AND d.cancelled IS NULL AND res.status <> 'cancelled'
        )
    ) AS rooms_free
), claim AS (
    -- A concurrent claim of the same key makes this wait for its transaction to end.
    INSERT INTO pms_bridge.api_idempotency (api_key_id, idempotency_key, request_hash,
                                            hotel_id, booking_id)
    SELECT %(api_key_id)s, %(idempotency_key)s::text, %(request_hash)s, %(hotel_id)s, %(id)s
    FROM guard
    WHERE guard.rooms_free AND %(idempotency_key)s::text IS NOT NULL
    ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
    RETURNING 1
), go AS (
    SELECT 1 FROM guard
    WHERE guard.rooms_free AND (
        %(idempotency_key)s::text IS NULL
        OR EXISTS (SELECT 1 FROM claim)
        OR EXISTS (
            SELECT 1 FROM pms_bridge.api_idempotency i
            WHERE i.api_key_id = %(api_key_id)s
              AND i.idempotency_key = %(idempotency_key)s::text AND i.booking_id = %(id)s::uuid
        )
    )
), client AS (
    INSERT INTO clients (name, name_kana, email, phone)
    SELECT %(name)s, %(name_kana)s, %(email)s, %(phone)s FROM go
    RETURNING id
), res AS (
    INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,
                              number_of_people, status, type, payment_timing, comment)
    SELECT %(id)s, %(hotel_id)s, client.id, %(check_in)s, %(check_out)s, %(people)s,
           'confirmed', 'web', %(payment_timing)s, %(comment)s
    FROM client
    RETURNING id
), nights AS (
    INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id, plans_hotel_id,
                                     plans_global_id, plan_name, plan_type, number_of_people,
                                     price)
    SELECT %(hotel_id)s, res.id, x.date, x.room_id, %(plan_id)s, %(plans_global_id)s,
           %(plan_name)s, %(plan_type)s, %(people)s, x.price
    FROM res, unnest(%(dates)s::date[], %(room_ids)s::int[], %(prices)s::numeric[])
         AS x(date, room_id, price)
    RETURNING 1
), echo AS (
    INSERT INTO booking_sync_status AS s (hotel_id, booking_id, booking_engine_id, sync_status,
                                          origin, origin_xid, last_change_op, last_changed_at)
    SELECT %(hotel_id)s, res.id, %(booking_engine_id)s, 'synced', 'booking_engine',
           pg_current_xact_id()::text::bigint %% 4294967296, 'I', localtimestamp
    FROM res
    ON CONFLICT (hotel_id, booking_id) DO UPDATE
    SET booking_engine_id = coalesce(EXCLUDED.booking_engine_id, s.booking_engine_id),
        sync_status = 'synced', origin = 'booking_engine', origin_xid = EXCLUDED.origin_xid,
        last_change_op = EXCLUDED.last_change_op, last_changed_at = EXCLUDED.last_changed_at,
        error_message = NULL, retry_count = 0
    RETURNING 1
)
SELECT (SELECT rooms_free FROM guard) AS rooms_free, (SELECT count(*) FROM nights) AS nights;
