-- name: api_prune_audit
-- One batch of the oldest audit rows past the retention, read by the created_at index.
-- created_at is UTC without a time zone, as the writer stores it.
DELETE FROM booking_engine_audit_log
WHERE id IN (
    SELECT id FROM booking_engine_audit_log
    WHERE created_at < (now() AT TIME ZONE 'UTC') - make_interval(days => %(days)s)
    ORDER BY created_at
    LIMIT %(batch)s
);

-- name: api_prune_idempotency
-- Past the retention a retried request is a new request: it books again.
DELETE FROM pms_bridge.api_idempotency
WHERE (api_key_id, idempotency_key) IN (
    SELECT api_key_id, idempotency_key FROM pms_bridge.api_idempotency
    WHERE created_at < now() - make_interval(days => %(days)s)
    ORDER BY created_at
    LIMIT %(batch)s
);

-- name: api_prune_refresh_tokens
-- Whole families only, once their last token is a day past its expiry: a spent token of a
-- family still in use must stay, so that its replay revokes the family.
DELETE FROM pms_bridge.api_refresh_tokens
WHERE family IN (
    SELECT family FROM pms_bridge.api_refresh_tokens
    GROUP BY family
    HAVING max(expires_at) < now() - interval '1 day'
    LIMIT %(batch)s
);
