-- The six tables the integration document names, with its columns. Where the document does
-- not fit the PMS, the PMS wins: reservation ids are UUIDs under a (hotel_id, id) key, so
-- booking_sync_status carries hotel_id + booking_id UUID; it has no foreign key to
-- reservations because a FK would add the bridge's triggers to a PMS table and would
-- cascade away the row that must tell the booking engine a reservation was deleted.

CREATE TABLE IF NOT EXISTS booking_engine_api_keys (
    id SERIAL PRIMARY KEY,
    hotel_id INT REFERENCES hotels (id),
    api_key_hash TEXT NOT NULL,
    description TEXT,
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_used_at TIMESTAMP,
    expires_at TIMESTAMP
);

CREATE TABLE IF NOT EXISTS booking_engine_config (
    id SERIAL PRIMARY KEY,
    hotel_id INT REFERENCES hotels (id),
    booking_engine_url TEXT NOT NULL,
    sync_enabled BOOLEAN DEFAULT true,
    sync_interval_minutes INT DEFAULT 5,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS booking_sync_status (
    id SERIAL PRIMARY KEY,
    hotel_id INT NOT NULL,
    booking_id UUID NOT NULL,
    booking_engine_id TEXT,
    sync_status TEXT DEFAULT 'pending',
    last_sync_attempt TIMESTAMP,
    error_message TEXT,
    retry_count INT DEFAULT 0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_change_op TEXT,
    last_changed_at TIMESTAMP,
    UNIQUE (hotel_id, booking_id)
);

CREATE TABLE IF NOT EXISTS booking_engine_audit_log (
    id SERIAL PRIMARY KEY,
    hotel_id INT REFERENCES hotels (id),
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    request_data JSONB,
    response_data JSONB,
    status TEXT NOT NULL,
    error_message TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS booking_engine_cache_status (
    id SERIAL PRIMARY KEY,
    cache_type TEXT NOT NULL,
    hotel_id INT REFERENCES hotels (id),
    last_updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    cache_ttl_minutes INTEGER DEFAULT 15,
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS booking_engine_cache_triggers (
    id SERIAL PRIMARY KEY,
    trigger_type TEXT NOT NULL,
    cache_type TEXT NOT NULL,
    hotel_id INT REFERENCES hotels (id),
    triggered_by TEXT,
    status TEXT DEFAULT 'pending',
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMP
);
