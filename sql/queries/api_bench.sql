-- name: api_bench_room_types
-- The room types the API benchmark books into (hotel 1, those with sellable rooms).
SELECT DISTINCT room_type_id FROM rooms
WHERE hotel_id = 1 AND for_sale AND NOT is_staff_room
ORDER BY room_type_id;
