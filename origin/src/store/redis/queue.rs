//! Waiting-room queues: join, status, admission batches under a lease, operator state.
//!
//! A queue may be split over several shards (see the `shards` module). Every method here works on
//! any number of shards. With one shard, each method sends the commands it sent before shards
//! existed, in as many round trips.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use futures::future::try_join_all;
use rand::seq::SliceRandom;

use onsale_shared::api::QueueState;
use onsale_shared::{EventId, FanId};

use super::holds::reply_strings;
use super::scripts::{ADMIT, JOIN, LEASE, OPEN, STATUS};
use super::shards::{QueueLayout, QueueShard};
use super::{RedisStore, unexpected_reply};
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
    shard: &QueueShard,
    fan: &FanId,
    default_state: QueueState,
) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.prepare_invoke();
    invocation
        .key(shard.queue())
        .key(shard.prequeue())
        .key(shard.admission(fan))
        .key(shard.meta())
        .key(shard.prequeue_closing())
        .arg(fan.as_str())
        .arg(state_name(default_state));
    invocation
}

fn parse_count(reply: &[String], script: &str) -> StoreResult<u64> {
    reply.get(1).and_then(|r| r.parse().ok()).ok_or_else(|| bad_reply(script, reply))
}

/// Counters of one shard's queue meta that add up over shards.
fn counter(fields: &HashMap<String, String>, name: &str) -> u64 {
    fields.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

impl RedisStore {
    /// Returns the shards of an event's queue. The first call for an event in this process
    /// writes this store's shard count into shard 0's queue meta unless a count is there
    /// already. Every later call uses the count found there.
    async fn layout(&self, event: EventId) -> StoreResult<Arc<QueueLayout>> {
        if let Some(layout) = self.layouts.lock().unwrap_or_else(|e| e.into_inner()).get(&event) {
            return Ok(Arc::clone(layout));
        }
        let meta = self.keys(event).queue_shard().meta();
        let mut conn = self.conn.clone();
        let (_, count): (i64, Option<u16>) = redis::pipe()
            .cmd("HSETNX")
            .arg(&meta)
            .arg("shards")
            .arg(self.queue_shards)
            .cmd("HGET")
            .arg(&meta)
            .arg("shards")
            .query_async(&mut conn)
            .await?;
        let layout = Arc::new(QueueLayout::new(&self.namespace, event, count.unwrap_or(self.queue_shards)));
        self.layouts.lock().unwrap_or_else(|e| e.into_inner()).insert(event, Arc::clone(&layout));
        Ok(layout)
    }

    /// Counts the fans in the shards other than `own` who joined before a fan of shard `own`
    /// whose join time is `score` (as Redis returned it). Ties go to the lower shard index, as in
    /// [`QueueStore::peek_queue`].
    async fn ahead_in_other_shards(&self, layout: &QueueLayout, own: usize, score: &str) -> StoreResult<u64> {
        let counts = layout.shards().iter().enumerate().filter(|(index, _)| *index != own).map(|(index, shard)| {
            let mut conn = self.conn.clone();
            let max = if index < own { score.to_owned() } else { format!("({score}") };
            let queue = shard.queue();
            async move { redis::cmd("ZCOUNT").arg(queue).arg("-inf").arg(max).query_async::<u64>(&mut conn).await }
        });
        Ok(try_join_all(counts).await?.into_iter().sum())
    }

    /// Computes a fan's place in the whole queue from the reply `{state, rank in shard, score}`
    /// of JOIN or STATUS.
    async fn queue_rank(&self, layout: &QueueLayout, own: usize, reply: &[String], script: &str) -> StoreResult<u64> {
        let rank = parse_count(reply, script)?;
        if layout.count() == 1 {
            return Ok(rank);
        }
        let score = reply.get(2).ok_or_else(|| bad_reply(script, reply))?;
        Ok(rank + self.ahead_in_other_shards(layout, own, score).await?)
    }
}

#[async_trait]
impl QueueStore for RedisStore {
    /// Joins the queue once per fan; a second join returns the first place.
    async fn join(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<JoinOutcome> {
        let layout = self.layout(event).await?;
        let own = layout.index_of(fan);
        let mut conn = self.conn.clone();
        let reply = reply_strings(
            queue_invocation(&JOIN, layout.shard(own), fan, default_state).invoke_async(&mut conn).await?,
        );
        match reply.first().map(String::as_str) {
            Some("admitted") => reply
                .get(1)
                .and_then(|v| decode_admission(v))
                .map(JoinOutcome::Admitted)
                .ok_or_else(|| bad_reply("join", &reply)),
            Some("closed") => Ok(JoinOutcome::Closed),
            Some("prequeue") => Ok(JoinOutcome::Prequeue),
            Some(state @ ("open" | "paused")) => Ok(JoinOutcome::Queued {
                rank: self.queue_rank(&layout, own, &reply, "join").await?,
                paused: state == "paused",
            }),
            _ => Err(bad_reply("join", &reply)),
        }
    }

    /// A fan's place, without joining.
    async fn queue_status(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<StatusOutcome> {
        let layout = self.layout(event).await?;
        let own = layout.index_of(fan);
        let mut conn = self.conn.clone();
        let reply = reply_strings(
            queue_invocation(&STATUS, layout.shard(own), fan, default_state).invoke_async(&mut conn).await?,
        );
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
        if rank < 0 || !matches!(state, QueueState::Open | QueueState::Paused) {
            return Ok(StatusOutcome::NotQueued(state));
        }
        let rank = self.queue_rank(&layout, own, &reply, "status").await?;
        Ok(StatusOutcome::Queued { rank, paused: state == QueueState::Paused })
    }

    /// State and counters of a queue, summed over its shards.
    async fn queue_meta(&self, event: EventId, default_state: QueueState) -> StoreResult<QueueMeta> {
        let layout = self.layout(event).await?;
        let reads = layout.shards().iter().map(|shard| {
            let mut conn = self.conn.clone();
            let (meta, queue, prequeue) = (shard.meta(), shard.queue(), shard.prequeue());
            async move {
                redis::pipe()
                    .cmd("HGETALL")
                    .arg(meta)
                    .cmd("ZCARD")
                    .arg(queue)
                    .cmd("SCARD")
                    .arg(prequeue)
                    .query_async::<(HashMap<String, String>, u64, u64)>(&mut conn)
                    .await
            }
        });
        let shards = try_join_all(reads).await?;
        let (fields, _, _) = &shards[0];
        Ok(QueueMeta {
            state: fields.get("state").and_then(|s| parse_state(s)).unwrap_or(default_state),
            rate: fields.get("rate").and_then(|r| r.parse().ok()),
            joined: shards.iter().map(|(fields, _, _)| counter(fields, "joined")).sum(),
            admitted: shards.iter().map(|(fields, _, _)| counter(fields, "admitted")).sum(),
            waiting: shards.iter().map(|(_, waiting, _)| waiting).sum(),
            prequeued: shards.iter().map(|(_, _, prequeued)| prequeued).sum(),
            measured_rate: fields.get("measured_rate").and_then(|r| r.parse().ok()).unwrap_or(0.0),
        })
    }

    /// The next `count` fans in line, without removing them: the first `count` of every shard,
    /// merged by join time.
    async fn peek_queue(&self, event: EventId, count: usize) -> StoreResult<Vec<FanId>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let layout = self.layout(event).await?;
        if layout.count() == 1 {
            let mut conn = self.conn.clone();
            let fans: Vec<String> =
                redis::cmd("ZRANGE").arg(layout.first().queue()).arg(0).arg(count - 1).query_async(&mut conn).await?;
            return Ok(fans.iter().filter_map(|f| f.parse().ok()).collect());
        }
        let reads = layout.shards().iter().map(|shard| {
            let mut conn = self.conn.clone();
            let queue = shard.queue();
            async move {
                redis::cmd("ZRANGE")
                    .arg(queue)
                    .arg(0)
                    .arg(count - 1)
                    .arg("WITHSCORES")
                    .query_async::<Vec<(String, f64)>>(&mut conn)
                    .await
            }
        });
        let mut front: Vec<(f64, usize, String)> = try_join_all(reads)
            .await?
            .into_iter()
            .enumerate()
            .flat_map(|(index, fans)| fans.into_iter().map(move |(fan, score)| (score, index, fan)))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(front.into_iter().take(count).filter_map(|(_, _, fan)| fan.parse().ok()).collect())
    }

    /// Takes or renews the admitter lease; `true` while `owner` holds it. The holder also
    /// writes its id, with the same TTL, into every other shard, where ADMIT checks it.
    async fn acquire_lease(&self, event: EventId, owner: &str, ttl: Duration) -> StoreResult<bool> {
        let layout = self.layout(event).await?;
        let mut conn = self.conn.clone();
        let ttl_ms = super::holds::ttl_millis(ttl);
        let granted: i64 = LEASE.key(layout.first().lease()).arg(owner).arg(ttl_ms).invoke_async(&mut conn).await?;
        if granted != 1 {
            return Ok(false);
        }
        // NOTE: the copies are written after shard 0's lease, so when a lease passes to another
        // instance, the old holder may still admit on the other shards until its copies expire
        // or are overwritten, a few milliseconds later. No fan is admitted twice (ADMIT removes
        // each fan once); the rate may overshoot by one tick's batch.
        let copies =
            layout.shards()[1..].iter().map(|shard| {
                let mut conn = self.conn.clone();
                let lease = shard.lease();
                async move {
                    redis::cmd("SET").arg(lease).arg(owner).arg("PX").arg(ttl_ms).query_async::<()>(&mut conn).await
                }
            });
        try_join_all(copies).await?;
        Ok(true)
    }

    /// Stores tokens for a batch of fans and removes them from the queue, while `owner` holds the
    /// lease and the queue is open. With several shards, each shard's part of the batch goes in
    /// one call, and the outcome is `Admitted` with the total when any shard admitted.
    async fn admit(
        &self,
        event: EventId,
        owner: &str,
        batch: &[(FanId, StoredAdmission)],
        token_ttl: Duration,
    ) -> StoreResult<AdmitOutcome> {
        let layout = self.layout(event).await?;
        let mut parts: Vec<Vec<&(FanId, StoredAdmission)>> = vec![Vec::new(); layout.count()];
        for entry in batch {
            parts[layout.index_of(&entry.0)].push(entry);
        }
        let ttl_ms = super::holds::ttl_millis(token_ttl);
        let calls =
            parts.iter().enumerate().filter(|(index, part)| *index == 0 || !part.is_empty()).map(|(index, part)| {
                let shard = layout.shard(index);
                let mut invocation = ADMIT.prepare_invoke();
                invocation.key(shard.queue()).key(shard.lease()).key(shard.meta());
                invocation.arg(owner).arg(ttl_ms);
                for (fan, admission) in part {
                    invocation.key(shard.admission(fan));
                    invocation.arg(fan.as_str()).arg(encode_admission(admission));
                }
                let mut conn = self.conn.clone();
                async move {
                    let reply = reply_strings(invocation.invoke_async(&mut conn).await?);
                    match reply.first().map(String::as_str) {
                        Some("ok") => Ok(AdmitOutcome::Admitted(parse_count(&reply, "admit")?)),
                        Some("lost") => Ok(AdmitOutcome::LeaseLost),
                        Some("idle") => Ok(AdmitOutcome::Idle),
                        _ => Err(bad_reply("admit", &reply)),
                    }
                }
            });
        let outcomes: Vec<AdmitOutcome> = try_join_all(calls).await?;
        let admitted: u64 =
            outcomes.iter().map(|outcome| if let AdmitOutcome::Admitted(n) = outcome { *n } else { 0 }).sum();
        if admitted > 0 {
            return Ok(AdmitOutcome::Admitted(admitted));
        }
        // Shard 0's outcome speaks for the queue: it holds the lease and the state.
        Ok(outcomes.into_iter().next().unwrap_or(AdmitOutcome::Admitted(0)))
    }

    /// Records the admission rate the admitter measured, for ETAs.
    async fn record_admission_rate(&self, event: EventId, rate: f64) -> StoreResult<()> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HSET")
            .arg(keys.queue_shard().meta())
            .arg("measured_rate")
            .arg(format!("{rate:.1}"))
            .query_async(&mut conn)
            .await?)
    }

    /// Sets the queue's state (pause, resume, close) in every shard, shard 0 last.
    async fn set_queue_state(&self, event: EventId, state: QueueState) -> StoreResult<()> {
        let layout = self.layout(event).await?;
        let writes = layout.shards().iter().rev().map(|shard| {
            let mut conn = self.conn.clone();
            let meta = shard.meta();
            async move {
                redis::cmd("HSET").arg(meta).arg("state").arg(state_name(state)).query_async::<()>(&mut conn).await
            }
        });
        try_join_all(writes).await?;
        Ok(())
    }

    /// Sets the queue's admission rate in fans per second.
    async fn set_queue_rate(&self, event: EventId, rate: u32) -> StoreResult<()> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HSET").arg(keys.queue_shard().meta()).arg("rate").arg(rate).query_async(&mut conn).await?)
    }

    /// Opens the queue and places fans who joined before the open in random order ahead of
    /// everyone who joins after it. Returns how many were placed. With several shards, the order
    /// is drawn over all of them at once, and each fan is placed in its own shard.
    async fn open_queue(&self, event: EventId) -> StoreResult<u64> {
        let layout = self.layout(event).await?;
        let opens = layout.shards().iter().map(|shard| {
            let mut conn = self.conn.clone();
            let keys = (shard.meta(), shard.prequeue(), shard.prequeue_closing());
            async move { OPEN.key(keys.0).key(keys.1).key(keys.2).invoke_async::<(i64, u64)>(&mut conn).await }
        });
        let opened = try_join_all(opens).await?;
        if opened.iter().all(|(_, prequeued)| *prequeued == 0) {
            return Ok(0);
        }
        let opened_at_us = opened.iter().map(|(at, _)| *at).min().unwrap_or_default();

        let mut conn = self.conn.clone();
        let mut fans: Vec<(usize, String)> = Vec::new();
        for (index, shard) in layout.shards().iter().enumerate() {
            let members: Vec<String> =
                redis::cmd("SMEMBERS").arg(shard.prequeue_closing()).query_async(&mut conn).await?;
            fans.extend(members.into_iter().map(|fan| (index, fan)));
        }
        fans.shuffle(&mut rand::rngs::OsRng);
        // Scores end just before the earliest shard's open time, so every placed fan is ahead of
        // later joins, which score at or after it. One microsecond apart keeps the drawn order.
        let first_score = opened_at_us - fans.len() as i64;
        let mut by_shard: Vec<Vec<(i64, &str)>> = vec![Vec::new(); layout.count()];
        for (place, (index, fan)) in fans.iter().enumerate() {
            by_shard[*index].push((first_score + place as i64, fan));
        }
        for (index, placed) in by_shard.iter().enumerate() {
            let shard = layout.shard(index);
            for chunk in placed.chunks(1000) {
                let mut cmd = redis::cmd("ZADD");
                cmd.arg(shard.queue()).arg("NX");
                for (score, fan) in chunk {
                    cmd.arg(*score).arg(*fan);
                }
                cmd.query_async::<()>(&mut conn).await?;
            }
            redis::cmd("DEL").arg(shard.prequeue_closing()).query_async::<()>(&mut conn).await?;
        }
        Ok(fans.len() as u64)
    }
}
