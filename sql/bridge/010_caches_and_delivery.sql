-- Caches, prices and delivery: bookkeeping columns on the integration tables, the
-- bridge-owned amenities and images, and the delivery outbox.

-- Who wrote a booking's last state: 'pms' (captured) or 'booking_engine' (through our API,
-- which records its own 32-bit transaction id so the bridge does not echo that write back).
ALTER TABLE booking_sync_status
    ADD COLUMN IF NOT EXISTS origin TEXT NOT NULL DEFAULT 'pms',
    ADD COLUMN IF NOT EXISTS origin_xid BIGINT;

-- Per-hotel webhook secret; gen_random_uuid() draws from the server's strong random source.
ALTER TABLE booking_engine_config
    ADD COLUMN IF NOT EXISTS webhook_secret TEXT NOT NULL
        DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');

-- A hotel the PMS deletes must not be held back by the bridge's bookkeeping rows.
ALTER TABLE booking_engine_cache_status
    DROP CONSTRAINT IF EXISTS booking_engine_cache_status_hotel_id_fkey,
    ADD CONSTRAINT booking_engine_cache_status_hotel_id_fkey
        FOREIGN KEY (hotel_id) REFERENCES hotels (id) ON DELETE CASCADE,
    ADD COLUMN IF NOT EXISTS pending_changes INT NOT NULL DEFAULT 0;

-- hotel_id NULL is the row for changes whose hotel no longer exists (or all hotels at once).
CREATE UNIQUE INDEX IF NOT EXISTS booking_engine_cache_status_type_hotel
    ON booking_engine_cache_status (cache_type, (coalesce(hotel_id, 0)));

ALTER TABLE booking_engine_cache_triggers
    DROP CONSTRAINT IF EXISTS booking_engine_cache_triggers_hotel_id_fkey,
    ADD CONSTRAINT booking_engine_cache_triggers_hotel_id_fkey
        FOREIGN KEY (hotel_id) REFERENCES hotels (id) ON DELETE SET NULL,
    ADD COLUMN IF NOT EXISTS error_message TEXT,
    ADD COLUMN IF NOT EXISTS entries_written INT,
    ADD COLUMN IF NOT EXISTS entries_removed INT;

CREATE TABLE IF NOT EXISTS booking_engine_amenities (
    id SERIAL PRIMARY KEY,
    hotel_id INT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    category TEXT,
    description TEXT,
    icon TEXT,
    sort_order INT NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS booking_engine_amenities_hotel ON booking_engine_amenities (hotel_id);

CREATE TABLE IF NOT EXISTS booking_engine_hotel_images (
    id SERIAL PRIMARY KEY,
    hotel_id INT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    caption TEXT,
    sort_order INT NOT NULL DEFAULT 0,
    is_primary BOOLEAN NOT NULL DEFAULT false,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS booking_engine_hotel_images_hotel
    ON booking_engine_hotel_images (hotel_id);

-- One row per webhook event; event_id is the Idempotency-Key, seq keeps a reservation's order.
-- The body is frozen at enqueue time so every attempt sends the same bytes.
CREATE TABLE pms_bridge.delivery_events (
    event_id UUID PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    hotel_id INT NOT NULL,
    booking_id UUID NOT NULL,
    operation TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    payload JSONB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at TIMESTAMPTZ
);
CREATE INDEX delivery_events_open ON pms_bridge.delivery_events (hotel_id, booking_id, seq)
    WHERE status <> 'delivered';
