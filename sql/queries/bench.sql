-- name: bench_bulk_book
-- `count` confirmed stays of `nights` nights (1 + nights row changes each) spread over every
-- sellable room and the next year, in one statement, as a bulk import into the PMS would.
WITH room AS (
    SELECT hotel_id, id, (row_number() OVER (ORDER BY hotel_id, id) - 1)::int AS n,
           count(*) OVER ()::int AS total
    FROM rooms WHERE for_sale AND NOT is_staff_room
), stay AS (
    SELECT gen_random_uuid() AS id, room.hotel_id, room.id AS room_id,
           CURRENT_DATE + (g * 7 + %(offset)s::int) %% 360 AS check_in
    FROM generate_series(0, %(count)s::int - 1) AS g
    JOIN room ON room.n = g %% room.total
), client AS (
    SELECT id FROM clients ORDER BY id LIMIT 1
), booked AS (
    INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,
                              number_of_people, status, comment)
    SELECT stay.id, stay.hotel_id, client.id, stay.check_in, stay.check_in + %(nights)s::int,
           1, 'confirmed', 'bench'
    FROM stay CROSS JOIN client
    RETURNING 1
)
INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id, plan_name,
                                 number_of_people, price)
SELECT stay.hotel_id, stay.id, stay.check_in + n, stay.room_id, 'bench', 1, 9000
FROM stay CROSS JOIN generate_series(0, %(nights)s::int - 1) AS n;

-- name: bench_bulk_shift
-- Moves the last night of `count` of the benchmark's stays one day later: one update row
-- change each (the last, since the PMS keeps one live row per reservation, room and night).
UPDATE reservation_details d SET date = d.date + 1
FROM (SELECT hotel_id, id
      FROM (SELECT DISTINCT ON (hotel_id, reservation_id) hotel_id, reservation_id, id
            FROM reservation_details WHERE plan_name = 'bench'
            ORDER BY hotel_id, reservation_id, date DESC) AS last_night
      ORDER BY hotel_id, reservation_id LIMIT %(count)s) AS pick
WHERE d.hotel_id = pick.hotel_id AND d.id = pick.id;

-- name: bench_outbox_count
SELECT count(*) FROM pms_bridge.outbox;

-- name: bench_outbox_truncate
TRUNCATE pms_bridge.outbox;

-- name: bench_async_commit
-- The CPU-bound view of a write: commits stop waiting for the WAL flush (this session only).
SET synchronous_commit = off;

-- name: bench_cleanup
-- Removes the bulk stays again (their details go by cascade) so every run starts alike.
DELETE FROM reservations WHERE comment = 'bench';

-- name: bench_vacuum
VACUUM (ANALYZE) reservations, reservation_details, pms_bridge.outbox;
