//! Waiting-room queues: join, status, admission batches under a lease, operator state.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use rand::seq::SliceRandom;

use onsale_shared::api::QueueState;
use onsale_shared::{EventId, FanId};

use super::holds::reply_strings;
use super::scripts::{ADMIT, JOIN, LEASE, OPEN, STATUS};
use super::{EventKeys, RedisStore, unexpected_reply};
use crate::store::{
    AdmitOutcome, JoinOutcome, QueueMeta, QueueStore, StatusOutcome, StoreError, StoreResult, StoredAdmission,
    parse_state, state_name,
};

/// Writes a stored admission as `<expiry in Unix seconds> <token>`.
fn encode_admission(admission: &StoredAdmission) -> String {
    format!("{} {}", admission.expires_at.timestamp(), admission.token)
}

fn decode_admission(value: &str) -> Option<StoredAdmission> {
    let (expires, token) = value.split_once(' ')?;
    let expires_at = DateTime::from_timestamp(expires.parse().ok()?, 0)?;
    Some(StoredAdmission { token: token.to_owned(), expires_at })
}

fn bad_reply(script: &str, reply: &[String]) -> StoreError {
    unexpected_reply(script, reply)
}

fn queue_invocation<'a>(
    script: &'a redis::Script,
    keys: &EventKeys,
    fan: &FanId,
    default_state: QueueState,
) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.prepare_invoke();
    invocation
        .key(keys.queue())
        .key(keys.prequeue())
        .key(keys.admission(fan))
        .key(keys.queue_meta())
        .key(keys.prequeue_closing())
        .arg(fan.as_str())
        .arg(state_name(default_state));
    invocation
}

fn parse_rank(reply: &[String], script: &str) -> StoreResult<u64> {
    reply.get(1).and_then(|r| r.parse().ok()).ok_or_else(|| bad_reply(script, reply))
}

#[async_trait]
impl QueueStore for RedisStore {
    /// Joins the queue once per fan; a second join returns the first place.
    async fn join(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<JoinOutcome> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let reply = reply_strings(queue_invocation(&JOIN, &keys, fan, default_state).invoke_async(&mut conn).await?);
        match reply.first().map(String::as_str) {
            Some("admitted") => reply
                .get(1)
                .and_then(|v| decode_admission(v))
                .map(JoinOutcome::Admitted)
                .ok_or_else(|| bad_reply("join", &reply)),
            Some("closed") => Ok(JoinOutcome::Closed),
            Some("prequeue") => Ok(JoinOutcome::Prequeue),
            Some("open") => Ok(JoinOutcome::Queued { rank: parse_rank(&reply, "join")?, paused: false }),
            Some("paused") => Ok(JoinOutcome::Queued { rank: parse_rank(&reply, "join")?, paused: true }),
            _ => Err(bad_reply("join", &reply)),
        }
    }

    /// A fan's place, without joining.
    async fn queue_status(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<StatusOutcome> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let reply = reply_strings(queue_invocation(&STATUS, &keys, fan, default_state).invoke_async(&mut conn).await?);
        let head = reply.first().map(String::as_str).unwrap_or_default();
        if head == "admitted" {
            return reply
                .get(1)
                .and_then(|v| decode_admission(v))
                .map(StatusOutcome::Admitted)
                .ok_or_else(|| bad_reply("status", &reply));
        }
        if head == "prequeue" {
            return Ok(StatusOutcome::Prequeue);
        }
        let state = parse_state(head).ok_or_else(|| bad_reply("status", &reply))?;
        let rank: i64 = reply.get(1).and_then(|r| r.parse().ok()).ok_or_else(|| bad_reply("status", &reply))?;
        match (state, u64::try_from(rank)) {
            (QueueState::Open, Ok(rank)) => Ok(StatusOutcome::Queued { rank, paused: false }),
            (QueueState::Paused, Ok(rank)) => Ok(StatusOutcome::Queued { rank, paused: true }),
            _ => Ok(StatusOutcome::NotQueued(state)),
        }
    }

    /// State and counters of a queue.
    async fn queue_meta(&self, event: EventId, default_state: QueueState) -> StoreResult<QueueMeta> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let (fields, waiting, prequeued): (HashMap<String, String>, u64, u64) = redis::pipe()
            .cmd("HGETALL")
            .arg(keys.queue_meta())
            .cmd("ZCARD")
            .arg(keys.queue())
            .cmd("SCARD")
            .arg(keys.prequeue())
            .query_async(&mut conn)
            .await?;
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(QueueMeta {
            state: fields.get("state").and_then(|s| parse_state(s)).unwrap_or(default_state),
            rate: fields.get("rate").and_then(|r| r.parse().ok()),
            joined: number("joined"),
            admitted: number("admitted"),
            waiting,
            prequeued,
            measured_rate: fields.get("measured_rate").and_then(|r| r.parse().ok()).unwrap_or(0.0),
        })
    }

    /// The next `count` fans in line, without removing them.
    async fn peek_queue(&self, event: EventId, count: usize) -> StoreResult<Vec<FanId>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let fans: Vec<String> =
            redis::cmd("ZRANGE").arg(keys.queue()).arg(0).arg(count - 1).query_async(&mut conn).await?;
        Ok(fans.iter().filter_map(|f| f.parse().ok()).collect())
    }

    /// Takes or renews the admitter lease; `true` while `owner` holds it.
    async fn acquire_lease(&self, event: EventId, owner: &str, ttl: Duration) -> StoreResult<bool> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let held: i64 = LEASE
            .key(keys.admitter_lease())
            .arg(owner)
            .arg(super::holds::ttl_millis(ttl))
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    /// Stores tokens for a batch of fans and removes them from the queue, while `owner` holds the
    /// lease and the queue is open.
    async fn admit(
        &self,
        event: EventId,
        owner: &str,
        batch: &[(FanId, StoredAdmission)],
        token_ttl: Duration,
    ) -> StoreResult<AdmitOutcome> {
        let keys = self.keys(event);
        let mut invocation = ADMIT.prepare_invoke();
        invocation.key(keys.queue()).key(keys.admitter_lease()).key(keys.queue_meta());
        invocation.arg(owner).arg(super::holds::ttl_millis(token_ttl));
        for (fan, admission) in batch {
            invocation.key(keys.admission(fan));
            invocation.arg(fan.as_str()).arg(encode_admission(admission));
        }
        let mut conn = self.conn.clone();
        let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(AdmitOutcome::Admitted(parse_rank(&reply, "admit")?)),
            Some("lost") => Ok(AdmitOutcome::LeaseLost),
            Some("idle") => Ok(AdmitOutcome::Idle),
            _ => Err(bad_reply("admit", &reply)),
        }
    }

    /// Records the admission rate the admitter measured, for ETAs.
    async fn record_admission_rate(&self, event: EventId, rate: f64) -> StoreResult<()> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HSET")
            .arg(keys.queue_meta())
            .arg("measured_rate")
            .arg(format!("{rate:.1}"))
            .query_async(&mut conn)
            .await?)
    }

    /// Sets the queue's state (pause, resume, close).
    async fn set_queue_state(&self, event: EventId, state: QueueState) -> StoreResult<()> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HSET").arg(keys.queue_meta()).arg("state").arg(state_name(state)).query_async(&mut conn).await?)
    }

    /// Sets the queue's admission rate in fans per second.
    async fn set_queue_rate(&self, event: EventId, rate: u32) -> StoreResult<()> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HSET").arg(keys.queue_meta()).arg("rate").arg(rate).query_async(&mut conn).await?)
    }

    /// Opens the queue and places fans who joined before the open in random order ahead of
    /// everyone who joins after it. Returns how many were placed.
    async fn open_queue(&self, event: EventId) -> StoreResult<u64> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let (opened_at_us, prequeued): (i64, u64) = OPEN
            .key(keys.queue_meta())
            .key(keys.prequeue())
            .key(keys.prequeue_closing())
            .invoke_async(&mut conn)
            .await?;
        if prequeued == 0 {
            return Ok(0);
        }

        let mut fans: Vec<String> = redis::cmd("SMEMBERS").arg(keys.prequeue_closing()).query_async(&mut conn).await?;
        fans.shuffle(&mut rand::rngs::OsRng);
        // Scores end just before the open time, so every placed fan is ahead of later joins,
        // which score at or after it. One microsecond apart keeps the drawn order.
        let first_score = opened_at_us - fans.len() as i64;
        for (chunk_index, chunk) in fans.chunks(1000).enumerate() {
            let mut cmd = redis::cmd("ZADD");
            cmd.arg(keys.queue()).arg("NX");
            for (i, fan) in chunk.iter().enumerate() {
                cmd.arg(first_score + (chunk_index * 1000 + i) as i64).arg(fan);
            }
            cmd.query_async::<()>(&mut conn).await?;
        }
        redis::cmd("DEL").arg(keys.prequeue_closing()).query_async::<()>(&mut conn).await?;
        Ok(fans.len() as u64)
    }
}
