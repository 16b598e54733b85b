-- name: api_booking_lock
-- Serializes booking writes per (hotel, room type, night) for the rest of the transaction.
SELECT pms_bridge.api_booking_lock(%(hotel_id)s, %(room_type_id)s, %(check_in)s,
                                   %(check_out)s);

-- name: api_generic_plans
-- For the booking pool's connections (see bridge/runner.py): the plan is chosen once per
-- prepared statement, partitions are pruned when it runs; never a parallel plan, whose
-- workers take milliseconds to start for work of a tenth of one (costed over every
-- partition, a generic plan looks big enough to share); never JIT compilation, for the same
-- reason: with 40 hotels a generic plan costs ~150,000, over jit_above_cost, and a server
-- built with LLVM (Debian's) compiled ~300 functions on every execution, 86 ms per booking
-- instead of 1.9; and READ COMMITTED whatever the database's default, which the booking
-- locks need (see pms_bridge.api_booking_lock).
SET plan_cache_mode = force_generic_plan;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET default_transaction_isolation = 'read committed';

-- name: api_booking_room_type_and_plan
SELECT type_id, type_name, sellable, max_capacity, plan_id, plans_global_id, plan_name,
       plan_type
FROM pms_bridge.api_room_type_and_plan(%(hotel_id)s, %(room_type_id)s, %(plan_id)s);

-- name: api_booking_assign_rooms
-- A room per night, chosen from the PMS tables (after the lock); NULL when a night is full.
SELECT pms_bridge.api_assign_rooms(%(hotel_id)s, %(room_type_id)s, %(check_in)s,
                                   %(check_out)s, %(people)s, %(exclude)s, %(preferred)s::int[]);

-- name: api_booking_stay_prices
SELECT pms_bridge.api_stay_prices(%(hotel_id)s, %(plan_id)s, %(plan_type)s, %(check_in)s,
                                  %(check_out)s, %(people)s);

-- name: api_booking_rooms_left
-- What a refused change is told is still free, per room type and night (JSON text).
SELECT pms_bridge.api_rooms_left(%(hotel_id)s, %(check_in)s, %(check_out)s)::text;

-- name: api_booking_client_update
UPDATE clients
SET name = coalesce(%(name)s, name),
    name_kana = coalesce(%(name_kana)s, name_kana),
    email = coalesce(%(email)s, email),
    phone = coalesce(%(phone)s, phone)
WHERE id = %(client_id)s;

-- name: api_booking_details_insert
-- One reservation_details row per night, in one statement; billable, as the PMS writes the
-- nights it sells (the column's default is FALSE, and its reports read billable nights only).
INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id, plans_hotel_id,
                                 plans_global_id, plan_name, plan_type, number_of_people,
                                 price, billable)
SELECT %(hotel_id)s, %(reservation_id)s, x.date, x.room_id, %(plan_id)s, %(plans_global_id)s,
       %(plan_name)s, %(plan_type)s, %(people)s, x.price, TRUE
FROM unnest(%(dates)s::date[], %(room_ids)s::int[], %(prices)s::numeric[])
     AS x(date, room_id, price);

-- name: api_booking_details_delete
-- The nights from from_date on; earlier ones (a stay under way) are history.
DELETE FROM reservation_details
WHERE hotel_id = %(hotel_id)s AND reservation_id = %(reservation_id)s
  AND date >= %(from_date)s;

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
    comment = coalesce(%(comment)s, comment)
WHERE hotel_id = %(hotel_id)s AND id = %(id)s;

-- name: api_booking_cancel
-- The PMS's cancellation: the reservation's status, and every night marked cancelled.
WITH res AS (
    UPDATE reservations
    SET status = 'cancelled'
    WHERE hotel_id = %(hotel_id)s AND id = %(id)s
    RETURNING id
)
UPDATE reservation_details d
SET cancelled = gen_random_uuid(), billable = FALSE
FROM res
WHERE d.hotel_id = %(hotel_id)s AND d.reservation_id = res.id AND d.cancelled IS NULL;

-- name: api_booking_sync_echo
SELECT pms_bridge.api_booking_echo(%(hotel_id)s, %(booking_id)s, %(booking_engine_id)s,
                                   %(op)s);

-- name: api_booking_get
-- The booking as JSON text (api.schemas.Booking), NULL when there is none.
SELECT pms_bridge.api_booking_json(%(hotel_id)s, %(id)s)::text;

-- name: api_booking_earlier
-- The committed claim of an Idempotency-Key (JSON text tagged "earlier"), NULL when there is none.
SELECT pms_bridge.api_idempotency_earlier(%(api_key_id)s, %(idempotency_key)s)::text;

-- name: api_booking_create
-- A whole booking in one statement (see the function); JSON text tagged by "outcome".
SELECT pms_bridge.api_booking_create(
    %(id)s, %(hotel_id)s, %(room_type_id)s, %(plan_id)s, %(check_in)s, %(check_out)s,
    %(people)s, %(name)s, %(name_kana)s, %(email)s, %(phone)s, %(payment_timing)s,
    %(comment)s, %(booking_engine_id)s, %(api_key_id)s, %(idempotency_key)s,
    %(request_hash)s)::text;
