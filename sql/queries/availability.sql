-- name: availability_recompute
-- Recomputes availability for every (hotel, room type, night) a batch touched, in one query.
-- Dirty keys arrive four ways: a night of a room, every night of a reservation, every night
-- of a room type inside the horizon, or explicit keys. A key whose room type no longer
-- exists comes back with type_exists = false so the cache drops it.
WITH night_keys AS (
    SELECT r.hotel_id, r.room_type_id, n.date
    FROM unnest(%(night_hotel)s::int[], %(night_room)s::int[], %(night_date)s::date[])
         AS n(hotel_id, room_id, date)
    JOIN rooms r ON r.hotel_id = n.hotel_id AND r.id = n.room_id
), reservation_keys AS (
    SELECT r.hotel_id, r.room_type_id, d.date
    FROM unnest(%(res_hotel)s::int[], %(res_id)s::uuid[]) AS x(hotel_id, reservation_id)
    JOIN reservation_details d ON d.hotel_id = x.hotel_id AND d.reservation_id = x.reservation_id
    JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
), type_keys AS (
    SELECT x.hotel_id, x.room_type_id, g::date AS date
    FROM unnest(%(type_hotel)s::int[], %(type_id)s::int[]) AS x(hotel_id, room_type_id)
    CROSS JOIN generate_series(%(lo)s::date, %(hi)s::date, interval '1 day') AS g
), explicit_keys AS (
    SELECT k.hotel_id, k.room_type_id, k.date
    FROM unnest(%(key_hotel)s::int[], %(key_type)s::int[], %(key_date)s::date[])
         AS k(hotel_id, room_type_id, date)
), dirty AS (
    SELECT * FROM night_keys
    UNION SELECT * FROM reservation_keys
    UNION SELECT * FROM type_keys
    UNION SELECT * FROM explicit_keys
), keys AS (
    SELECT * FROM dirty WHERE date BETWEEN %(lo)s::date AND %(hi)s::date
), sellable AS (
    SELECT t.hotel_id, t.room_type_id,
           (rt.id IS NOT NULL) AS type_exists,
           count(r.id) FILTER (WHERE r.for_sale AND NOT r.is_staff_room) AS rooms
    FROM (SELECT DISTINCT hotel_id, room_type_id FROM keys) AS t
    LEFT JOIN room_types rt ON rt.hotel_id = t.hotel_id AND rt.id = t.room_type_id
    LEFT JOIN rooms r ON r.hotel_id = t.hotel_id AND r.room_type_id = t.room_type_id
    GROUP BY t.hotel_id, t.room_type_id, rt.id
), taken AS (
    SELECT d.hotel_id, r.room_type_id, d.date,
           count(DISTINCT d.room_id) AS rooms,
           count(*) AS room_nights
    FROM (SELECT DISTINCT hotel_id, date FROM keys) AS k
    JOIN reservation_details d ON d.hotel_id = k.hotel_id AND d.date = k.date
    JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
    JOIN reservations res ON res.hotel_id = d.hotel_id AND res.id = d.reservation_id
    WHERE d.cancelled IS NULL AND res.status <> 'cancelled'
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

-- name: availability_all_room_types
SELECT hotel_id, id AS room_type_id FROM room_types ORDER BY hotel_id, id;
