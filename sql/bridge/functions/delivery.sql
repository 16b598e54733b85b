-- The reservation document the webhook carries, and its digest: applied whole by `migrate`
-- whenever this file's text changes (see booking.sql's header). One definition serves the
-- enqueue (delivery_enqueue freezes it into the event), the API's echo mark and
-- reconciliation (reconcile.sql), so what is compared is exactly what is told.

-- A reservation with its client and nights, without updated_at (the PMS keeps no time of
-- change: the enqueue adds the commit time of the change it carries). No row when the
-- reservation does not exist. SETOF, STABLE, not STRICT and in SQL: the planner inlines it
-- into the calling statement, so the enqueue stays one plan for the whole batch.
CREATE OR REPLACE FUNCTION pms_bridge.reservation_document(p_hotel_id INT, p_booking_id UUID,
                                                          p_booking_engine_id TEXT)
RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'id', r.id, 'hotel_id', r.hotel_id,
               'booking_engine_id', p_booking_engine_id,
               'status', r.status, 'type', r.type,
               'check_in', r.check_in, 'check_out', r.check_out,
               'number_of_people', r.number_of_people,
               'payment_timing', r.payment_timing, 'agent', r.agent,
               'ota_reservation_id', r.ota_reservation_id, 'comment', r.comment,
               'created_at', r.created_at,
               'client', jsonb_build_object('id', cl.id, 'name', cl.name,
                                            'name_kana', cl.name_kana,
                                            'name_kanji', cl.name_kanji,
                                            'email', cl.email, 'phone', cl.phone),
               'nights', coalesce((
                   SELECT jsonb_agg(jsonb_build_object(
                              'date', n.date, 'room_id', n.room_id,
                              'room_type_id', rm.room_type_id,
                              'plans_hotel_id', n.plans_hotel_id,
                              'plans_global_id', n.plans_global_id,
                              'plan_name', n.plan_name, 'plan_type', n.plan_type,
                              'number_of_people', n.number_of_people,
                              'price', n.price, 'billable', n.billable,
                              'cancelled', n.cancelled IS NOT NULL)
                          ORDER BY n.date, n.room_id)
                   FROM reservation_details n
                   LEFT JOIN rooms rm ON rm.hotel_id = n.hotel_id AND rm.id = n.room_id
                   WHERE n.hotel_id = r.hotel_id AND n.reservation_id = r.id
               ), '[]'::jsonb))
    FROM reservations r
    LEFT JOIN clients cl ON cl.id = r.reservation_client_id
    WHERE r.hotel_id = p_hotel_id AND r.id = p_booking_id
$$;

-- The digest of a reservation document: the md5 of its text without booking_engine_id and
-- updated_at, which are not the PMS's state (the booking engine's id arrives with its first
-- answer, updated_at is the time of the event): a reservation whose PMS rows did not change
-- keeps its digest. NULL for no document.
CREATE OR REPLACE FUNCTION pms_bridge.reservation_digest(p_document jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT md5((p_document - 'booking_engine_id' - 'updated_at')::text)
$$;
