-- name: api_prune_audit
-- One batch of the oldest audit rows past the retention, read by the created_at index and
-- deleted by primary key (an array, so the delete never turns into a scan of the log).
-- created_at is UTC without a time zone, as the writer stores it. Rows another replica is
-- pruning right now are skipped, not waited for.
DELETE FROM booking_engine_audit_log
WHERE id = ANY (ARRAY(
    SELECT id FROM booking_engine_audit_log
    WHERE created_at < (now() AT TIME ZONE 'UTC') - make_interval(days => %(days)s)
    ORDER BY created_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
));

-- name: api_prune_idempotency
-- Past the retention a retried request is a new request: it books again.
DELETE FROM pms_bridge.api_idempotency
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM pms_bridge.api_idempotency
    WHERE created_at < now() - make_interval(days => %(days)s)
    ORDER BY created_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
));

-- name: api_prune_refresh_tokens
-- Tokens of dead families only: every token of the family expired over a day ago, so none
-- can be spent again. A spent token of a family still in use must stay, so that its replay
-- revokes the family.
DELETE FROM pms_bridge.api_refresh_tokens
WHERE ctid = ANY (ARRAY(
    SELECT t.ctid FROM pms_bridge.api_refresh_tokens t
    WHERE t.expires_at < now() - interval '1 day'
      AND NOT EXISTS (
          SELECT 1 FROM pms_bridge.api_refresh_tokens l
          WHERE l.family = t.family AND l.expires_at >= now() - interval '1 day'
      )
    ORDER BY t.expires_at
    LIMIT %(batch)s
    FOR UPDATE OF t SKIP LOCKED
));
