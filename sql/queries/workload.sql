-- name: workload_rooms
SELECT hotel_id, id FROM rooms WHERE for_sale AND NOT is_staff_room ORDER BY hotel_id, id;

-- name: workload_clients
SELECT id FROM clients ORDER BY id LIMIT 2000;

-- name: workload_reservations
SELECT hotel_id, id FROM reservations
WHERE check_in >= CURRENT_DATE AND status <> 'cancelled'
ORDER BY id LIMIT 5000;

-- name: workload_room_taken
SELECT EXISTS (
    SELECT 1 FROM reservation_details d
    JOIN reservations r ON r.hotel_id = d.hotel_id AND r.id = d.reservation_id
    WHERE d.hotel_id = %(hotel_id)s AND d.room_id = %(room_id)s AND d.cancelled IS NULL
      AND r.status <> 'cancelled' AND d.date >= %(start)s AND d.date < %(end)s
);

-- name: workload_book
-- A reservation and one detail row per night; returns how many detail rows were written.
WITH reservation AS (
    INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,
                              number_of_people, status, type)
    VALUES (%(id)s, %(hotel_id)s, %(client_id)s, %(check_in)s::date,
            %(check_in)s::date + %(nights)s::int, 1, 'confirmed', 'default')
    RETURNING id, hotel_id, check_in
), details AS (
    INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id, plan_name,
                                     number_of_people, price)
    SELECT r.hotel_id, r.id, r.check_in + n, %(room_id)s, 'Room only', 1, 9000
    FROM reservation r CROSS JOIN generate_series(0, %(nights)s::int - 1) n
    RETURNING 1
)
SELECT count(*) FROM details;

-- name: workload_move
-- Moves a reservation's nights to another room, and maybe a day earlier or later.
UPDATE reservation_details
SET room_id = %(room_id)s, date = date + %(shift)s::int
WHERE hotel_id = %(hotel_id)s AND reservation_id = %(reservation_id)s
  AND (room_id IS DISTINCT FROM %(room_id)s OR %(shift)s::int <> 0);

-- name: workload_cancel
UPDATE reservations SET status = 'cancelled'
WHERE hotel_id = %(hotel_id)s AND id = %(reservation_id)s AND status <> 'cancelled';

-- name: workload_edit
UPDATE reservations SET comment = %(comment)s
WHERE hotel_id = %(hotel_id)s AND id = %(reservation_id)s;
