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
-- (PUT) uses them too: one definition of the lock key, the room choice, the rows of a night,
-- the echo mark and a booking's JSON. Prices come from pricing.sql.
--
-- What they write is what the PMS writes for a channel booking (api/models/reservations/
-- main.js, addOTAReservation, and the plan, rate and add-on writes of its own screens): see
-- docs/pms.md. Who wrote it is p_user_id (BRIDGE_PMS_USER_ID), in created_by / updated_by and
-- in the setting my_app.user_id that the PMS's audit triggers read.

DROP FUNCTION IF EXISTS pms_bridge.api_stay_prices(INT, INT, TEXT, DATE, DATE, INT);
DROP FUNCTION IF EXISTS pms_bridge.api_room_type_and_plan(INT, INT, INT);
DROP FUNCTION IF EXISTS pms_bridge.api_assign_rooms(INT, INT, DATE, DATE, INT, UUID, INT[]);
DROP FUNCTION IF EXISTS pms_bridge.api_booking_create(
    UUID, INT, INT, INT, DATE, DATE, INT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INT, TEXT,
    TEXT);

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
-- no such type).
CREATE OR REPLACE FUNCTION pms_bridge.api_room_type(p_hotel_id INT, p_room_type_id INT)
RETURNS TABLE (type_id INT, type_name TEXT, sellable INT, max_capacity INT)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT t.id, t.name::text, t.sellable, t.max_capacity
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
    ) AS t ON true;
END
$$;

-- The plan a stay is sold on: the one asked for (by hotel plan id, by the PMS's plan key, or
-- both) or else the hotel's first, among the plans the hotel sells for every night of the stay
-- (pms_bridge.hotel_plans). No row when there is none.
CREATE OR REPLACE FUNCTION pms_bridge.api_stay_plan(p_hotel_id INT, p_plan_id INT,
                                                    p_plan_key TEXT, p_check_in DATE,
                                                    p_check_out DATE)
RETURNS TABLE (plan_key TEXT, plan_id INT, plans_global_id INT, name TEXT, plan_type TEXT)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT p.plan_key, p.plan_id, p.plans_global_id, p.name, p.plan_type
    FROM pms_bridge.hotel_plans(ARRAY[p_hotel_id], p_check_in, p_check_out - 1) AS p
    WHERE p.lo = p_check_in AND p.hi = p_check_out - 1
      AND (p_plan_id IS NULL OR p.plan_id = p_plan_id)
      AND (p_plan_key IS NULL OR p.plan_key = p_plan_key)
    ORDER BY p.display_order NULLS LAST, p.plan_type, p.name, p.plan_key
    LIMIT 1;
END
$$;

-- Each night of [check_in, check_out) with the plan's price that night (NULL when the plan
-- has no rate that night: not for sale) and whether it is accommodation.
CREATE OR REPLACE FUNCTION pms_bridge.api_stay_prices(p_hotel_id INT, p_global_id INT,
                                                      p_plan_id INT, p_check_in DATE,
                                                      p_check_out DATE)
RETURNS TABLE (night DATE, price BIGINT, is_accommodation BOOLEAN)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT p_check_in + g, x.price, coalesce(x.is_accommodation, true)
    FROM generate_series(0, p_check_out - p_check_in - 1) AS g
    LEFT JOIN pms_bridge.plan_prices_by_night(ARRAY[p_hotel_id], ARRAY[p_global_id],
                                              ARRAY[p_plan_id], ARRAY[p_check_in],
                                              ARRAY[p_check_out - 1]) AS x
      ON x.night = p_check_in + g
    ORDER BY 1;
END
$$;

-- One room of the type free on every night of [check_in, check_out) that holds the guests:
-- `preferred` when it is, else in the PMS's order of assignment (selectAvailableRooms:
-- assignment_priority, then the larger room). A room is taken on a night by any detail row
-- with cancelled IS NULL, whatever its reservation's status (the PMS's rule); the booking
-- being changed (exclude) does not count against itself. NULL when no single room is free
-- for the whole stay: the PMS never moves a guest between rooms by itself, nor does this.
CREATE OR REPLACE FUNCTION pms_bridge.api_free_room(
    p_hotel_id INT, p_room_type_id INT, p_check_in DATE, p_check_out DATE, p_people INT,
    p_exclude UUID, p_preferred INT
) RETURNS INT LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_room INT;
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
            AND d.cancelled IS NULL AND d.reservation_id IS DISTINCT FROM p_exclude)
    ORDER BY c.id IS DISTINCT FROM p_preferred, c.assignment_priority NULLS LAST,
             c.capacity DESC, c.id
    LIMIT 1;
    RETURN v_room;
END
$$;

-- What is still free per room type of the hotel on each night of [check_in, check_out), as
-- the 409 answer's still_available (api.schemas.RoomTypeLeft): sellable rooms less the rooms
-- taken that night (any detail row with cancelled IS NULL), and whether one room of the type
-- is free on every night, which a booking needs.
CREATE OR REPLACE FUNCTION pms_bridge.api_rooms_left(p_hotel_id INT, p_check_in DATE, p_check_out DATE)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        WITH sellable AS (
            SELECT r.room_type_id, r.id
            FROM rooms r
            WHERE r.hotel_id = p_hotel_id AND r.for_sale AND NOT r.is_staff_room
        ), taken AS (
            SELECT DISTINCT d.date, d.room_id
            FROM reservation_details d
            WHERE d.hotel_id = p_hotel_id AND d.date >= p_check_in AND d.date < p_check_out
              AND d.cancelled IS NULL AND d.room_id IS NOT NULL
        ), per_night AS (
            SELECT s.room_type_id, g::date AS date,
                   count(*) FILTER (WHERE t.room_id IS NULL)::int AS available
            FROM sellable s
            CROSS JOIN generate_series(p_check_in, p_check_out - 1, interval '1 day') AS g
            LEFT JOIN taken t ON t.room_id = s.id AND t.date = g::date
            GROUP BY s.room_type_id, g
        ), whole_stay AS (
            SELECT s.room_type_id,
                   bool_or(NOT EXISTS (SELECT 1 FROM taken t WHERE t.room_id = s.id)) AS one_room
            FROM sellable s
            GROUP BY s.room_type_id
        )
        SELECT coalesce(json_agg(x.left_ ORDER BY x.room_type_id), '[]')
        FROM (
            SELECT n.room_type_id,
                   json_build_object(
                       'room_type_id', n.room_type_id,
                       'nights', json_agg(json_build_object('date', n.date,
                                                            'available', n.available)
                                          ORDER BY n.date),
                       'free_every_night', bool_and(w.one_room)) AS left_
            FROM per_night n
            JOIN whole_stay w USING (room_type_id)
            GROUP BY n.room_type_id
        ) AS x
    );
END
$$;

-- The rows of the nights [check_in, check_out) of a reservation in one room on one plan, as
-- the PMS writes a sold night: reservation_details (billable, the plan's price for one
-- person on a per-person plan, is_accommodation from the night's rates), its
-- reservation_rates lines (pricing.sql), the booker as its guest (reservation_clients), and
-- the plan's add-ons (api/models/planAddon getAllPlanAddons: every add-on of the plan, its
-- price, quantity = guests, as addOTAReservation counts them). Every night must have a price
-- (api_stay_prices; checked by the caller).
CREATE OR REPLACE FUNCTION pms_bridge.api_write_nights(
    p_hotel_id INT, p_reservation_id UUID, p_client_id UUID, p_room_id INT, p_global_id INT,
    p_plan_id INT, p_plan_name TEXT, p_plan_type TEXT, p_people INT, p_check_in DATE,
    p_check_out DATE, p_user_id INT
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WITH written AS (
        INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,
                                         plans_global_id, plans_hotel_id, plan_name, plan_type,
                                         number_of_people, price, billable, is_accommodation,
                                         created_by, updated_by)
        SELECT p_hotel_id, p_reservation_id, s.night, p_room_id, p_global_id, p_plan_id,
               p_plan_name, coalesce(p_plan_type, 'per_room'), p_people, s.price, TRUE,
               s.is_accommodation, p_user_id, p_user_id
        FROM pms_bridge.api_stay_prices(p_hotel_id, p_global_id, p_plan_id, p_check_in,
                                        p_check_out) AS s
        RETURNING id, date
    ), rates AS (
        INSERT INTO reservation_rates (hotel_id, reservation_details_id, adjustment_type,
                                       adjustment_value, tax_type_id, tax_rate, price,
                                       include_in_cancel_fee, sales_category, created_by,
                                       updated_by)
        SELECT p_hotel_id, w.id, l.adjustment_type, l.adjustment_value, l.tax_type_id,
               l.tax_rate, l.price, l.include_in_cancel_fee, l.sales_category, p_user_id,
               p_user_id
        FROM written w
        JOIN pms_bridge.plan_rate_lines_by_night(p_hotel_id, p_global_id, p_plan_id,
                                                 p_check_in, p_check_out - 1) AS l
          ON l.night = w.date
    ), guests AS (
        INSERT INTO reservation_clients (hotel_id, reservation_details_id, client_id,
                                         created_by, updated_by)
        SELECT p_hotel_id, w.id, p_client_id, p_user_id, p_user_id
        FROM written w
    )
    INSERT INTO reservation_addons (hotel_id, reservation_detail_id, addons_global_id,
                                    addons_hotel_id, addon_name, addon_type, quantity, price,
                                    tax_type_id, tax_rate, created_by, updated_by)
    SELECT p_hotel_id, w.id, pa.addons_global_id, pa.addons_hotel_id,
           coalesce(ag.name, ah.name), pa.addon_type, p_people, pa.price, pa.tax_type_id,
           coalesce(pa.tax_rate, 0), p_user_id, p_user_id
    FROM written w
    CROSS JOIN plan_addons pa
    JOIN tax_info ti ON ti.id = pa.tax_type_id
    LEFT JOIN addons_global ag ON ag.id = pa.addons_global_id
    LEFT JOIN addons_hotel ah ON ah.hotel_id = p_hotel_id AND ah.id = pa.addons_hotel_id
    WHERE (pa.plans_global_id = p_global_id AND pa.plans_hotel_id IS NULL)
       OR (pa.plans_hotel_id = p_plan_id AND pa.hotel_id = p_hotel_id
           AND pa.plans_global_id IS NULL);
END
$$;

-- Marks the booking as written by the booking engine in this very transaction, so the bridge
-- recognises its own echo (origin_xid is the 32-bit id Change.xid carries) and does not
-- deliver it back as new. The reservation document is delivery.sql's.
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
    INSERT INTO pms_bridge.engine_writes (hotel_id, booking_id, xid)
    VALUES (p_hotel_id, p_booking_id, pg_current_xact_id()::text::bigint % 4294967296)
    ON CONFLICT DO NOTHING;
    -- The booking engine made this change, so it knows it: recorded as told, for
    -- reconciliation not to report it (called after the booking's writes).
    INSERT INTO pms_bridge.booking_digests AS b (hotel_id, booking_id, digest, status)
    SELECT p_hotel_id, p_booking_id, pms_bridge.reservation_digest(doc), doc ->> 'status'
    FROM pms_bridge.reservation_document(p_hotel_id, p_booking_id, NULL) AS doc
    ON CONFLICT (hotel_id, booking_id) DO UPDATE
    SET digest = EXCLUDED.digest, status = EXCLUDED.status, recorded_at = now();
END
$$;

-- A booking as the API answers it (api.schemas.Booking), NULL when there is none. The PMS's
-- timestamps have no time zone: they are the server's local time, so they are given one
-- here (answers carry RFC 3339 times with an offset). Its reservations keep no time of
-- change: updated_at is the commit time of the last change the bridge captured.
-- A night's amount is what the PMS bills for it (its ledger, api/models/accounting/read.js):
-- the price once per room, times the guests on a per-person plan, plus its add-ons; only
-- billable nights (a cancelled night bills only when cancelled with a fee). total_price is
-- their sum, prepaid the payments recorded against the reservation.
CREATE OR REPLACE FUNCTION pms_bridge.api_booking_json(p_hotel_id INT, p_id UUID)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'booking_id', res.id, 'hotel_id', res.hotel_id, 'status', res.status,
            'type', res.type, 'check_in', res.check_in, 'check_out', res.check_out,
            'guests', res.number_of_people, 'payment_timing', res.payment_timing,
            'comment', res.comment, 'agent', res.agent,
            'guest', json_build_object('client_id', c.id, 'name', c.name,
                                       'name_kana', c.name_kana, 'name_kanji', c.name_kanji,
                                       'email', c.email, 'phone', c.phone),
            'nights', n.nights, 'total_price', n.total, 'prepaid', pay.prepaid,
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
                       'plans_global_id', d.plans_global_id, 'plan_name', d.plan_name,
                       'plan_type', d.plan_type, 'guests', d.number_of_people,
                       'price', coalesce(d.price, 0), 'amount', a.amount,
                       'billable', coalesce(d.billable, false),
                       'cancelled', d.cancelled IS NOT NULL)
                       ORDER BY d.date, d.room_id), '[]') AS nights,
                   coalesce(sum(a.amount), 0) AS total
            FROM reservation_details d
            LEFT JOIN rooms rm ON rm.hotel_id = d.hotel_id AND rm.id = d.room_id
            CROSS JOIN LATERAL (
                SELECT CASE WHEN coalesce(d.billable, false) THEN
                           coalesce(d.price, 0)
                           * CASE WHEN d.plan_type = 'per_person' THEN d.number_of_people
                                  ELSE 1 END
                           + coalesce((SELECT sum(ra.price * ra.quantity)
                                       FROM reservation_addons ra
                                       WHERE ra.hotel_id = d.hotel_id
                                         AND ra.reservation_detail_id = d.id), 0)
                       ELSE 0 END AS amount
            ) AS a
            WHERE d.hotel_id = res.hotel_id AND d.reservation_id = res.id
        ) AS n
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(p.value), 0) AS prepaid
            FROM reservation_payments p
            WHERE p.hotel_id = res.hotel_id AND p.reservation_id = res.id
        ) AS pay
        WHERE res.hotel_id = p_hotel_id AND res.id = p_id
    );
END
$$;

-- The committed claim of an Idempotency-Key as the answer to a retry: the request hash it was
-- made with and the first answer (the booking read again if the answer was never stored, or
-- was stored by a version whose answer lacked fields a booking has now, such as prepaid;
-- NULL when that booking is gone). NULL when the key was never claimed.
CREATE OR REPLACE FUNCTION pms_bridge.api_idempotency_earlier(p_api_key_id INT, p_key TEXT)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT json_build_object(
            'outcome', 'earlier', 'request_hash', i.request_hash,
            'status_code', coalesce(i.status_code, 201),
            'booking', CASE WHEN i.response ? 'prepaid' THEN i.response::json
                            ELSE pms_bridge.api_booking_json(i.hotel_id, i.booking_id) END)
        FROM pms_bridge.api_idempotency i
        WHERE i.api_key_id = p_api_key_id AND i.idempotency_key = p_key
    );
END
$$;

-- A new web booking: the guest (clients), the reservation, and its nights in one room with
-- their rates, guests and add-ons (api_write_nights), a prepayment when the booking engine
-- took one, and the echo mark; the room is chosen under the locks of the stay's nights. With
-- an Idempotency-Key the key is claimed and the answer stored in the same transaction, so a
-- retry always finds either nothing or the whole booking with its answer. Run it as a
-- statement of its own on an autocommit connection: the locks are then released by the
-- commit that makes the room visible as taken.
-- The answer is JSON tagged by "outcome": created (with the booking), earlier (the key's
-- claim: request_hash, status_code, booking), taken (no one room is free for the whole
-- stay; nothing written; "left" is what is still free, api_rooms_left read under the same
-- locks), no_room_type, over_capacity (with capacity), unknown_plan (no plan of the hotel,
-- or not the one asked for, is sold for every night of the stay), unpriced (the plan has no
-- base rate on "nights"), unknown_payment_type, prepaid_over_total (with the stay's total).
CREATE OR REPLACE FUNCTION pms_bridge.api_booking_create(
    p_id UUID, p_hotel_id INT, p_room_type_id INT, p_plan_id INT, p_plan_key TEXT,
    p_check_in DATE, p_check_out DATE, p_people INT, p_name TEXT, p_name_kana TEXT,
    p_name_kanji TEXT, p_gender TEXT, p_person TEXT, p_email TEXT, p_phone TEXT,
    p_payment_timing TEXT, p_comment TEXT, p_agent TEXT, p_booking_engine_id TEXT,
    p_user_id INT, p_prepaid NUMERIC, p_payment_type_id INT, p_payment_comment TEXT,
    p_today DATE, p_api_key_id INT, p_idempotency_key TEXT, p_request_hash TEXT
) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    v_type RECORD;
    v_plan RECORD;
    v_unpriced DATE[];
    v_total NUMERIC;
    v_room INT;
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
    SELECT * INTO v_type FROM pms_bridge.api_room_type(p_hotel_id, p_room_type_id);
    IF v_type.type_id IS NULL THEN
        RETURN json_build_object('outcome', 'no_room_type');
    ELSIF p_people > v_type.max_capacity THEN
        RETURN json_build_object('outcome', 'over_capacity', 'capacity', v_type.max_capacity);
    END IF;
    SELECT * INTO v_plan
    FROM pms_bridge.api_stay_plan(p_hotel_id, p_plan_id, p_plan_key, p_check_in, p_check_out);
    IF v_plan.plan_key IS NULL THEN
        RETURN json_build_object('outcome', 'unknown_plan');
    END IF;
    -- Priced before the locks: only the room choice and the writes need them.
    SELECT array_agg(s.night) FILTER (WHERE s.price IS NULL),
           sum(s.price * CASE WHEN v_plan.plan_type = 'per_person' THEN p_people ELSE 1 END)
    INTO v_unpriced, v_total
    FROM pms_bridge.api_stay_prices(p_hotel_id, v_plan.plans_global_id, v_plan.plan_id,
                                    p_check_in, p_check_out) AS s;
    IF v_unpriced IS NOT NULL THEN
        RETURN json_build_object('outcome', 'unpriced', 'nights', v_unpriced);
    END IF;
    IF p_prepaid IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM payment_types t WHERE t.id = p_payment_type_id) THEN
            RETURN json_build_object('outcome', 'unknown_payment_type');
        END IF;
        v_total := v_total + coalesce((
            SELECT sum(pa.price) * p_people * (p_check_out - p_check_in)
            FROM plan_addons pa JOIN tax_info ti ON ti.id = pa.tax_type_id
            WHERE (pa.plans_global_id = v_plan.plans_global_id AND pa.plans_hotel_id IS NULL)
               OR (pa.plans_hotel_id = v_plan.plan_id AND pa.hotel_id = p_hotel_id
                   AND pa.plans_global_id IS NULL)), 0);
        IF p_prepaid > v_total THEN
            RETURN json_build_object('outcome', 'prepaid_over_total', 'total', v_total);
        END IF;
    END IF;
    PERFORM pms_bridge.api_booking_lock(p_hotel_id, p_room_type_id, p_check_in, p_check_out);
    -- Each statement from here on sees what was committed before the locks were granted.
    v_room := pms_bridge.api_free_room(p_hotel_id, p_room_type_id, p_check_in, p_check_out,
                                       p_people, NULL, NULL);
    IF p_idempotency_key IS NOT NULL THEN
        -- A concurrent claim of the same key makes this wait until its transaction ends.
        INSERT INTO pms_bridge.api_idempotency (api_key_id, idempotency_key, request_hash,
                                                hotel_id, booking_id)
        VALUES (p_api_key_id, p_idempotency_key, p_request_hash, p_hotel_id, p_id)
        ON CONFLICT (api_key_id, idempotency_key) DO NOTHING;
        IF NOT FOUND THEN
            RETURN pms_bridge.api_idempotency_earlier(p_api_key_id, p_idempotency_key);
        END IF;
        IF v_room IS NULL THEN
            DELETE FROM pms_bridge.api_idempotency
            WHERE api_key_id = p_api_key_id AND idempotency_key = p_idempotency_key;
        END IF;
    END IF;
    IF v_room IS NULL THEN
        RETURN json_build_object(
            'outcome', 'taken',
            'left', pms_bridge.api_rooms_left(p_hotel_id, p_check_in, p_check_out));
    END IF;
    -- The PMS's audit triggers name the user from this setting.
    PERFORM set_config('my_app.user_id', p_user_id::text, true);
    INSERT INTO clients (name, name_kana, name_kanji, legal_or_natural_person, gender, email,
                         phone, created_by, updated_by)
    VALUES (p_name, p_name_kana, p_name_kanji, p_person, p_gender, p_email, p_phone,
            p_user_id, p_user_id)
    RETURNING id INTO v_client;
    INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,
                              number_of_people, status, type, agent, ota_reservation_id,
                              payment_timing, comment, created_by, updated_by)
    VALUES (p_id, p_hotel_id, v_client, p_check_in, p_check_out, p_people, 'confirmed', 'web',
            p_agent, p_booking_engine_id, p_payment_timing, p_comment, p_user_id, p_user_id);
    PERFORM pms_bridge.api_write_nights(p_hotel_id, p_id, v_client, v_room,
                                        v_plan.plans_global_id, v_plan.plan_id, v_plan.name,
                                        v_plan.plan_type, p_people, p_check_in, p_check_out,
                                        p_user_id);
    IF p_prepaid IS NOT NULL THEN
        INSERT INTO reservation_payments (hotel_id, reservation_id, date, room_id, client_id,
                                          payment_type_id, value, comment, created_by,
                                          updated_by)
        VALUES (p_hotel_id, p_id, p_today, v_room, v_client, p_payment_type_id, p_prepaid,
                p_payment_comment, p_user_id, p_user_id);
    END IF;
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

-- A web booking cancelled in one call, run as a statement of its own on an autocommit
-- connection like api_booking_create: the reservation row is locked, and the PMS's
-- cancellation (api/models/reservations/main.js) written: the reservation's status, and every
-- night marked cancelled and not billable, but the first p_fee_nights nights, which stay
-- billable at the price of their rates flagged include_in_cancel_fee (its
-- cancelReservationRooms with a fee); then the echo mark. A booking cancelled already is
-- left as it is. The answer is JSON tagged by "outcome": cancelled (with the booking),
-- not_found, not_web (not made through the booking engine), begun (its stay has begun
-- before p_today: it is billed, and ends early by a change of check_out instead).
CREATE OR REPLACE FUNCTION pms_bridge.api_booking_cancel(p_hotel_id INT, p_id UUID,
                                                         p_fee_nights INT, p_user_id INT,
                                                         p_today DATE)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    v_res RECORD;
BEGIN
    -- The PMS's audit triggers name the user from this setting.
    PERFORM set_config('my_app.user_id', p_user_id::text, true);
    SELECT r.status, r.type, r.check_in INTO v_res
    FROM reservations r
    WHERE r.hotel_id = p_hotel_id AND r.id = p_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN json_build_object('outcome', 'not_found');
    ELSIF v_res.type IS DISTINCT FROM 'web' THEN
        RETURN json_build_object('outcome', 'not_web');
    END IF;
    IF v_res.status IS DISTINCT FROM 'cancelled' THEN
        IF v_res.check_in < p_today THEN
            RETURN json_build_object('outcome', 'begun');
        END IF;
        UPDATE reservations
        SET status = 'cancelled', updated_by = p_user_id
        WHERE hotel_id = p_hotel_id AND id = p_id;
        WITH nights AS (
            SELECT d.id, row_number() OVER (ORDER BY d.date, d.id) <= p_fee_nights AS fee
            FROM reservation_details d
            WHERE d.hotel_id = p_hotel_id AND d.reservation_id = p_id AND d.cancelled IS NULL
        )
        UPDATE reservation_details d
        SET cancelled = gen_random_uuid(),
            billable = n.fee,
            price = CASE WHEN n.fee THEN (
                        SELECT pms_bridge.pms_price_of_lines(array_agg(rr.adjustment_type),
                                                             array_agg(rr.tax_type_id),
                                                             array_agg(rr.adjustment_value))
                        FROM reservation_rates rr
                        WHERE rr.hotel_id = d.hotel_id AND rr.reservation_details_id = d.id
                          AND rr.include_in_cancel_fee)
                    ELSE d.price END,
            updated_by = p_user_id
        FROM nights n
        WHERE d.hotel_id = p_hotel_id AND d.id = n.id;
        PERFORM pms_bridge.api_booking_echo(p_hotel_id, p_id, NULL, 'update');
    END IF;
    RETURN json_build_object('outcome', 'cancelled',
                             'booking', pms_bridge.api_booking_json(p_hotel_id, p_id));
END
$$;

-- Whether every one of the transactions (32-bit ids, as Change.xid) that changed the booking
-- in a batch was the booking engine's own write through the API: then the change is its
-- echo, neither marked pending nor delivered back.
CREATE OR REPLACE FUNCTION pms_bridge.engine_wrote_all(p_hotel_id INT, p_booking_id UUID,
                                                       p_xids BIGINT[])
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT cardinality(p_xids) > 0 AND count(*) = cardinality(p_xids)
    FROM pms_bridge.engine_writes w
    WHERE w.hotel_id = p_hotel_id AND w.booking_id = p_booking_id AND w.xid = ANY(p_xids)
$$;
