-- Sellable rooms per (hotel, room type) of a recompute batch, and whether the type still
-- exists: the one definition the three availability recompute plans share. PL/pgSQL, so the
-- planner does not inline it into the plans (an inlined SQL function took its row estimate
-- from the keys and chose nested loops; a batch names a handful of room types, hence ROWS).
CREATE FUNCTION pms_bridge.sellable_rooms(hotel_ids INT[], room_type_ids INT[])
RETURNS TABLE (hotel_id INT, room_type_id INT, type_exists BOOLEAN, rooms BIGINT)
LANGUAGE plpgsql STABLE ROWS 20 AS $$
BEGIN
    RETURN QUERY
    SELECT t.hotel_id, t.room_type_id,
           (rt.id IS NOT NULL),
           count(r.id) FILTER (WHERE r.for_sale AND NOT r.is_staff_room)
    FROM (SELECT DISTINCT x.hotel_id, x.room_type_id
          FROM unnest(hotel_ids, room_type_ids) AS x(hotel_id, room_type_id)) AS t
    LEFT JOIN room_types rt ON rt.hotel_id = t.hotel_id AND rt.id = t.room_type_id
    LEFT JOIN rooms r ON r.hotel_id = t.hotel_id AND r.room_type_id = t.room_type_id
    GROUP BY t.hotel_id, t.room_type_id, rt.id;
END
$$;
