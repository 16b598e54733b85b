-- name: outbox_fetch
-- Whatever is visible is committed; a row of a transaction still in flight is invisible
-- here and stays in the outbox until a later batch, whatever its id.
SELECT id, txid::text::bigint %% 4294967296 AS txid, captured_at, table_name, op::text AS op, old_row, new_row
FROM pms_bridge.outbox
ORDER BY id
LIMIT %(limit)s;

-- name: outbox_claim
DELETE FROM pms_bridge.outbox WHERE id = ANY(%(ids)s);

-- name: outbox_lag
SELECT count(*) AS rows, extract(epoch FROM clock_timestamp() - min(captured_at)) AS seconds
FROM pms_bridge.outbox;

-- name: try_consumer_lock
SELECT pg_try_advisory_lock(hashtext('pms_bridge.consumer'), hashtext(%(consumer)s)) AS locked;

-- name: park_change
INSERT INTO pms_bridge.parked_changes (consumer, position, table_name, op, payload, error)
SELECT %(consumer)s, p.position, p.table_name, p.op, p.payload, p.error
FROM unnest(%(positions)s::text[], %(tables)s::text[], %(ops)s::text[], %(payloads)s::jsonb[],
            %(errors)s::text[]) AS p(position, table_name, op, payload, error);

-- name: outbox_listen
LISTEN pms_bridge_outbox;

-- name: outbox_heartbeat
-- A heartbeat row, read and claimed like a change; the NOTIFY wakes the consumer as the
-- capture trigger's does.
WITH heartbeat AS (
    INSERT INTO pms_bridge.outbox (table_name, op, new_row)
    VALUES (%(table_name)s, %(op)s, %(payload)s::jsonb)
    RETURNING id
)
SELECT pg_notify('pms_bridge_outbox', '') FROM heartbeat;
