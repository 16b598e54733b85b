-- When no one room is free for a whole stay, the rooms are chosen night by night. Each night
-- kept the room of the night before where it was free, but the first night (and any night
-- after a change) took the free room first by priority, ignoring p_preferred: a changed
-- booking, or the rest of a stay under way, moved the guest out of a room that was still
-- free. The nightly choice now takes the booking's own rooms first, in p_preferred's order,
-- then priority. A new booking passes no preferred rooms: its choice is as before.
CREATE OR REPLACE FUNCTION pms_bridge.api_assign_rooms(
    p_hotel_id INT, p_room_type_id INT, p_check_in DATE, p_check_out DATE, p_people INT,
    p_exclude UUID, p_preferred INT[]
) RETURNS INT[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_room INT;
    v_rooms INT[] := '{}';
    v_free INT[];
    v_nights INT := 0;
BEGIN
    SELECT c.id INTO v_room
    FROM rooms c
    WHERE c.hotel_id = p_hotel_id AND c.room_type_id = p_room_type_id
      AND c.for_sale AND NOT c.is_staff_room AND coalesce(c.capacity, 0) >= p_people
      AND NOT EXISTS (
          SELECT 1
          FROM reservation_details d
          WHERE d.hotel_id = p_hotel_id AND d.room_id = c.id
            AND d.date >= p_check_in AND d.date < p_check_out
            AND d.cancelled IS NULL AND d.reservation_id IS DISTINCT FROM p_exclude
            AND (SELECT res.status FROM reservations res
                 WHERE res.hotel_id = d.hotel_id AND res.id = d.reservation_id)
                <> 'cancelled')
    ORDER BY array_position(p_preferred, c.id) NULLS LAST, c.assignment_priority NULLS LAST,
             c.id
    LIMIT 1;
    IF v_room IS NOT NULL THEN
        RETURN array_fill(v_room, ARRAY[p_check_out - p_check_in]);
    END IF;
    FOR v_free IN
        SELECT array_agg(c.id ORDER BY array_position(p_preferred, c.id) NULLS LAST,
                                       c.assignment_priority NULLS LAST, c.id)
        FROM generate_series(p_check_in, p_check_out - 1, interval '1 day') AS g
        CROSS JOIN rooms c
        WHERE c.hotel_id = p_hotel_id AND c.room_type_id = p_room_type_id
          AND c.for_sale AND NOT c.is_staff_room AND coalesce(c.capacity, 0) >= p_people
          AND NOT EXISTS (
              SELECT 1
              FROM reservation_details d
              WHERE d.hotel_id = p_hotel_id AND d.date = g::date AND d.room_id = c.id
                AND d.cancelled IS NULL AND d.reservation_id IS DISTINCT FROM p_exclude
                AND (SELECT res.status FROM reservations res
                     WHERE res.hotel_id = d.hotel_id AND res.id = d.reservation_id)
                    <> 'cancelled'
              OFFSET 0)
        GROUP BY g
        ORDER BY g
    LOOP
        v_nights := v_nights + 1;
        v_rooms := v_rooms || CASE
            WHEN v_nights > 1 AND v_rooms[v_nights - 1] = ANY(v_free) THEN v_rooms[v_nights - 1]
            ELSE v_free[1]
        END;
    END LOOP;
    IF v_nights < p_check_out - p_check_in THEN
        RETURN NULL;
    END IF;
    RETURN v_rooms;
END
$$;
