-- The booking functions, as they are now: applied whole by `migrate` whenever this file's
-- text changes (pms_bridge.schema_functions keeps the digest each database last applied), so
-- a change is made here, in place, and not restated in a new numbered migration. Each is
-- CREATE OR REPLACE; a change of a function's arguments or result type needs a
-- DROP FUNCTION IF EXISTS of the old signature before it in this file. (Migrations 070, 080
-- and 120 made them before this file existed; they are empty now.)
--
-- Bookings as server-side calls. A new booking is one statement from the API
-- (api_booking_create): its checks, prices, room choice, Idempotency-Key and writes run here,
-- so the locks of its nights are held only while PostgreSQL works and the API pays one
-- round trip per booking. The pieces are functions of their own because changing a booking
-- (PUT) and the price projector use them too: one definition of the lock key, the room
-- choice, a stay's prices, the echo mark and a booking's JSON.
-- PL/pgSQL where the body is a query over the PMS tables: its plans are cached per session
-- (a SQL function's body is planned again on every call); plan_night_prices is SQL so that
-- it is inlined into the projector's query and planned as part of it.

-- The locks that serialize booking writes of a room type per night, until the transaction
-- ends: two writes that could want the same room on the same night share a night and so
-- queue on its lock; writes of other nights (or types) go on side by side. Taken in date
-- order, so two writes never wait for each other both ways. The key is (hotel, room type,
-- night) packed into a bigint above 2^32 (where no hashtext() lock lands); ids beyond its
-- bits share keys, which only makes writes wait more, never less.
-- Before them, the key API processes of migrations before 070 held exclusively per (hotel,
-- room type) is taken shared: during a rolling upgrade an older process's write still
-- excludes these, while these do not wait for each other.
-- What the locks guarantee needs READ COMMITTED: each later statement of the transaction
-- then sees every write committed before the locks were granted (at REPEATABLE READ it
-- would read a snapshot from before the wait), so any other level is refused.
CREATE OR REPLACE FUNCTION pms_bridge.api_booking_lock(p_hotel_id INT, p_room_type_id INT,
                                            p_check_in DATE, p_check_out DATE)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'booking writes need READ COMMITTED, not %',
            current_setting('transaction_isolation');
    END IF;
    IF p_check_out <= p_check_in THEN
        RAISE EXCEPTION 'a stay needs check_out (%) after check_in (%)', p_check_out, p_check_in;
    END IF;
    PERFORM pg_advisory_xact_lock_shared((p_hotel_id::bigint << 32) | p_room_type_id::bigint);
    FOR i IN 0 .. p_check_out - p_check_in - 1 LOOP
        PERFORM pg_advisory_xact_lock(
            (p_hotel_id::bigint << 42)
            | ((p_room_type_id::bigint & 4194303) << 20)
            | ((p_check_in + i - DATE '2000-01-01')::bigint & 1048575));
    END LOOP;
END
$$;

-- One row: the room type (its sellable rooms and largest capacity; NULLs when the hotel has
-- no such type) and the plan a booking is priced with, the one asked for or the hotel's
-- first active plan (NULLs when there is none).
CREATE OR REPLACE FUNCTION pms_bridge.api_room_type_and_plan(p_hotel_id INT, p_room_type_id INT,
                                                  p_plan_id INT)
RETURNS TABLE (type_id INT, type_name TEXT, sellable INT, max_capacity INT, plan_id INT,
               plans_global_id INT, plan_name TEXT, plan_type TEXT)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT t.id, t.name::text, t.sellable, t.max_capacity,
           p.id, p.plans_global_id, p.name::text, p.plan_type::text
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN LATERAL (
        SELECT rt.id, rt.name,
               count(r.id) FILTER (WHERE r.for_sale AND NOT r.is_staff_room)::int AS sellable,
               coalesce(max(r.capacity) FILTER (WHERE r.for_sale AND NOT r.is_staff_room), 0)::int
                   AS max_capacity
        FROM room_types rt
        LEFT JOIN rooms r ON r.hotel_id = rt.hotel_id AND r.room_type_id = rt.id
        WHERE rt.hotel_id = p_hotel_id AND rt.id = p_room_type_id
        GROUP BY rt.id, rt.name
    ) AS t ON true
    LEFT JOIN LATERAL (
        SELECT ph.id, ph.plans_global_id, ph.name, ph.plan_type
        FROM plans_hotel ph
        WHERE ph.hotel_id = p_hotel_id AND ph.is_active
          AND (p_plan_id IS NULL OR ph.id = p_plan_id)
        ORDER BY ph.display_order, ph.id
        LIMIT 1
    ) AS p ON true;
END
$$;

-- Each night's price of a stay on a plan (0 for a night the plan has no rate for; per-person
-- plans per guest): what the price projector puts in the cache for those nights. All 0
-- without a plan.
CREATE OR REPLACE FUNCTION pms_bridge.api_stay_prices(p_hotel_id INT, p_plan_id INT, p_plan_type TEXT,
                                           p_check_in DATE, p_check_out DATE, p_people INT)
RETURNS NUMERIC[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT array_agg(round(coalesce(x.price, 0)
                               * CASE WHEN p_plan_type = 'per_person' THEN p_people ELSE 1 END,
                               2)
                         ORDER BY g)
        FROM generate_series(p_check_in, p_check_out - 1, interval '1 day') AS g
        LEFT JOIN pms_bridge.plan_night_prices(false, ARRAY[p_hotel_id], '{}', p_check_in,
                                               p_check_out - 1) AS x
          ON p_plan_id IS NOT NULL AND x.plan_id = p_plan_id AND x.night = g::date
    );
END
$$;

-- A room of the type for each night of the stay, read from the PMS tables (call it under
-- the lock): one room for the whole stay when any is free throughout and fits the guests,
-- the first of `preferred` that is, else the PMS's assignment priority; otherwise night by
-- night: each night keeps the previous night's room where it is free, else takes the
-- booking's own rooms first (in `preferred`'s order: a changed booking, or the rest of a
-- stay under way, keeps the guest's room while it is free), then priority. NULL when some
-- night has no room at all. The booking being changed (exclude) does not count against
-- itself. Night by night each room is probed by its own (hotel, night, room) key of the
-- night index; OFFSET 0 keeps the probe a correlated subquery: pulled up into an anti
-- join, the generic plan merged it with every booked night of the hotel (35 ms, not 0.3).
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

-- What is still free per room type of the hotel on each night of [check_in, check_out), as
-- the 409 answer's still_available (api.schemas.RoomTypeLeft): sellable rooms less the rooms
-- with a live booking that night.
CREATE OR REPLACE FUNCTION pms_bridge.api_rooms_left(p_hotel_id INT, p_check_in DATE, p_check_out DATE)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        WITH sellable AS (
            SELECT r.room_type_id, count(*)::int AS rooms
            FROM rooms r
            WHERE r.hotel_id = p_hotel_id AND r.for_sale AND NOT r.is_staff_room
            GROUP BY r.room_type_id
        ), taken AS (
            -- The reservation's status read per night row by its key (as a join, the generic
            -- plan hashed every reservation of the hotel).
            SELECT r.room_type_id, d.date, count(DISTINCT d.room_id)::int AS rooms
            FROM reservation_details d
            JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id
            WHERE d.hotel_id = p_hotel_id AND d.date >= p_check_in AND d.date < p_check_out
              AND d.cancelled IS NULL AND r.for_sale AND NOT r.is_staff_room
              AND (SELECT res.status FROM reservations res
                   WHERE res.hotel_id = d.hotel_id AND res.id = d.reservation_id) <> 'cancelled'
            GROUP BY r.room_type_id, d.date
        ), per_night AS (
            SELECT s.room_type_id, g::date AS date,
                   greatest(s.rooms - coalesce(t.rooms, 0), 0) AS available
            FROM sellable s
            CROSS JOIN generate_series(p_check_in, p_check_out - 1, interval '1 day') AS g
            LEFT JOIN taken t ON t.room_type_id = s.room_type_id AND t.date = g::date
        )
        SELECT coalesce(json_agg(x.left_ ORDER BY x.room_type_id), '[]')
        FROM (
            SELECT n.room_type_id,
                   json_build_object(
                       'room_type_id', n.room_type_id,
                       'nights', json_agg(json_build_object('date', n.date,
                                                            'available', n.available)
                                          ORDER BY n.date),
                       'free_every_night', bool_and(n.available > 0)) AS left_
            FROM per_night n
            GROUP BY n.room_type_id
        ) AS x
    );
END
$$;

-- Marks the booking as written by the booking engine in this very transaction, so the bridge
-- recognises its own echo (origin_xid is the 32-bit id Change.xid carries) and does not
-- deliver it back as new.
CREATE OR REPLACE FUNCTION pms_bridge.api_booking_echo(p_hotel_id INT, p_booking_id UUID,
                                            p_booking_engine_id TEXT, p_op TEXT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO booking_sync_status AS s (hotel_id, booking_id, booking_engine_id,
                                          sync_status, origin, origin_xid, last_change_op,
                                          last_changed_at)
    VALUES (p_hotel_id, p_booking_id, p_booking_engine_id, 'synced', 'booking_engine',
            pg_current_xact_id()::text::bigint % 4294967296, p_op, localtimestamp)
    ON CONFLICT (hotel_id, booking_id) DO UPDATE
    SET booking_engine_id = coalesce(EXCLUDED.booking_engine_id, s.booking_engine_id),
        sync_status = 'synced',
        origin = 'booking_engine',
        origin_xid = EXCLUDED.origin_xid,
        last_change_op = EXCLUDED.last_change_op,
        last_changed_at = EXCLUDED.last_changed_at,
        error_message = NULL,
        retry_count = 0;
END
$$;

-- A booking as the API answers it (api.schemas.Booking), NULL when there is none. The PMS's
-- timestamps have no time zone: they are the server's local time, so they are given one
-- here (answers carry RFC 3339 times with an offset). Its reservations keep no time of
-- change: updated_at is the commit time of the last change the bridge captured.
CREATE OR REPLACE FUNCTION pms_bridge.api_booking_json(p_hotel_id INT, p_id UUID)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'booking_id', res.id, 'hotel_id', res.hotel_id, 'status', res.status,
            'type', res.type, 'check_in', res.check_in, 'check_out', res.check_out,
            'guests', res.number_of_people, 'payment_timing', res.payment_timing,
            'comment', res.comment,
            'guest', json_build_object('client_id', c.id, 'name', c.name,
                                       'name_kana', c.name_kana, 'email', c.email,
                                       'phone', c.phone),
            'nights', n.nights, 'total_price', n.total,
            'sync', json_build_object(
                'booking_engine_id', s.booking_engine_id, 'sync_status', s.sync_status,
                'last_sync_attempt',
                s.last_sync_attempt AT TIME ZONE current_setting('TimeZone'),
                'error_message', s.error_message),
            'created_at', res.created_at AT TIME ZONE current_setting('TimeZone'),
            'updated_at', s.last_changed_at AT TIME ZONE current_setting('TimeZone'))
        FROM reservations res
        JOIN clients c ON c.id = res.reservation_client_id
        LEFT JOIN booking_sync_status s ON s.hotel_id = res.hotel_id AND s.booking_id = res.id
        CROSS JOIN LATERAL (
            SELECT coalesce(json_agg(json_build_object(
                       'date', d.date, 'room_id', d.room_id, 'room_number', rm.room_number,
                       'room_type_id', rm.room_type_id, 'plan_id', d.plans_hotel_id,
                       'plan_name', d.plan_name, 'guests', d.number_of_people,
                       'price', coalesce(d.price, 0), 'cancelled', d.cancelled IS NOT NULL)
                       ORDER BY d.date, d.room_id), '[]') AS nights,
                   round(coalesce(sum(d.price) FILTER (WHERE d.cancelled IS NULL), 0), 2)
                       AS total
            FROM reservation_details d
            LEFT JOIN rooms rm ON rm.hotel_id = d.hotel_id AND rm.id = d.room_id
            WHERE d.hotel_id = res.hotel_id AND d.reservation_id = res.id
        ) AS n
        WHERE res.hotel_id = p_hotel_id AND res.id = p_id
    );
END
$$;

-- The committed claim of an Idempotency-Key as the answer to a retry: the request hash it was
-- made with and the first answer (the booking read again if the answer was never stored;
-- NULL when that booking is gone). NULL when the key was never claimed.
CREATE OR REPLACE FUNCTION pms_bridge.api_idempotency_earlier(p_api_key_id INT, p_key TEXT)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'outcome', 'earlier', 'request_hash', i.request_hash,
            'status_code', coalesce(i.status_code, 201),
            'booking', coalesce(i.response::json,
                                pms_bridge.api_booking_json(i.hotel_id, i.booking_id)))
        FROM pms_bridge.api_idempotency i
        WHERE i.api_key_id = p_api_key_id AND i.idempotency_key = p_key
    );
END
$$;

-- A new web booking: the guest (clients), the reservation and one reservation_details row
-- per night, with rooms chosen under the locks of the stay's nights, each night's price and
-- the echo mark; with an Idempotency-Key the key is claimed and the answer stored in the
-- same transaction, so a retry always finds either nothing or the whole booking with its
-- answer. Run it as a statement of its own on an autocommit connection: the locks are then
-- released by the commit that makes the rooms visible as taken.
-- The answer is JSON tagged by "outcome": created (with the booking), earlier (the key's
-- claim: request_hash, status_code, booking), taken (a night has no room; nothing written;
-- "left" is what is still free, api_rooms_left read under the same locks), no_room_type,
-- over_capacity (with capacity), unknown_plan.
CREATE OR REPLACE FUNCTION pms_bridge.api_booking_create(
    p_id UUID, p_hotel_id INT, p_room_type_id INT, p_plan_id INT, p_check_in DATE,
    p_check_out DATE, p_people INT, p_name TEXT, p_name_kana TEXT, p_email TEXT,
    p_phone TEXT, p_payment_timing TEXT, p_comment TEXT, p_booking_engine_id TEXT,
    p_api_key_id INT, p_idempotency_key TEXT, p_request_hash TEXT
) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    v_found RECORD;
    v_prices NUMERIC[];
    v_rooms INT[];
    v_client UUID;
    v_answer json;
BEGIN
    -- A retry is answered before the request is checked again.
    IF p_idempotency_key IS NOT NULL THEN
        v_answer := pms_bridge.api_idempotency_earlier(p_api_key_id, p_idempotency_key);
        IF v_answer IS NOT NULL THEN
            RETURN v_answer;
        END IF;
    END IF;
    SELECT * INTO v_found
    FROM pms_bridge.api_room_type_and_plan(p_hotel_id, p_room_type_id, p_plan_id);
    IF v_found.type_id IS NULL THEN
        RETURN json_build_object('outcome', 'no_room_type');
    ELSIF p_people > v_found.max_capacity THEN
        RETURN json_build_object('outcome', 'over_capacity', 'capacity', v_found.max_capacity);
    ELSIF v_found.plan_id IS NULL AND p_plan_id IS NOT NULL THEN
        RETURN json_build_object('outcome', 'unknown_plan');
    END IF;
    -- Priced before the locks: only the room choice and the writes need them.
    v_prices := pms_bridge.api_stay_prices(p_hotel_id, v_found.plan_id, v_found.plan_type,
                                           p_check_in, p_check_out, p_people);
    PERFORM pms_bridge.api_booking_lock(p_hotel_id, p_room_type_id, p_check_in, p_check_out);
    -- Each statement from here on sees what was committed before the locks were granted.
    v_rooms := pms_bridge.api_assign_rooms(p_hotel_id, p_room_type_id, p_check_in,
                                           p_check_out, p_people, NULL, '{}');
    IF p_idempotency_key IS NOT NULL THEN
        -- A concurrent claim of the same key makes this wait until its transaction ends.
        INSERT INTO pms_bridge.api_idempotency (api_key_id, idempotency_key, request_hash,
                                                hotel_id, booking_id)
        VALUES (p_api_key_id, p_idempotency_key, p_request_hash, p_hotel_id, p_id)
        ON CONFLICT (api_key_id, idempotency_key) DO NOTHING;
        IF NOT FOUND THEN
            RETURN pms_bridge.api_idempotency_earlier(p_api_key_id, p_idempotency_key);
        END IF;
        IF v_rooms IS NULL THEN
            DELETE FROM pms_bridge.api_idempotency
            WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
        END IF;
    END IF;
    IF v_rooms IS NULL THEN
        RETURN json_build_object(
            'outcome', 'taken',
            'left', pms_bridge.api_rooms_left(p_hotel_id, p_check_in, p_check_out));
    END IF;
    INSERT INTO clients (name, name_kana, email, phone)
    VALUES (p_name, p_name_kana, p_email, p_phone)
    RETURNING id INTO v_client;
    INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,
                              number_of_people, status, type, payment_timing, comment)
    VALUES (p_id, p_hotel_id, v_client, p_check_in, p_check_out, p_people, 'confirmed', 'web',
            p_payment_timing, p_comment);
    INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id, plans_hotel_id,
                                     plans_global_id, plan_name, plan_type, number_of_people,
                                     price, billable)
    SELECT p_hotel_id, p_id, p_check_in + x.i::int - 1, x.room_id, v_found.plan_id,
           v_found.plans_global_id, v_found.plan_name,
           coalesce(v_found.plan_type, 'per_room'), p_people, v_prices[x.i::int], TRUE
    FROM unnest(v_rooms) WITH ORDINALITY AS x(room_id, i);
    PERFORM pms_bridge.api_booking_echo(p_hotel_id, p_id, p_booking_engine_id, 'insert');
    v_answer := pms_bridge.api_booking_json(p_hotel_id, p_id);
    IF p_idempotency_key IS NOT NULL THEN
        UPDATE pms_bridge.api_idempotency
        SET status_code = 201, response = v_answer::jsonb
        WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
    END IF;
    RETURN json_build_object('outcome', 'created', 'booking', v_answer);
END
$$;
