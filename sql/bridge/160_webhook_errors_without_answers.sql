-- Delivery errors used to keep the first 200 characters of the destination's answer (and an
-- exception's text), which GET /bookings/{id} shows to the hotel: keep the status code or
-- the error's class only, as delivery now writes them.
UPDATE booking_sync_status
SET error_message = substring(error_message FROM '^(HTTP [0-9]{3})')
WHERE error_message ~ '^HTTP [0-9]{3}: ';
UPDATE booking_sync_status
SET error_message = substring(error_message FROM '^([A-Za-z]+): ')
WHERE error_message ~ '^[A-Za-z]+: ' AND error_message !~ '^HTTP ';

UPDATE pms_bridge.delivery_events
SET last_error = substring(last_error FROM '^(HTTP [0-9]{3})')
WHERE last_error ~ '^HTTP [0-9]{3}: ';
UPDATE pms_bridge.delivery_events
SET last_error = substring(last_error FROM '^([A-Za-z]+): ')
WHERE last_error ~ '^[A-Za-z]+: ' AND last_error !~ '^HTTP ';
