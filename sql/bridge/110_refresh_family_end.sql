-- A refresh-token family ends a fixed time after its API key was exchanged
-- (BRIDGE_REFRESH_FAMILY_DAYS), however often it rotates. Before, a client that refreshed
-- in time kept one family, and a stolen token of it, alive for ever, and every spent token
-- of a live family stayed in the table (pruning can only drop families that are over).
-- Each token carries its family's end, copied at rotation; its own expiry never passes it.
-- Families issued before this migration have none (NULL): the end is set at their next
-- rotation, counted from then.
ALTER TABLE pms_bridge.api_refresh_tokens ADD COLUMN IF NOT EXISTS family_ends_at TIMESTAMPTZ;
