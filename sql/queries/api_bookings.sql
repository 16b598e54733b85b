-- name: api_booking_lock
-- Serializes booking writes per (hotel, room type, night) for the rest of the transaction.
SELECT pms_bridge.api_booking_lock(%(hotel_id)s, %(room_type_id)s, %(check_in)s,
                                   %(check_out)s);

-- name: api_generic_plans
-- For the booking pool's connections (see api/server.py): the plan is chosen once per
-- prepared statement, partitions are pruned when it runs; never a parallel plan, whose
-- workers take milliseconds to start for work of a tenth of one (costed over every
-- partition, a generic plan looks big enough to share); never JIT compilation, for the same
-- reason: with 40 hotels a generic plan costs ~150,000, over jit_above_cost, and a server
-- built with LLVM (Debian's) compiled ~300 functions on every execution, many times the
-- booking's own work; and READ COMMITTED whatever the database's default, which the booking
-- locks need (see pms_bridge.api_booking_lock).
SET plan_cache_mode = force_generic_plan;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET default_transaction_isolation = 'read committed';

-- name: api_booking_rooms_left
-- What a refused change is told is still free, per room type and night (JSON text).
SELECT pms_bridge.api_rooms_left(%(hotel_id)s, %(check_in)s, %(check_out)s)::text AS rooms_left;

-- name: api_booking_reservation_for_update
SELECT id, reservation_client_id, check_in, check_out, number_of_people, status, type,
       payment_timing, comment
FROM reservations
WHERE hotel_id = %(hotel_id)s AND id = %(id)s
FOR UPDATE;

-- name: api_booking_sync_echo
SELECT pms_bridge.api_booking_echo(%(hotel_id)s, %(booking_id)s, %(booking_engine_id)s,
                                   %(op)s);

-- name: api_booking_get
-- The booking as JSON text (api.schemas.Booking), NULL when there is none.
SELECT pms_bridge.api_booking_json(%(hotel_id)s, %(id)s)::text AS json;

-- name: api_booking_earlier
-- The committed claim of an Idempotency-Key (JSON text tagged "earlier"), NULL when there is none.
SELECT pms_bridge.api_idempotency_earlier(%(api_key_id)s, %(idempotency_key)s)::text AS json;

-- name: api_booking_as_user
-- The PMS user the rest of the transaction writes as, for the PMS's audit triggers.
SELECT set_config('my_app.user_id', %(user_id)s::text, true);

-- name: api_booking_room_type
SELECT type_id, type_name, sellable, max_capacity
FROM pms_bridge.api_room_type(%(hotel_id)s, %(room_type_id)s);

-- name: api_booking_stay_plan
-- The plan by its ids, if the hotel sells it for every night of [check_in, check_out).
SELECT plan_key, plan_id, plans_global_id, name, plan_type
FROM pms_bridge.api_stay_plan(%(hotel_id)s, %(plan_id)s, %(plan_key)s, %(check_in)s,
                              %(check_out)s);

-- name: api_booking_unpriced_nights
-- The nights of [check_in, check_out) the plan has no rate on.
SELECT night
FROM pms_bridge.api_stay_prices(%(hotel_id)s, %(plans_global_id)s, %(plan_id)s,
                                %(check_in)s, %(check_out)s)
WHERE price IS NULL;

-- name: api_booking_free_room
-- One room free for every night of the span (preferred first); NULL when none is.
SELECT pms_bridge.api_free_room(%(hotel_id)s, %(room_type_id)s, %(check_in)s, %(check_out)s,
                                %(people)s, %(exclude)s, %(preferred)s) AS room_id;

-- name: api_booking_write_nights
SELECT pms_bridge.api_write_nights(
    %(hotel_id)s, %(reservation_id)s, %(client_id)s, %(room_id)s, %(plans_global_id)s,
    %(plan_id)s, %(plan_name)s, %(plan_type)s, %(people)s, %(check_in)s, %(check_out)s,
    %(user_id)s);

-- name: api_booking_nights_delete
-- Nights the stay no longer has (their rates, guests and add-ons go with them); rows of
-- those dates cancelled earlier, perhaps billed a fee, stay.
DELETE FROM reservation_details
WHERE hotel_id = %(hotel_id)s AND reservation_id = %(reservation_id)s
  AND date = ANY(%(dates)s::date[]) AND cancelled IS NULL;

-- name: api_booking_guests_update
-- The guests of the nights from from_date on that the stay keeps; their prices, rates and
-- add-ons stay as they are.
UPDATE reservation_details
SET number_of_people = %(people)s, updated_by = %(user_id)s
WHERE hotel_id = %(hotel_id)s AND reservation_id = %(reservation_id)s
  AND date >= %(from_date)s AND cancelled IS NULL
  AND number_of_people IS DISTINCT FROM %(people)s;

-- name: api_booking_current_nights
SELECT d.date AS night, d.room_id, r.room_type_id, r.capacity, d.plans_hotel_id, d.plans_global_id,
       d.plan_name, d.plan_type
FROM reservation_details d
LEFT JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
WHERE d.hotel_id = %(hotel_id)s AND d.reservation_id = %(id)s AND d.cancelled IS NULL
ORDER BY d.date;

-- name: api_booking_reservation_update
UPDATE reservations
SET check_in = %(check_in)s, check_out = %(check_out)s, number_of_people = %(people)s,
    comment = coalesce(%(comment)s, comment), updated_by = %(user_id)s
WHERE hotel_id = %(hotel_id)s AND id = %(id)s;

-- name: api_booking_client_update
UPDATE clients
SET name = coalesce(%(name)s, name),
    name_kana = coalesce(%(name_kana)s, name_kana),
    name_kanji = CASE WHEN %(name)s::text IS NULL THEN name_kanji ELSE %(name_kanji)s END,
    email = coalesce(%(email)s, email),
    phone = coalesce(%(phone)s, phone),
    updated_by = %(user_id)s
WHERE id = %(client_id)s;

-- name: api_booking_cancel
-- A booking cancelled in one statement (see the function); JSON text tagged by "outcome".
SELECT pms_bridge.api_booking_cancel(%(hotel_id)s, %(id)s, %(fee_nights)s, %(user_id)s,
                                     %(today)s)::text AS json;

-- name: api_booking_create
-- A whole booking in one statement (see the function); JSON text tagged by "outcome".
SELECT pms_bridge.api_booking_create(
    %(id)s, %(hotel_id)s, %(room_type_id)s, %(plan_id)s, %(plan_key)s, %(check_in)s,
    %(check_out)s, %(people)s, %(name)s, %(name_kana)s, %(name_kanji)s, %(gender)s,
    %(person)s, %(email)s, %(phone)s, %(payment_timing)s, %(comment)s, %(agent)s,
    %(booking_engine_id)s, %(user_id)s, %(prepaid)s, %(payment_type_id)s,
    %(payment_comment)s, %(today)s, %(api_key_id)s, %(idempotency_key)s,
    %(request_hash)s)::text AS json;
