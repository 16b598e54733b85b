-- The API keeps its Idempotency-Key answers for a bounded time (api/retention.py prunes the
-- oldest first, in short batches): they need an index on their age, as the audit log has had
-- on created_at since 020.
CREATE INDEX IF NOT EXISTS api_idempotency_created_idx
    ON pms_bridge.api_idempotency (created_at);
