-- The API's own state. API keys get a public key id (the lookup handle printed as part of the
-- key), scopes, and only a hash of the secret. Refresh tokens rotate inside a family so the
-- reuse of a spent one can revoke the whole family. Idempotency keys remember the response of
-- a booking write per API key so a retried request gets the same answer.

ALTER TABLE booking_engine_api_keys
    ADD COLUMN IF NOT EXISTS key_id TEXT,
    ADD COLUMN IF NOT EXISTS scopes TEXT[] NOT NULL DEFAULT ARRAY['read'];

CREATE UNIQUE INDEX IF NOT EXISTS booking_engine_api_keys_key_id_idx
    ON booking_engine_api_keys (key_id);

CREATE TABLE pms_bridge.api_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family UUID NOT NULL,
    api_key_id INT NOT NULL REFERENCES booking_engine_api_keys (id) ON DELETE CASCADE,
    issued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX api_refresh_tokens_family_idx ON pms_bridge.api_refresh_tokens (family);

CREATE TABLE pms_bridge.api_idempotency (
    api_key_id INT NOT NULL REFERENCES booking_engine_api_keys (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    hotel_id INT,
    booking_id UUID,
    status_code INT,
    response JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idempotency_key)
);

CREATE INDEX IF NOT EXISTS booking_engine_audit_log_created_idx
    ON booking_engine_audit_log (created_at);

-- The echo contract with the sync projector (its own migration adds these first; repeating
-- them here keeps this migration valid on its own).
ALTER TABLE booking_sync_status
    ADD COLUMN IF NOT EXISTS origin TEXT,
    ADD COLUMN IF NOT EXISTS origin_xid BIGINT;
