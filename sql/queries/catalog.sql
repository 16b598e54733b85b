-- name: catalog_hotels
-- Hotels as the booking engine shows them; NULL hotel_ids loads every hotel.
SELECT id, name, formal_name, facility_type, open_date, total_rooms, postal_code, address,
       email, phone_number, latitude::float8 AS latitude, longitude::float8 AS longitude,
       sort_order
FROM hotels
WHERE %(hotel_ids)s::int[] IS NULL OR id = ANY(%(hotel_ids)s::int[])
ORDER BY sort_order, id;

-- name: catalog_hotel_ids
-- Every hotel, for marking the whole catalog fresh.
SELECT id FROM hotels ORDER BY sort_order, id;

-- name: catalog_room_types
-- Room types with what the booking engine needs to sell them: sellable rooms, capacity.
SELECT rt.hotel_id, rt.id, rt.name, rt.description,
       count(r.id) FILTER (WHERE r.for_sale AND NOT r.is_staff_room)::int AS sellable_rooms,
       coalesce(max(r.capacity) FILTER (WHERE r.for_sale AND NOT r.is_staff_room), 0)::int
           AS max_capacity
FROM room_types rt
LEFT JOIN rooms r ON r.hotel_id = rt.hotel_id AND r.room_type_id = rt.id
WHERE %(hotel_ids)s::int[] IS NULL OR rt.hotel_id = ANY(%(hotel_ids)s::int[])
GROUP BY rt.hotel_id, rt.id
ORDER BY rt.hotel_id, rt.id;

-- name: catalog_amenities
SELECT hotel_id, id, name, category, description, icon, sort_order
FROM booking_engine_amenities
WHERE is_active AND (%(hotel_ids)s::int[] IS NULL OR hotel_id = ANY(%(hotel_ids)s::int[]))
ORDER BY hotel_id, sort_order, id;

-- name: catalog_hotel_images
SELECT hotel_id, id, url, caption, sort_order, is_primary
FROM booking_engine_hotel_images
WHERE is_active AND (%(hotel_ids)s::int[] IS NULL OR hotel_id = ANY(%(hotel_ids)s::int[]))
ORDER BY hotel_id, is_primary DESC, sort_order, id;

-- name: catalog_count_pending
-- Manual policy: a batch's hotel / room-type changes are counted, not applied. A change of a
-- hotel that no longer exists is counted on the hotel_id NULL row.
INSERT INTO booking_engine_cache_status AS s (cache_type, hotel_id, last_updated,
                                              cache_ttl_minutes, is_active, pending_changes)
SELECT x.cache_type, h.id, NULL, %(ttl_minutes)s, true, sum(x.n)::int
FROM unnest(%(cache_types)s::text[], %(hotel_ids)s::int[], %(counts)s::int[])
     AS x(cache_type, hotel_id, n)
LEFT JOIN hotels h ON h.id = x.hotel_id
GROUP BY x.cache_type, h.id
ON CONFLICT (cache_type, (coalesce(hotel_id, 0))) DO UPDATE
SET pending_changes = s.pending_changes + EXCLUDED.pending_changes;
