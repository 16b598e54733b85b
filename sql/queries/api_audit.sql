-- name: api_audit_insert
-- One statement per batch of audited calls. A hotel deleted meanwhile leaves hotel_id NULL
-- rather than failing the batch on the foreign key.
INSERT INTO booking_engine_audit_log (hotel_id, action, entity_type, entity_id, request_data,
                                      response_data, status, error_message, created_at)
SELECT (SELECT h.id FROM hotels h WHERE h.id = x.hotel_id), x.action, x.entity_type,
       x.entity_id, x.request_data, x.response_data, x.status, x.error_message, x.created_at
FROM unnest(%(hotel_id)s::int[], %(action)s::text[], %(entity_type)s::text[],
            %(entity_id)s::text[], %(request_data)s::jsonb[], %(response_data)s::jsonb[],
            %(status)s::text[], %(error_message)s::text[], %(created_at)s::timestamp[])
     AS x(hotel_id, action, entity_type, entity_id, request_data, response_data, status,
          error_message, created_at);
