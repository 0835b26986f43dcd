//! Lua scripts of the hold store, queues and bitmaps. Each runs atomically on the node that owns
//! its event's slot. `redis::Script` calls them by SHA (EVALSHA) and loads the body again when a
//! node answers NOSCRIPT, as a node does after a restart, a failover or `SCRIPT FLUSH`.
//!
//! Conventions: the first KEYS are fixed per script and listed in its comment; seat keys follow.
//! ARGV lists the fixed arguments, then one seat index per seat key, in the same order. Scripts
//! return a status string first, then data.

use std::sync::LazyLock;

use redis::Script;

/// Returns the node's clock as `{seconds, microseconds}`. KEYS[1] only routes the call.
pub static SERVER_TIME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
return {tonumber(t[1]), tonumber(t[2])}
"#,
    )
});

/// Shared Lua helpers, prepended to the seat scripts.
const SEAT_HELPERS: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Bumps a seat's state version and returns the new one.
local function bump(versions_key, seat)
  return redis.call('BITFIELD', versions_key, 'OVERFLOW', 'WRAP', 'INCRBY', 'u32', '#' .. seat, 1)[1]
end
"#;

fn seat_source(body: &str) -> String {
    format!("{SEAT_HELPERS}{body}")
}

fn seat_script(body: &str) -> Script {
    Script::new(&seat_source(body))
}

/// Holds every requested seat or none.
///
/// KEYS: 1 holds-by-expiry, 2 hold record, 3 nonce, 4 seat versions, 5 stats, 6.. seats.
/// ARGV: 1 hold id, 2 fan, 3 TTL ms, 4 nonce, 5 record grace ms, 6.. seat indexes.
/// Returns `{"used", binding}` when the nonce is bound to a live hold or an order,
/// `{"unavailable", seat...}` with every taken seat, or `{"ok", expires_at_ms, version...}`.
pub static HOLD: LazyLock<Script> = LazyLock::new(|| seat_script(HOLD_BODY));

/// Returns the Lua source of [`HOLD`] exactly as Redis loads it, for `bench/engine-ceilings.sh`,
/// which calls the script through redis-benchmark.
pub fn hold_script_source() -> String {
    seat_source(HOLD_BODY)
}

const HOLD_BODY: &str = r#"
local hold_id, fan, ttl, nonce, grace = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local bound = redis.call('GET', KEYS[3])
if bound then
  return {'used', bound}
end
local taken = {}
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    taken[#taken + 1] = ARGV[i]
  end
end
if #taken > 0 then
  return {'unavailable', unpack(taken)}
end
local expires_at = now_ms() + ttl
local value = 'h:' .. hold_id
local reply = {'ok', tostring(expires_at)}
local seats = {}
for i = 6, #KEYS do
  redis.call('SET', KEYS[i], value, 'PX', ttl)
  reply[#reply + 1] = tostring(bump(KEYS[4], ARGV[i]))
  seats[#seats + 1] = ARGV[i]
end
redis.call('SET', KEYS[3], value, 'PX', ttl)
redis.call('HSET', KEYS[2], 'fan', fan, 'nonce', nonce, 'seats', table.concat(seats, ','), 'exp', tostring(expires_at))
redis.call('PEXPIRE', KEYS[2], ttl + grace)
redis.call('ZADD', KEYS[1], expires_at, hold_id)
redis.call('HINCRBY', KEYS[5], 'holds_started', 1)
return reply
"#;

/// Releases a hold on the fan's request.
///
/// KEYS: as [`HOLD`]. ARGV: 1 hold id, 2 fan, 3.. unused, 6.. seat indexes.
/// Returns `{"not_found"}` or `{"ok", seat, version, seat, version...}` for each seat freed.
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    seat_script(
        r#"
local hold_id, fan = ARGV[1], ARGV[2]
if redis.call('HGET', KEYS[2], 'fan') ~= fan or not redis.call('ZSCORE', KEYS[1], hold_id) then
  return {'not_found'}
end
local value = 'h:' .. hold_id
local reply = {'ok'}
for i = 6, #KEYS do
  if redis.call('GET', KEYS[i]) == value then
    redis.call('DEL', KEYS[i])
    reply[#reply + 1] = ARGV[i]
    reply[#reply + 1] = tostring(bump(KEYS[4], ARGV[i]))
  end
end
if redis.call('GET', KEYS[3]) == value then
  redis.call('DEL', KEYS[3])
end
redis.call('ZREM', KEYS[1], hold_id)
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[5], 'holds_released', 1)
return reply
"#,
    )
});

/// Frees the seats of a hold whose TTL has passed, and reports which ones it freed.
///
/// KEYS: as [`HOLD`]. ARGV: 1 hold id, 2..5 unused, 6.. seat indexes.
/// A seat key that already vanished by its own TTL is reported as freed too, since the bitmap
/// still shows it held; a seat another hold has taken since is left alone.
/// Returns `{"gone"}`, `{"not_due", expires_at_ms}` or `{"ok", seat, version...}`.
pub static EXPIRE: LazyLock<Script> = LazyLock::new(|| {
    seat_script(
        r#"
local hold_id = ARGV[1]
local expires_at = redis.call('ZSCORE', KEYS[1], hold_id)
if not expires_at then
  return {'gone'}
end
if tonumber(expires_at) > now_ms() then
  return {'not_due', tostring(expires_at)}
end
local value = 'h:' .. hold_id
local reply = {'ok'}
for i = 6, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if current == value or not current then
    if current then
      redis.call('DEL', KEYS[i])
    end
    reply[#reply + 1] = ARGV[i]
    reply[#reply + 1] = tostring(bump(KEYS[4], ARGV[i]))
  end
end
if redis.call('GET', KEYS[3]) == value then
  redis.call('DEL', KEYS[3])
end
redis.call('ZREM', KEYS[1], hold_id)
-- The record outlives the hold by its grace period; never recreate one that already expired.
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'expired', '1')
end
redis.call('HINCRBY', KEYS[5], 'holds_expired', 1)
return reply
"#,
    )
});

/// Makes sure every seat of a hold is still, or again, held by it before the order is written:
/// a seat still held by this hold keeps it, a seat freed since (the hold expired) is taken again,
/// and a seat held or sold by anyone else fails the claim. All or nothing.
///
/// The claimed seat keys and the nonce get no TTL: once the order may be committed, only the
/// expiry worker frees them, after it checked OrderDB (a sale whose marking failed must never
/// look free). The claim's TTL sets when the worker takes the hold up.
///
/// KEYS: as [`HOLD`]. ARGV: 1 hold id, 2 fan, 3 TTL ms for the claim, 4 nonce, 5 unused,
/// 6.. seat indexes.
/// Returns `{"nonce", binding}` when the nonce now backs another hold or an order,
/// `{"conflict", seat...}`, or `{"ok", seat, version...}` listing the seats taken again.
pub static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    seat_script(
        r#"
local hold_id, ttl = ARGV[1], tonumber(ARGV[3])
local value = 'h:' .. hold_id
local bound = redis.call('GET', KEYS[3])
if bound and bound ~= value then
  return {'nonce', bound}
end
local conflicts = {}
for i = 6, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if current and current ~= value then
    conflicts[#conflicts + 1] = ARGV[i]
  end
end
if #conflicts > 0 then
  return {'conflict', unpack(conflicts)}
end
local reply = {'ok'}
for i = 6, #KEYS do
  local current = redis.call('GET', KEYS[i])
  redis.call('SET', KEYS[i], value)
  if not current then
    reply[#reply + 1] = ARGV[i]
    reply[#reply + 1] = tostring(bump(KEYS[4], ARGV[i]))
  end
end
redis.call('SET', KEYS[3], value)
redis.call('ZADD', KEYS[1], now_ms() + ttl, hold_id)
redis.call('HDEL', KEYS[2], 'expired')
return reply
"#,
    )
});

/// Marks a hold's seats sold to an order that PostgreSQL has committed. Unconditional: the order
/// is the truth, so the seats become sold whatever the keys say.
///
/// KEYS: as [`HOLD`]. ARGV: 1 hold id, 2 order id, 3 nonce TTL ms, 4..5 unused, 6.. seat indexes.
/// Returns `{"ok", seat, version...}`.
pub static MARK_SOLD: LazyLock<Script> = LazyLock::new(|| {
    seat_script(
        r#"
local hold_id, order_id, nonce_ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local value = 's:' .. order_id
local reply = {'ok'}
local changed = 0
for i = 6, #KEYS do
  if redis.call('GET', KEYS[i]) ~= value then
    redis.call('SET', KEYS[i], value)
    reply[#reply + 1] = ARGV[i]
    reply[#reply + 1] = tostring(bump(KEYS[4], ARGV[i]))
    changed = changed + 1
  end
end
if nonce_ttl > 0 then
  redis.call('SET', KEYS[3], value, 'PX', nonce_ttl)
end
redis.call('ZREM', KEYS[1], hold_id)
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[5], 'seats_sold', changed)
return reply
"#,
    )
});

/// Applies seat state changes to the bitmap, skipping any change not newer than the last one
/// applied to that seat, so replayed and reordered messages never flip a bit backwards.
///
/// KEYS: 1 bitmap, 2 applied versions. ARGV: triples of seat, version, state (1 unavailable,
/// 0 free). Returns the number of changes applied.
pub static APPLY_CHANGES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local applied = 0
for i = 1, #ARGV, 3 do
  local seat, version, state = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local current = redis.call('BITFIELD', KEYS[2], 'GET', 'u32', '#' .. seat)[1]
  if version > current then
    redis.call('BITFIELD', KEYS[2], 'SET', 'u32', '#' .. seat, version)
    redis.call('SETBIT', KEYS[1], seat, state)
    applied = applied + 1
  end
end
return applied
"#,
    )
});

/// Rebuilds a range of the bitmap from the hold store: each seat's bit becomes its key's
/// existence, and its applied version becomes its state version, read in the same atomic step.
///
/// KEYS: 1 bitmap, 2 applied versions, 3 seat versions, 4.. seats. ARGV: seat indexes.
/// Returns the number of bits that changed.
pub static REBUILD_RANGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local changed = 0
for i = 4, #KEYS do
  local seat = ARGV[i - 3]
  local state = redis.call('EXISTS', KEYS[i])
  local version = redis.call('BITFIELD', KEYS[3], 'GET', 'u32', '#' .. seat)[1]
  if redis.call('SETBIT', KEYS[1], seat, state) ~= state then
    changed = changed + 1
  end
  redis.call('BITFIELD', KEYS[2], 'SET', 'u32', '#' .. seat, version)
end
return changed
"#,
    )
});

/// Joins a queue, once per fan.
///
/// KEYS: 1 queue, 2 prequeue, 3 the fan's admission, 4 queue meta, 5 prequeue being placed.
/// ARGV: 1 fan, 2 state to assume when the queue has none (`open` or `not_open`).
/// Returns `{"admitted", token}`, `{"closed"}`, `{"prequeue"}` (joined before the open, or
/// being placed right now), or `{state, rank, score}` where state is `open` or `paused`, rank
/// counts from 0 within this queue shard, and score is the fan's join time as Redis prints it.
pub static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local fan = ARGV[1]
local admission = redis.call('GET', KEYS[3])
if admission then
  return {'admitted', admission}
end
local state = redis.call('HGET', KEYS[4], 'state') or ARGV[2]
if state == 'closed' then
  return {'closed'}
end
if state == 'not_open' then
  if redis.call('SADD', KEYS[2], fan) == 1 then
    redis.call('HINCRBY', KEYS[4], 'joined', 1)
  end
  return {'prequeue'}
end
local rank = redis.call('ZRANK', KEYS[1], fan)
if not rank and redis.call('SISMEMBER', KEYS[5], fan) == 1 then
  return {'prequeue'}
end
if not rank then
  local t = redis.call('TIME')
  local score = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('ZADD', KEYS[1], 'NX', score, fan)
  redis.call('HINCRBY', KEYS[4], 'joined', 1)
  rank = redis.call('ZRANK', KEYS[1], fan)
end
return {state, rank, redis.call('ZSCORE', KEYS[1], fan)}
"#,
    )
});

/// Reads a fan's place without joining.
///
/// KEYS: as [`JOIN`]. ARGV: 1 fan, 2 default state.
/// Returns `{"admitted", token}`, `{state, rank, score}` (rank -1 and no score when not
/// queued), or `{"prequeue"}`.
pub static STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local fan = ARGV[1]
local admission = redis.call('GET', KEYS[3])
if admission then
  return {'admitted', admission}
end
local state = redis.call('HGET', KEYS[4], 'state') or ARGV[2]
if redis.call('SISMEMBER', KEYS[2], fan) == 1 then
  return {'prequeue'}
end
local rank = redis.call('ZRANK', KEYS[1], fan)
if not rank and redis.call('SISMEMBER', KEYS[5], fan) == 1 then
  return {'prequeue'}
end
if not rank then
  return {state, -1}
end
return {state, rank, redis.call('ZSCORE', KEYS[1], fan)}
"#,
    )
});

/// Admits a batch: stores each fan's token and removes the fan from the queue, only while the
/// caller still holds the admitter lease. A fan no longer in the queue gets no token.
///
/// KEYS: 1 queue, 2 lease, 3 queue meta, 4.. admissions (one per fan).
/// ARGV: 1 lease owner, 2 token TTL ms, then pairs of fan and token, in KEYS order.
/// Returns `{"lost"}` without the lease, `{"idle", state}` unless open, or `{"ok", admitted}`.
pub static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(ADMIT_SOURCE));

/// Returns the Lua source of [`ADMIT`], byte for byte as the store loads it.
pub fn admit_script_source() -> &'static str {
    ADMIT_SOURCE
}

const ADMIT_SOURCE: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {'lost'}
end
local state = redis.call('HGET', KEYS[3], 'state') or 'open'
if state ~= 'open' then
  return {'idle', state}
end
local ttl = tonumber(ARGV[2])
local admitted = 0
for i = 4, #KEYS do
  local fan, token = ARGV[2 * (i - 3) + 1], ARGV[2 * (i - 3) + 2]
  if redis.call('ZREM', KEYS[1], fan) == 1 then
    redis.call('SET', KEYS[i], token, 'PX', ttl)
    admitted = admitted + 1
  end
end
redis.call('HINCRBY', KEYS[3], 'admitted', admitted)
return {'ok', admitted}
"#;

/// Takes or renews the admitter lease of one queue.
///
/// KEYS: 1 lease. ARGV: 1 owner, 2 TTL ms. Returns 1 when the caller holds the lease.
pub static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#,
    )
});

/// Opens a queue: sets the state and moves the prequeue aside for placement. Places are drawn
/// by the caller, since Lua in Redis has no unpredictable random source. Opening again while
/// a placement is unfinished returns the fans still to place.
///
/// KEYS: 1 queue meta, 2 prequeue, 3 prequeue being placed.
/// Returns `{open_time_us, prequeued}`.
pub static OPEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at_us', tostring(now))
-- A placement that an earlier open left unfinished is merged, never overwritten.
if redis.call('SCARD', KEYS[2]) > 0 then
  redis.call('SUNIONSTORE', KEYS[3], KEYS[3], KEYS[2])
  redis.call('DEL', KEYS[2])
end
return {now, redis.call('SCARD', KEYS[3])}
"#,
    )
});

/// Marks seats sold to orders that PostgreSQL holds but the hold store does not show, after
/// the UNIQUE guard fired or a sale's marking was lost. Seats already showing their order are
/// left alone.
///
/// KEYS: 1 seat versions, 2 stats, 3.. seats. ARGV: one order id per seat key, then the seat
/// indexes. Returns `{"ok", seat, version...}` for each seat it changed.
pub static REPAIR_SOLD: LazyLock<Script> = LazyLock::new(|| {
    seat_script(
        r#"
local seats = #KEYS - 2
local reply = {'ok'}
local changed = 0
for i = 1, seats do
  local value = 's:' .. ARGV[i]
  local seat = ARGV[seats + i]
  if redis.call('GET', KEYS[i + 2]) ~= value then
    redis.call('SET', KEYS[i + 2], value)
    reply[#reply + 1] = seat
    reply[#reply + 1] = tostring(bump(KEYS[1], seat))
    changed = changed + 1
  end
end
redis.call('HINCRBY', KEYS[2], 'seats_sold', changed)
return reply
"#,
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_source_matches_loaded_script() {
        assert_eq!(Script::new(&hold_script_source()).get_hash(), HOLD.get_hash());
    }
}
