-- Where a capture gap begins (a logical slot made anew after the bridge had a checkpoint),
-- kept with the consumer's checkpoint until reconciliation has repaired it: a bridge that
-- stops before reconciling picks the gap up again on its next start.
ALTER TABLE pms_bridge.checkpoint ADD COLUMN capture_gap_since TIMESTAMPTZ;
