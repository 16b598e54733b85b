-- name: api_key_insert
INSERT INTO booking_engine_api_keys (hotel_id, key_id, api_key_hash, description, scopes,
                                     expires_at)
VALUES (%(hotel_id)s, %(key_id)s, %(hash)s, %(description)s, %(scopes)s::text[],
        localtimestamp + make_interval(secs => %(expires_in)s::float8))
RETURNING id, expires_at;

-- name: api_key_lookup
-- The key id is public (printed as part of the key); the secret is compared against the hash
-- in Python in constant time. seconds_left (NULL: no expiry) ends the cached record's use
-- when the key expires.
SELECT id, key_id, hotel_id, api_key_hash, scopes, is_active, expires_at,
       (expires_at IS NOT NULL AND expires_at <= localtimestamp) AS expired,
       extract(epoch FROM expires_at - localtimestamp)::float8 AS seconds_left
FROM booking_engine_api_keys
WHERE key_id = %(key_id)s;

-- name: api_key_by_id
SELECT id, key_id, hotel_id, api_key_hash, scopes, is_active, expires_at,
       (expires_at IS NOT NULL AND expires_at <= localtimestamp) AS expired
FROM booking_engine_api_keys
WHERE id = %(id)s;

-- name: api_key_touch
-- Batched: one statement for every key used since the last flush (a few seconds ago at most).
UPDATE booking_engine_api_keys
SET last_used_at = localtimestamp
WHERE id = ANY(%(ids)s::int[]);

-- name: api_hotel_exists
SELECT EXISTS (SELECT 1 FROM hotels WHERE id = %(hotel_id)s);

-- name: api_refresh_insert
-- A new family ends family_days (of 24 hours, whatever the session's time zone) from now.
-- The next token of a family keeps the end its rows carry, whichever replica wrote them; a
-- family from before migration 110 gets its end now. No token outlives its family, and none
-- is issued once the family has ended (no row returned).
INSERT INTO pms_bridge.api_refresh_tokens (token_hash, family, api_key_id, expires_at,
                                           family_ends_at)
SELECT %(token_hash)s, %(family)s, %(api_key_id)s,
       least(now() + make_interval(secs => %(ttl)s), f.ends_at), f.ends_at
FROM (SELECT coalesce((SELECT min(family_ends_at) FROM pms_bridge.api_refresh_tokens
                       WHERE family = %(family)s),
                      now() + make_interval(secs => %(family_days)s * 86400)) AS ends_at) AS f
WHERE f.ends_at > now()
RETURNING floor(extract(epoch FROM expires_at - now()))::int AS expires_in;

-- name: api_refresh_spend
-- Marks the token used exactly once; a second spender gets the row back with used_at set.
-- Revoked means any token of the family is: a family revoked after this token was issued
-- (its predecessor replayed while this one was being written) stays revoked.
UPDATE pms_bridge.api_refresh_tokens t
SET used_at = coalesce(t.used_at, now())
FROM (SELECT token_hash, used_at AS was_used
      FROM pms_bridge.api_refresh_tokens
      WHERE token_hash = %(token_hash)s
      FOR UPDATE) AS prior
WHERE t.token_hash = prior.token_hash
RETURNING t.family, t.api_key_id, prior.was_used IS NOT NULL AS reused,
          EXISTS (SELECT 1 FROM pms_bridge.api_refresh_tokens r
                  WHERE r.family = t.family AND r.revoked_at IS NOT NULL) AS revoked,
          t.expires_at <= now() AS expired, t.family_ends_at <= now() AS family_ended;

-- name: api_refresh_revoke_family
UPDATE pms_bridge.api_refresh_tokens
SET revoked_at = coalesce(revoked_at, now())
WHERE family = %(family)s;

-- name: api_key_list
-- What `keys list` shows: never the hash, nor anything the secret could be found from.
SELECT key_id, hotel_id, scopes, created_at, expires_at, is_active IS FALSE AS revoked
FROM booking_engine_api_keys
WHERE %(hotel_id)s::int IS NULL OR hotel_id = %(hotel_id)s::int
ORDER BY hotel_id, created_at, id;

-- name: api_key_revoke
-- Revoking is deactivating, which every replica's key record sees within its 5 s life; the
-- key's refresh-token families are revoked with it, so none is refreshed again.
WITH revoked AS (
    UPDATE booking_engine_api_keys
    SET is_active = false
    WHERE key_id = %(key_id)s
    RETURNING id, hotel_id
), families AS (
    UPDATE pms_bridge.api_refresh_tokens t
    SET revoked_at = coalesce(t.revoked_at, now())
    FROM revoked
    WHERE t.api_key_id = revoked.id
)
SELECT hotel_id FROM revoked;
