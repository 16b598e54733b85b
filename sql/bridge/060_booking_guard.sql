-- A booking is written optimistically: rooms are chosen from a read taken before the
-- (hotel, room type) lock, and the write itself re-checks them after the lock. When one was
-- taken meanwhile the write raises this error, so everything queued with it in the same
-- pipelined transaction (the guest, the Idempotency-Key claim) is rolled back, and the API
-- falls back to choosing again under the lock.
CREATE FUNCTION pms_bridge.booking_rooms_taken() RETURNS INT
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a room chosen for this booking was taken meanwhile'
        USING ERRCODE = 'PB409';
END
$$;
