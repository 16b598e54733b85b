-- name: workload_rooms
SELECT hotel_id, id FROM rooms WHERE for_sale AND NOT is_staff_room ORDER BY hotel_id, id;

-- name: workload_clients
SELECT id FROM clients ORDER BY id LIMIT 2000;

-- name: workload_reservations
-- Future reservations that still hold a night (a live detail row, as the PMS counts them).
SELECT r.hotel_id, r.id FROM reservations r
WHERE r.check_in >= CURRENT_DATE
  AND EXISTS (SELECT 1 FROM reservation_details d
              WHERE d.hotel_id = r.hotel_id AND d.reservation_id = r.id AND d.cancelled IS NULL)
ORDER BY r.id LIMIT 5000;

-- name: workload_room_taken
-- As the PMS counts a room taken: a detail row with cancelled IS NULL, whatever the status.
SELECT EXISTS (
    SELECT 1 FROM reservation_details d
    WHERE d.hotel_id = %(hotel_id)s AND d.room_id = %(room_id)s AND d.cancelled IS NULL
      AND d.date >= %(start)s AND d.date < %(end)s
) AS taken;

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
SELECT count(*) AS written FROM details;

-- name: workload_move
-- Moves a reservation's nights to another room, and maybe a day earlier or later.
UPDATE reservation_details
SET room_id = %(room_id)s, date = date + %(shift)s::int
WHERE hotel_id = %(hotel_id)s AND reservation_id = %(reservation_id)s
  AND (room_id IS DISTINCT FROM %(room_id)s OR %(shift)s::int <> 0);

-- name: workload_cancel
-- Cancels as the PMS does: the reservation's status, and every one of its detail rows
-- cancelled (a fresh UUID each) and no longer billable. A reservation already cancelled is
-- left alone. Returns how many rows were changed.
WITH reservation AS (
    UPDATE reservations SET status = 'cancelled'
    WHERE hotel_id = %(hotel_id)s AND id = %(reservation_id)s AND status <> 'cancelled'
    RETURNING 1
), details AS (
    UPDATE reservation_details SET cancelled = gen_random_uuid(), billable = FALSE
    WHERE hotel_id = %(hotel_id)s AND reservation_id = %(reservation_id)s
      AND EXISTS (SELECT 1 FROM reservation)
    RETURNING 1
)
SELECT (SELECT count(*) FROM reservation) + (SELECT count(*) FROM details) AS changed;

-- name: workload_edit
UPDATE reservations SET comment = %(comment)s
WHERE hotel_id = %(hotel_id)s AND id = %(reservation_id)s;
