-- name: webhook_set
-- `pms-bridge webhook set`: the hotel's newest configuration row takes the URL and the
-- secret; a hotel without one gets one, with sync enabled.
WITH updated AS (
    UPDATE booking_engine_config c
    SET booking_engine_url = %(url)s, webhook_secret = %(secret)s,
        updated_at = CURRENT_TIMESTAMP
    WHERE c.id = (SELECT max(id) FROM booking_engine_config WHERE hotel_id = %(hotel_id)s)
    RETURNING c.id
), inserted AS (
    INSERT INTO booking_engine_config (hotel_id, booking_engine_url, webhook_secret,
                                       sync_enabled)
    SELECT %(hotel_id)s, %(url)s, %(secret)s, true
    WHERE NOT EXISTS (SELECT 1 FROM updated)
    RETURNING id
)
SELECT id FROM updated
UNION ALL
SELECT id FROM inserted;

-- name: webhook_plain_secrets
-- Secrets not sealed yet (the column's default makes plain ones).
SELECT id, hotel_id, webhook_secret FROM booking_engine_config
WHERE hotel_id IS NOT NULL AND left(webhook_secret, 10) <> 'sealed:v1:'
ORDER BY id;

-- name: webhook_seal
-- Unless the row changed since it was read.
UPDATE booking_engine_config SET webhook_secret = %(sealed)s
WHERE id = %(id)s AND webhook_secret = %(plain)s;
