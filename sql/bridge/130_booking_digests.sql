-- What the booking engine was last told of each reservation: the digest of the reservation
-- document (pms_bridge.reservation_digest) and its status, written by the statement that
-- enqueues its event and by the API's own writes. Reconciliation compares it with the
-- PMS's current state, so a change the capture lost is found instead of silently missing.
-- A reservation told deleted keeps its row (digest NULL, status 'deleted'), so a later
-- reconciliation does not tell it again.
CREATE TABLE IF NOT EXISTS pms_bridge.booking_digests (
    hotel_id INT NOT NULL,
    booking_id UUID NOT NULL,
    digest TEXT,
    status TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (hotel_id, booking_id)
);
