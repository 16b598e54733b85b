-- The API keeps its own records for a bounded time (api/retention.py prunes the oldest first,
-- in short batches): Idempotency-Key answers by age and refresh tokens by expiry need an
-- index on that time, as the audit log has had on created_at since 020.
CREATE INDEX IF NOT EXISTS api_idempotency_created_idx
    ON pms_bridge.api_idempotency (created_at);
CREATE INDEX IF NOT EXISTS api_refresh_tokens_expires_idx
    ON pms_bridge.api_refresh_tokens (expires_at);

-- The audit log's id was SERIAL (int4, from the integration document): at the thousands of
-- calls a second a read-heavy booking engine makes, its sequence runs out within weeks, and
-- pruning old rows does not give ids back. After that every audit write would fail. The id
-- becomes bigint, as does its sequence, whatever the PMS named it. This rewrites the log once
-- under an exclusive lock. No API call waits for it: the audit writer queues meanwhile, and
-- what overflows its queue (20,000 entries) is counted as lost, as any failed audit write is.
ALTER TABLE booking_engine_audit_log ALTER COLUMN id TYPE BIGINT;
DO $$
DECLARE
    seq text := pg_get_serial_sequence('booking_engine_audit_log', 'id');
BEGIN
    IF seq IS NOT NULL THEN
        EXECUTE format('ALTER SEQUENCE %s AS BIGINT MAXVALUE 9223372036854775807', seq);
    END IF;
END
$$;
