-- The hotel a parked change belongs to, for the dead-letter tools that show a hotel only its
-- own: the row's hotel_id (a hotel's own id for the hotels table), from the new row, the old
-- one or the key. NULL when the change names none that is an integer (a malformed change
-- may not); only an operator's key sees those. Applied whole by `migrate` when it changes.
CREATE OR REPLACE FUNCTION pms_bridge.parked_hotel(p_table TEXT, p_payload JSONB)
RETURNS INT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v ~ '^[0-9]{1,9}$' THEN v::int END
    FROM coalesce(
             CASE WHEN p_table = 'hotels'
                  THEN coalesce(p_payload -> 'new' ->> 'id', p_payload -> 'old' ->> 'id',
                                p_payload -> 'pk' ->> 'id') END,
             p_payload -> 'new' ->> 'hotel_id', p_payload -> 'old' ->> 'hotel_id',
             p_payload -> 'pk' ->> 'hotel_id') AS v
$$;
