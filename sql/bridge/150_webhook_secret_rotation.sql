-- A hotel's webhook secret being rotated: until the previous one is cleared (or its end
-- passes), every delivery is signed with both, so the booking engine can switch its
-- receiver to the new secret at any moment in between (docs/delivery.md).
ALTER TABLE booking_engine_config
    ADD COLUMN IF NOT EXISTS webhook_secret_previous TEXT,
    ADD COLUMN IF NOT EXISTS webhook_secret_previous_until TIMESTAMPTZ;
