-- The dirty (hotel, room type, night) keys of a batch, resolved from the four shapes the
-- availability projector collects: a night of a room, every night of a reservation, every
-- night of a room type, or explicit keys; only nights inside [lo, hi]. One function, so the
-- small-batch and bulk recompute queries resolve keys the same way.
CREATE FUNCTION pms_bridge.availability_keys(
    night_hotel INT[], night_room INT[], night_date DATE[],
    res_hotel INT[], res_id UUID[],
    type_hotel INT[], type_id INT[],
    key_hotel INT[], key_type INT[], key_date DATE[],
    lo DATE, hi DATE
) RETURNS TABLE (hotel_id INT, room_type_id INT, date DATE)
LANGUAGE sql STABLE AS $$
    SELECT d.hotel_id, d.room_type_id, d.date FROM (
        SELECT r.hotel_id, r.room_type_id, n.date
        FROM unnest(night_hotel, night_room, night_date) AS n(hotel_id, room_id, date)
        JOIN rooms r ON r.hotel_id = n.hotel_id AND r.id = n.room_id
        UNION
        SELECT r.hotel_id, r.room_type_id, d.date
        FROM unnest(res_hotel, res_id) AS x(hotel_id, reservation_id)
        JOIN reservation_details d
          ON d.hotel_id = x.hotel_id AND d.reservation_id = x.reservation_id
        JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
        UNION
        SELECT x.hotel_id, x.room_type_id, g::date
        FROM unnest(type_hotel, type_id) AS x(hotel_id, room_type_id)
        CROSS JOIN generate_series(lo, hi, interval '1 day') AS g
        UNION
        SELECT k.hotel_id, k.room_type_id, k.date
        FROM unnest(key_hotel, key_type, key_date) AS k(hotel_id, room_type_id, date)
    ) AS d
    WHERE d.date BETWEEN lo AND hi
$$;
