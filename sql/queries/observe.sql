-- name: observe_deliveries
-- Per hotel: open webhook events by state, the pending ones whose last attempt failed (being
-- retried: the endpoint is down or refusing), and the age of the oldest. Every hotel with sync
-- enabled has a row (zeros when nothing waits), so its series read 0 rather than vanish.
-- Age counts from when the event was enqueued: capture lag before that has its own gauges,
-- and a re-sent old booking is not "old" here. Reads only the index of open events.
WITH open AS (
    SELECT hotel_id,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS retrying,
           extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds
    FROM pms_bridge.delivery_events
    WHERE status <> 'delivered'
    GROUP BY hotel_id
), enabled AS (
    SELECT DISTINCT hotel_id FROM booking_engine_config WHERE sync_enabled
)
SELECT hotel_id, coalesce(o.pending, 0) AS pending, coalesce(o.failed, 0) AS failed,
       coalesce(o.retrying, 0) AS retrying,
       greatest(coalesce(o.oldest_seconds, 0), 0) AS oldest_seconds
FROM open o
FULL JOIN enabled e USING (hotel_id)
ORDER BY hotel_id;

-- name: observe_parked
SELECT count(*) FROM pms_bridge.parked_changes;
