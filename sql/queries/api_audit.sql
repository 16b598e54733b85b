-- name: api_audit_insert
-- One statement per batch of audited calls, the batch passed as one JSON array (cheaper to
-- encode than nine typed arrays), inserted in call order. An id that names no hotel (one
-- deleted meanwhile) is written as NULL. The table has no foreign key (migration 090): hotels
-- are looked up by one join per batch, not a key check per row (a read-heavy API writes
-- thousands of rows a second).
INSERT INTO booking_engine_audit_log (hotel_id, action, entity_type, entity_id, request_data,
                                      response_data, status, error_message, created_at)
SELECT h.id, x.action, x.entity_type, x.entity_id, x.request_data, x.response_data, x.status,
       x.error_message, to_timestamp(x.created_at) AT TIME ZONE 'UTC'
FROM ROWS FROM (
         jsonb_to_recordset(%(entries)s::jsonb)
         AS (hotel_id INT, action TEXT, entity_type TEXT, entity_id TEXT, request_data JSONB,
             response_data JSONB, status TEXT, error_message TEXT,
             created_at DOUBLE PRECISION)
     ) WITH ORDINALITY AS x(hotel_id, action, entity_type, entity_id, request_data,
                            response_data, status, error_message, created_at, n)
LEFT JOIN hotels h ON h.id = x.hotel_id
ORDER BY x.n;
