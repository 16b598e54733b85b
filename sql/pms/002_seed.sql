-- Tools of the demo and the tests, on sql/pms/001_schema.sql or on the real PMS's schema
-- (tests/conftest.py loads it when BRIDGE_TEST_PMS_LOADER names the loader).

-- The PMS's first administrator, whom its own channel imports write as (a real PMS has one).
INSERT INTO users (id, email, name, password_hash, status_id, role_id)
VALUES (1, 'admin@example.test', 'Administrator', 'not-a-login', 1, 1)
ON CONFLICT (id) DO NOTHING;
SELECT setval('users_id_seq', greatest(1, (SELECT max(id) FROM users)));

-- The PMS adds a hotel as a row in hotels and one partition, named <table>_<hotel_id>, of
-- each table LIST-partitioned by hotel_id; the demo and the tests do the same through this.
CREATE FUNCTION pms_create_hotel_partitions(p_hotel_id INT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t TEXT;
BEGIN
    FOR t IN
        SELECT c.relname
        FROM pg_partitioned_table p
        JOIN pg_class c ON c.oid = p.partrelid
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
        WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition
          AND p.partstrat = 'l' AND p.partnatts = 1 AND a.attname = 'hotel_id'
        ORDER BY c.relname
    LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES IN (%s)',
                       t || '_' || p_hotel_id, t, p_hotel_id);
    END LOOP;
END $$;

-- Demo seed generator: hotels with their partitions, room types, rooms, plans, rates, guests
-- and about a year of non-conflicting reservations (one reservation_details row per night).
CREATE FUNCTION pms_seed_demo(
    p_hotels INT DEFAULT 3,
    p_rooms_per_hotel INT DEFAULT 100,
    p_days INT DEFAULT 365,
    p_start DATE DEFAULT CURRENT_DATE - 30
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    hid INT;
    client_ids UUID[];
BEGIN
    INSERT INTO plans_global (id, name, plan_type, created_by)
    VALUES (1, 'Room only', 'per_room', 1), (2, 'Bed and breakfast', 'per_person', 1),
           (3, 'Half board', 'per_person', 1)
    ON CONFLICT (id) DO NOTHING;
    PERFORM setval('plans_global_id_seq', (SELECT max(id) FROM plans_global));
    FOR h IN 1..p_hotels LOOP
        INSERT INTO hotels (formal_name, name, facility_type, open_date, postal_code, address,
                            email, phone_number, latitude, longitude, sort_order)
        VALUES (format('Demo Hotel %s Co., Ltd.', h), format('Demo Hotel %s', h), 'hotel',
                DATE '2015-04-01', format('100-000%s', h), format('%s-1 Demo Street', h),
                format('hotel%s@example.test', h), format('+81-3-0000-000%s', h),
                35.68 + h / 100.0, 139.76 + h / 100.0, h)
        RETURNING id INTO hid;
        PERFORM pms_create_hotel_partitions(hid);
        INSERT INTO room_types (hotel_id, name, description)
        SELECT hid, n, n || ' room' FROM unnest(ARRAY['Single', 'Double', 'Twin', 'Deluxe', 'Suite']) n;
        INSERT INTO rooms (hotel_id, room_type_id, floor, room_number, capacity, smoking,
                           for_sale, is_staff_room, assignment_priority)
        SELECT hid, rt.id, 1 + i / 20, (100 * (1 + i / 20) + i % 20)::text,
               CASE rt.name WHEN 'Single' THEN 1 WHEN 'Suite' THEN 4 ELSE 2 END,
               i % 10 = 0, i % 50 <> 7, i % 97 = 1, i
        FROM generate_series(0, p_rooms_per_hotel - 1) i
        JOIN LATERAL (SELECT id, name FROM room_types
                      WHERE hotel_id = hid ORDER BY id OFFSET i % 5 LIMIT 1) rt ON true;
        INSERT INTO plans_hotel (hotel_id, plans_global_id, name, plan_type, display_order,
                                 available_from, plan_type_category_id, created_by)
        VALUES (hid, 1, 'Room only', 'per_room', 1, p_start, 1, 1),
               (hid, 2, 'Bed and breakfast', 'per_person', 2, p_start, 2, 1);
        -- The PMS's rate screen always puts a base rate in the cancellation fee.
        INSERT INTO plans_rates (hotel_id, plans_hotel_id, adjustment_type, adjustment_value,
                                 include_in_cancel_fee, condition_type, condition_value,
                                 date_start, date_end)
        SELECT hid, p.id, 'base_rate', 8000 + 1000 * h, true, 'no_restriction', NULL::text,
               p_start, NULL::date
        FROM plans_hotel p WHERE p.hotel_id = hid
        UNION ALL
        SELECT hid, p.id, 'percentage', 20, false, 'day_of_week', '["sat"]', p_start, NULL
        FROM plans_hotel p WHERE p.hotel_id = hid
        UNION ALL
        SELECT hid, p.id, 'flat_fee', 1500, false, 'no_restriction', NULL, p_start, NULL
        FROM plans_hotel p WHERE p.hotel_id = hid AND p.plan_type = 'per_person';
    END LOOP;
    INSERT INTO plans_rates (hotel_id, plans_global_id, adjustment_type, adjustment_value,
                             condition_type, condition_value, date_start, date_end)
    VALUES (NULL, 1, 'percentage', 10, 'month', '["august"]', p_start, NULL);

    INSERT INTO clients (name, name_kana, email, phone, gender, legal_or_natural_person,
                         created_by)
    SELECT format('Guest %s', i), format('ゲスト %s', i), format('guest%s@example.test', i),
           format('+81-90-%s', 10000000 + i), (ARRAY['male', 'female', 'other'])[1 + i % 3],
           'natural', 1
    FROM generate_series(1, 2000) i;
    SELECT array_agg(id) INTO client_ids FROM clients;

    -- Each room's year is cut into 4-night slots; a booked slot holds one stay of 1-3 nights,
    -- so the seed never double-books a room.
    CREATE TEMP TABLE seed_stays ON COMMIT DROP AS
    SELECT r.hotel_id, r.id AS room_id, gen_random_uuid() AS reservation_id,
           p_start + s * 4 AS check_in, 1 + floor(random() * 3)::int AS nights,
           client_ids[1 + floor(random() * array_length(client_ids, 1))::int] AS client_id,
           random() AS roll
    FROM rooms r CROSS JOIN generate_series(0, p_days / 4 - 1) s
    WHERE random() < 0.6 AND r.for_sale AND NOT r.is_staff_room;

    INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,
                              number_of_people, status, type, payment_timing, created_by)
    SELECT reservation_id, hotel_id, client_id, check_in, check_in + nights, 1,
           CASE WHEN roll < 0.05 THEN 'cancelled' WHEN roll < 0.08 THEN 'block'
                WHEN roll < 0.2 THEN 'provisory' ELSE 'confirmed' END,
           CASE WHEN roll < 0.5 THEN 'default' WHEN roll < 0.8 THEN 'ota' ELSE 'web' END,
           'prepaid', 1
    FROM seed_stays;

    INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id, plans_hotel_id,
                                     plans_global_id, plan_name, plan_type, number_of_people,
                                     price, cancelled, billable, created_by)
    -- A cancelled stay's nights are cancelled too and no longer billed, as the PMS cancels.
    SELECT s.hotel_id, s.reservation_id, s.check_in + n, s.room_id, p.id, p.plans_global_id,
           p.name, p.plan_type, 1, 9000,
           CASE WHEN s.roll < 0.05 THEN gen_random_uuid() END, s.roll >= 0.05, 1
    FROM seed_stays s
    CROSS JOIN generate_series(0, s.nights - 1) n
    JOIN plans_hotel p ON p.hotel_id = s.hotel_id AND p.display_order = 1;
END $$;
