-- name: parked_list
-- Parked changes of one hotel (all when NULL), oldest first (pms_bridge.parked_hotel).
SELECT p.id, p.consumer, p.position, p.table_name, p.op, p.error, p.parked_at,
       pms_bridge.parked_hotel(p.table_name, p.payload) AS hotel_id
FROM pms_bridge.parked_changes p
WHERE %(hotel_id)s::int IS NULL
   OR pms_bridge.parked_hotel(p.table_name, p.payload) = %(hotel_id)s::int
ORDER BY p.id
LIMIT %(limit)s;

-- name: parked_get
-- One parked change with its payload, if it is of the hotel asked for (any when NULL);
-- locked for the transaction that gives it another try or drops it.
SELECT p.id, p.consumer, p.position, p.table_name, p.op, p.error, p.parked_at,
       pms_bridge.parked_hotel(p.table_name, p.payload) AS hotel_id, p.payload
FROM pms_bridge.parked_changes p
WHERE p.id = %(id)s
  AND (%(hotel_id)s::int IS NULL
       OR pms_bridge.parked_hotel(p.table_name, p.payload) = %(hotel_id)s::int)
FOR UPDATE;

-- name: parked_remove
DELETE FROM pms_bridge.parked_changes WHERE id = %(id)s;

-- name: parked_failed_again
-- Another try failed: the change stays parked with what failed this time.
UPDATE pms_bridge.parked_changes SET error = %(error)s WHERE id = %(id)s;
