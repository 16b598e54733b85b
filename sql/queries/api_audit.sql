-- name: api_audit_insert
-- One statement per batch of audited calls, the batch passed as one JSON array (cheaper to
-- encode than nine typed arrays). A hotel deleted meanwhile leaves hotel_id NULL rather than
-- failing the batch on the foreign key.
INSERT INTO booking_engine_audit_log (hotel_id, action, entity_type, entity_id, request_data,
                                      response_data, status, error_message, created_at)
SELECT (SELECT h.id FROM hotels h WHERE h.id = x.hotel_id), x.action, x.entity_type,
       x.entity_id, x.request_data, x.response_data, x.status, x.error_message, x.created_at
FROM jsonb_to_recordset(%(entries)s::jsonb)
     AS x(hotel_id INT, action TEXT, entity_type TEXT, entity_id TEXT, request_data JSONB,
          response_data JSONB, status TEXT, error_message TEXT, created_at TIMESTAMP);
