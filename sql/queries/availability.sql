-- Availability as the PMS computes its stock: sellable rooms of the type minus the rooms
-- taken that night, a room being taken by any of its detail rows with `cancelled IS NULL`,
-- whatever its reservation's status (the PMS cancels by setting `cancelled` on the nights);
-- double-booked room-nights are `overbooked`. A key whose room type no longer exists comes
-- back with type_exists = false so the cache drops it. Three plans for the same answer, chosen
-- by batch size and shape in bridge/sinks/availability.py: per key through the night index
-- (small batches, the live case), per dirty hotel-night over all its bookings (bulk, keys
-- scattered thinly), or over every booking of the batch's hotels and date span (range:
-- snapshots, backlogs).
-- pms_bridge.availability_keys (migration 050) can also resolve every night of a reservation;
-- no reservation column changes availability, so these queries pass no reservation (the
-- signature stays, so that the version before this one can still call it).
-- The key arrays are bound in binary (b placeholders): psycopg dumps a large batch's arrays
-- several times faster that way than as text, and it does so on the bridge's one busy thread.

-- name: availability_recompute
WITH keys AS MATERIALIZED (
    SELECT * FROM pms_bridge.availability_keys(
        %(night_hotel)b::int[], %(night_room)b::int[], %(night_date)b::date[],
        '{}'::int[], '{}'::uuid[], %(type_hotel)b::int[], %(type_id)b::int[],
        %(key_hotel)b::int[], %(key_type)b::int[], %(key_date)b::date[],
        %(lo)s::date, %(hi)s::date)
), sellable AS (
    SELECT s.* FROM (SELECT array_agg(hotel_id) AS h, array_agg(room_type_id) AS t FROM keys) AS k
    CROSS JOIN pms_bridge.sellable_rooms(k.h, k.t) AS s
)
SELECT k.hotel_id, k.room_type_id, k.date, s.type_exists,
       s.rooms::int AS sellable,
       t.rooms::int AS taken,
       greatest(s.rooms - t.rooms, 0)::int AS available,
       (t.room_nights - t.rooms)::int AS overbooked
FROM keys k
JOIN sellable s USING (hotel_id, room_type_id)
CROSS JOIN LATERAL (
    SELECT count(DISTINCT d.room_id) AS rooms, count(*) AS room_nights
    FROM rooms r
    JOIN reservation_details d
      ON d.hotel_id = r.hotel_id AND d.date = k.date AND d.room_id = r.id
    WHERE r.hotel_id = k.hotel_id AND r.room_type_id = k.room_type_id
      AND r.for_sale AND NOT r.is_staff_room
      AND d.cancelled IS NULL
) AS t;

-- name: availability_recompute_bulk
WITH keys AS MATERIALIZED (
    SELECT * FROM pms_bridge.availability_keys(
        %(night_hotel)b::int[], %(night_room)b::int[], %(night_date)b::date[],
        '{}'::int[], '{}'::uuid[], %(type_hotel)b::int[], %(type_id)b::int[],
        %(key_hotel)b::int[], %(key_type)b::int[], %(key_date)b::date[],
        %(lo)s::date, %(hi)s::date)
), sellable AS (
    SELECT s.* FROM (SELECT array_agg(hotel_id) AS h, array_agg(room_type_id) AS t FROM keys) AS k
    CROSS JOIN pms_bridge.sellable_rooms(k.h, k.t) AS s
), taken AS (
    SELECT d.hotel_id, r.room_type_id, d.date,
           count(DISTINCT d.room_id) AS rooms,
           count(*) AS room_nights
    FROM (SELECT DISTINCT hotel_id, date FROM keys) AS k
    JOIN reservation_details d ON d.hotel_id = k.hotel_id AND d.date = k.date
    JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
    WHERE d.cancelled IS NULL
      AND r.for_sale AND NOT r.is_staff_room
    GROUP BY d.hotel_id, r.room_type_id, d.date
)
SELECT k.hotel_id, k.room_type_id, k.date, s.type_exists,
       s.rooms::int AS sellable,
       coalesce(t.rooms, 0)::int AS taken,
       greatest(s.rooms - coalesce(t.rooms, 0), 0)::int AS available,
       (coalesce(t.room_nights, 0) - coalesce(t.rooms, 0))::int AS overbooked
FROM keys k
JOIN sellable s USING (hotel_id, room_type_id)
LEFT JOIN taken t USING (hotel_id, room_type_id, date);

-- name: availability_recompute_range
-- The bulk answer for dense batches. The span (hotels, first and last night) arrives as plain
-- values, so the planner estimates the scan from the table statistics and hashes the joins;
-- driven by the keys instead, it estimates a handful of rows (the horizon filter over unnest
-- has no statistics) and probes the night rows key by key, which is slower on a backlog.
-- Rooms are counted per room-night first, so both levels are hash aggregates, not a sort.
WITH keys AS MATERIALIZED (
    SELECT * FROM pms_bridge.availability_keys(
        %(night_hotel)b::int[], %(night_room)b::int[], %(night_date)b::date[],
        '{}'::int[], '{}'::uuid[], %(type_hotel)b::int[], %(type_id)b::int[],
        %(key_hotel)b::int[], %(key_type)b::int[], %(key_date)b::date[],
        %(lo)s::date, %(hi)s::date)
), sellable AS (
    SELECT s.* FROM (SELECT array_agg(hotel_id) AS h, array_agg(room_type_id) AS t FROM keys) AS k
    CROSS JOIN pms_bridge.sellable_rooms(k.h, k.t) AS s
), room_nights AS (
    SELECT d.hotel_id, r.room_type_id, d.date, d.room_id, count(*) AS bookings
    FROM reservation_details d
    JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
    WHERE d.hotel_id = ANY(%(span_hotels)b::int[])
      AND d.date BETWEEN %(span_first)s::date AND %(span_last)s::date
      AND d.cancelled IS NULL
      AND r.for_sale AND NOT r.is_staff_room
    GROUP BY d.hotel_id, r.room_type_id, d.date, d.room_id
), taken AS (
    SELECT hotel_id, room_type_id, date, count(*) AS rooms, sum(bookings) AS room_nights
    FROM room_nights
    GROUP BY hotel_id, room_type_id, date
)
SELECT k.hotel_id, k.room_type_id, k.date, s.type_exists,
       s.rooms::int AS sellable,
       coalesce(t.rooms, 0)::int AS taken,
       greatest(s.rooms - coalesce(t.rooms, 0), 0)::int AS available,
       (coalesce(t.room_nights, 0) - coalesce(t.rooms, 0))::int AS overbooked
FROM keys k
JOIN sellable s USING (hotel_id, room_type_id)
LEFT JOIN taken t USING (hotel_id, room_type_id, date);

-- name: availability_all_room_types
SELECT hotel_id, id AS room_type_id FROM room_types ORDER BY hotel_id, id;
