-- The transactions in which the booking engine wrote a booking through the API. A batch may
-- hold several of them for one booking (a create and a change in quick succession), and
-- booking_sync_status.origin_xid keeps only the last: the echo check asks this table whether
-- every transaction of a booking's changes in the batch was the engine's own. Rows older
-- than the delivery log's week are pruned with it.
CREATE TABLE pms_bridge.engine_writes (
    hotel_id INT NOT NULL,
    booking_id UUID NOT NULL,
    xid BIGINT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (hotel_id, booking_id, xid)
);
CREATE INDEX engine_writes_written_at ON pms_bridge.engine_writes (written_at);
