//! Seat holds: hold, release, expire, claim for sale and mark sold. Each is one Lua script call.

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex};

use super::scripts::{CLAIM, EXPIRE, HOLD, MARK_SOLD, RELEASE, REPAIR_SOLD};
use super::{EventKeys, RedisStore, unexpected_reply};
use crate::store::{
    ClaimOutcome, ExpireOutcome, HoldAttempt, HoldOutcome, HoldRecord, HoldStats, HoldStore, ReleaseOutcome, SeatState,
    SeatVersion, StoreError, StoreResult,
};

/// Converts a script reply into strings; Lua integers arrive as Redis integers.
pub(crate) fn reply_strings(reply: Vec<Value>) -> Vec<String> {
    reply
        .into_iter()
        .map(|value| match value {
            Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Value::SimpleString(s) => s,
            Value::Int(n) => n.to_string(),
            Value::Double(d) => d.to_string(),
            Value::Okay => "OK".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn parse_seats(items: &[String]) -> Vec<SeatIndex> {
    items.iter().filter_map(|s| s.parse::<u32>().ok()).filter_map(|n| SeatIndex::new(n).ok()).collect()
}

fn parse_seat_versions(items: &[String]) -> Vec<SeatVersion> {
    items
        .chunks_exact(2)
        .filter_map(|pair| {
            let seat = SeatIndex::new(pair[0].parse().ok()?).ok()?;
            let version = pair[1].parse().ok()?;
            Some(SeatVersion { seat, version })
        })
        .collect()
}

fn unexpected(script: &str, reply: &[String]) -> StoreError {
    unexpected_reply(script, reply)
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

/// A TTL in milliseconds for `PX` or `PEXPIRE`, at least 1: Redis rejects `PX 0`, and
/// `PEXPIRE 0` deletes the key.
pub(crate) fn ttl_millis(duration: Duration) -> u64 {
    millis(duration).max(1)
}

impl RedisStore {
    /// Builds the fixed keys shared by the seat scripts, then one key per seat.
    fn seat_invocation<'a>(
        script: &'a redis::Script,
        keys: &EventKeys,
        hold: HoldId,
        nonce: &str,
        seats: &[SeatIndex],
        fixed_args: [String; 5],
    ) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(keys.holds_by_expiry())
            .key(keys.hold(hold))
            .key(keys.nonce(nonce))
            .key(keys.seat_versions())
            .key(keys.stats());
        for seat in seats {
            invocation.key(keys.seat(*seat));
        }
        for arg in fixed_args {
            invocation.arg(arg);
        }
        for seat in seats {
            invocation.arg(seat.get());
        }
        invocation
    }
}

#[async_trait]
impl HoldStore for RedisStore {
    /// Holds all of `attempt.seats` or none, in one script: the nonce is checked and bound in the
    /// same atomic step that takes the seats.
    async fn hold(&self, attempt: &HoldAttempt<'_>) -> StoreResult<HoldOutcome> {
        let keys = self.keys(attempt.event);
        let args = [
            attempt.hold.to_string(),
            attempt.fan.to_string(),
            ttl_millis(attempt.ttl).to_string(),
            attempt.nonce.to_owned(),
            millis(self.hold_record_grace).to_string(),
        ];
        let invocation = Self::seat_invocation(&HOLD, &keys, attempt.hold, attempt.nonce, attempt.seats, args);
        let mut conn = self.conn.clone();
        let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
        match reply.first().map(String::as_str) {
            Some("ok") if reply.len() == 2 + attempt.seats.len() => {
                let expires_at_ms = reply[1].parse().map_err(|_| unexpected("hold", &reply))?;
                let versions = attempt
                    .seats
                    .iter()
                    .zip(&reply[2..])
                    .map(|(seat, v)| {
                        Ok(SeatVersion { seat: *seat, version: v.parse().map_err(|_| unexpected("hold", &reply))? })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(HoldOutcome::Held { expires_at_ms, versions })
            }
            Some("used") => Ok(HoldOutcome::NonceUsed),
            Some("unavailable") => Ok(HoldOutcome::Unavailable(parse_seats(&reply[1..]))),
            _ => Err(unexpected("hold", &reply)),
        }
    }

    /// Reads a hold's record, if it still exists.
    async fn hold_record(&self, event: EventId, hold: HoldId) -> StoreResult<Option<HoldRecord>> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, String> =
            redis::cmd("HGETALL").arg(keys.hold(hold)).query_async(&mut conn).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let fan = fields.get("fan").and_then(|f| f.parse::<FanId>().ok());
        let nonce = fields.get("nonce").cloned();
        let expires_at_ms = fields.get("exp").and_then(|e| e.parse::<i64>().ok());
        let seats: Option<Vec<SeatIndex>> = fields.get("seats").map(|s| {
            s.split(',').filter_map(|n| n.parse::<u32>().ok()).filter_map(|n| SeatIndex::new(n).ok()).collect()
        });
        match (fan, nonce, expires_at_ms, seats) {
            (Some(fan), Some(nonce), Some(expires_at_ms), Some(seats)) => {
                Ok(Some(HoldRecord { hold, fan, nonce, seats, expires_at_ms, expired: fields.contains_key("expired") }))
            }
            _ => Err(StoreError::Internal(format!("corrupt hold record: event {event} hold {hold}"))),
        }
    }

    /// Releases a hold's seats. Only the fan who made the hold may release it.
    async fn release(&self, event: EventId, record: &HoldRecord, fan: &FanId) -> StoreResult<ReleaseOutcome> {
        let keys = self.keys(event);
        let args = [record.hold.to_string(), fan.to_string(), String::new(), String::new(), String::new()];
        let invocation = Self::seat_invocation(&RELEASE, &keys, record.hold, &record.nonce, &record.seats, args);
        let mut conn = self.conn.clone();
        let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(ReleaseOutcome::Released(parse_seat_versions(&reply[1..]))),
            Some("not_found") => Ok(ReleaseOutcome::NotFound),
            _ => Err(unexpected("release", &reply)),
        }
    }

    /// Frees a hold whose TTL has passed.
    async fn expire(&self, event: EventId, record: &HoldRecord) -> StoreResult<ExpireOutcome> {
        let keys = self.keys(event);
        let args = [record.hold.to_string(), String::new(), String::new(), String::new(), String::new()];
        let invocation = Self::seat_invocation(&EXPIRE, &keys, record.hold, &record.nonce, &record.seats, args);
        let mut conn = self.conn.clone();
        let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(ExpireOutcome::Expired(parse_seat_versions(&reply[1..]))),
            Some("gone") => Ok(ExpireOutcome::Gone),
            Some("not_due") => Ok(ExpireOutcome::NotDue),
            _ => Err(unexpected("expire", &reply)),
        }
    }

    /// Removes a hold id from the expiry index without touching seats: for index entries whose
    /// record has vanished (the record outlives the hold, so this only follows manual deletion).
    async fn forget_hold(&self, event: EventId, hold: HoldId) -> StoreResult<()> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZREM").arg(keys.holds_by_expiry()).arg(hold.to_string()).query_async(&mut conn).await?)
    }

    /// Hold ids whose expiry time has passed on the Redis clock, oldest first.
    async fn due_holds(&self, event: EventId, limit: usize) -> StoreResult<Vec<HoldId>> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let now = super::server_time_ms(&mut conn, &keys.holds_by_expiry()).await?;
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(keys.holds_by_expiry())
            .arg("-inf")
            .arg(now)
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }

    /// Makes sure a hold still owns all its seats before its order is written, taking back seats
    /// that were freed since. `ttl` covers the time the order write may take.
    async fn claim_for_sale(&self, event: EventId, record: &HoldRecord, ttl: Duration) -> StoreResult<ClaimOutcome> {
        let keys = self.keys(event);
        let args = [
            record.hold.to_string(),
            record.fan.to_string(),
            ttl_millis(ttl).to_string(),
            record.nonce.clone(),
            String::new(),
        ];
        let invocation = Self::seat_invocation(&CLAIM, &keys, record.hold, &record.nonce, &record.seats, args);
        let mut conn = self.conn.clone();
        let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(ClaimOutcome::Claimed { retaken: parse_seat_versions(&reply[1..]) }),
            Some("nonce") => Ok(ClaimOutcome::NonceRebound),
            Some("conflict") => Ok(ClaimOutcome::Conflict(parse_seats(&reply[1..]))),
            _ => Err(unexpected("claim", &reply)),
        }
    }

    /// Marks a committed order's seats sold and spends the admission nonce until `nonce_ttl`.
    async fn mark_sold(
        &self,
        event: EventId,
        record: &HoldRecord,
        order: OrderId,
        nonce_ttl: Duration,
    ) -> StoreResult<Vec<SeatVersion>> {
        let keys = self.keys(event);
        let args =
            [record.hold.to_string(), order.to_string(), millis(nonce_ttl).to_string(), String::new(), String::new()];
        let invocation = Self::seat_invocation(&MARK_SOLD, &keys, record.hold, &record.nonce, &record.seats, args);
        let mut conn = self.conn.clone();
        let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(parse_seat_versions(&reply[1..])),
            _ => Err(unexpected("mark_sold", &reply)),
        }
    }

    /// Marks seats sold to the given orders where the hold store does not show it yet.
    async fn repair_sold(&self, event: EventId, sold: &[(SeatIndex, OrderId)]) -> StoreResult<Vec<SeatVersion>> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let mut changed = Vec::new();
        for chunk in sold.chunks(500) {
            let mut invocation = REPAIR_SOLD.prepare_invoke();
            invocation.key(keys.seat_versions()).key(keys.stats());
            for (seat, order) in chunk {
                invocation.key(keys.seat(*seat)).arg(order.to_string());
            }
            for (seat, _) in chunk {
                invocation.arg(seat.get());
            }
            let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
            match reply.first().map(String::as_str) {
                Some("ok") => changed.extend(parse_seat_versions(&reply[1..])),
                _ => return Err(unexpected("repair_sold", &reply)),
            }
        }
        Ok(changed)
    }

    async fn hold_stats(&self, event: EventId) -> StoreResult<HoldStats> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, u64> =
            redis::cmd("HGETALL").arg(keys.stats()).query_async(&mut conn).await?;
        let count = |name: &str| fields.get(name).copied().unwrap_or(0);
        Ok(HoldStats {
            holds_started: count("holds_started"),
            holds_released: count("holds_released"),
            holds_expired: count("holds_expired"),
            seats_sold: count("seats_sold"),
        })
    }

    async fn seat_states(&self, event: EventId, seats: &[SeatIndex]) -> StoreResult<Vec<SeatState>> {
        let keys = self.keys(event);
        let mut states = Vec::with_capacity(seats.len());
        let mut conn = self.conn.clone();
        for chunk in seats.chunks(500) {
            let mut cmd = redis::cmd("MGET");
            for seat in chunk {
                cmd.arg(keys.seat(*seat));
            }
            let values: Vec<Option<String>> = cmd.query_async(&mut conn).await?;
            for value in values {
                states.push(parse_seat_value(value.as_deref())?);
            }
        }
        Ok(states)
    }
}

/// Reads a seat key's value: absent, `h:<hold id>` or `s:<order id>`.
fn parse_seat_value(value: Option<&str>) -> StoreResult<SeatState> {
    let Some(value) = value else {
        return Ok(SeatState::Free);
    };
    let parsed = match value.split_once(':') {
        Some(("h", hold)) => hold.parse().ok().map(SeatState::Held),
        Some(("s", order)) => order.parse().ok().map(SeatState::Sold),
        _ => None,
    };
    parsed.ok_or_else(|| StoreError::Internal(format!("unreadable seat key value {value:?}")))
}
