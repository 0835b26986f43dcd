//! The Redis backend of the store traits: seat holds (SeatHoldCache), waiting-room queues and
//! availability bitmaps (AvailabilityCache) on Redis Cluster or a single Redis node.
//!
//! Every key of one event carries the hash tag `{<namespace>:e<id>}`, so one event's keys share
//! one Redis Cluster slot and each Lua script touches a single shard. The layout, for event 42
//! in the default namespace `onsale` (written `{e42}` below for short):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{e42}:s:<seat>` | string | `h:<hold id>` while held (with the hold's TTL), `s:<order id>` once sold |
//! | `{e42}:sv` | string (BITFIELD u32 per seat) | seat state version, bumped by every hold, release, expiry and sale |
//! | `{e42}:hold:<hold id>` | hash | fan, nonce, seats, expiry; outlives the hold by a grace period for late payments |
//! | `{e42}:holds` | sorted set | hold id by expiry time (ms), read by the expiry worker |
//! | `{e42}:n:<nonce>` | string | the admission nonce's binding: `h:<hold id>` or `s:<order id>` |
//! | `{e42}:bm` | string (bitmap) | availability bitmap, written by the notification worker |
//! | `{e42}:bv` | string (BITFIELD u32 per seat) | version of the last change applied to each bit |
//! | `{e42}:q` | sorted set | waiting fans by join time (µs, Redis server clock) |
//! | `{e42}:pq` | set | fans who joined before the open, placed at random when it opens |
//! | `{e42}:adm:<fan>` | string | the fan's admission token, until it expires |
//! | `{e42}:qmeta` | hash | queue state, admission rate, counters |
//! | `{e42}:lease` | string | id of the admitter instance that may pop this queue |
//! | `{e42}:stats` | hash | hold and sale counters |
//!
//! A queue of several shards (`ONSALE_REDIS_QUEUE_SHARDS`) has the queue keys above (`q`, `pq`,
//! `adm`, `qmeta`, `lease`) once per shard, each shard under its own hash tag. The `shards`
//! module describes the layout.
//!
//! Two keys are global: `<namespace>:events` (the set of events with an open sale, which the
//! admitter and the expiry worker walk) and `<namespace>:dirty-bitmaps` (events whose bitmap
//! lost a change and must be rebuilt). The namespace lets two deployments, such as staging and
//! a load test, share one Redis without touching each other's keys.

mod bitmap;
mod holds;
mod queue;
mod scripts;
mod shards;

pub use scripts::{admit_script_source, hold_script_source};
pub use shards::{MAX_QUEUE_SHARDS, QueueLayout, QueueShard, key_slot};

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use onsale_shared::{EventId, HoldId, SeatIndex};

use crate::config::RedisConfig;

use async_trait::async_trait;

use super::{Store, StoreError, StoreResult};

impl From<redis::RedisError> for StoreError {
    fn from(err: redis::RedisError) -> Self {
        // Anything a caller may retry (I/O, timeouts, failover, busy or loading nodes) is
        // `Unavailable`; a reply we cannot read is `Internal`.
        match err.retry_method() {
            redis::RetryMethod::NoRetry => StoreError::Internal(err.to_string()),
            _ => StoreError::Unavailable(err.to_string()),
        }
    }
}

/// A script reply this code cannot read.
pub(crate) fn unexpected_reply(script: &str, reply: &[String]) -> StoreError {
    StoreError::Internal(format!("unexpected {script} script reply: {reply:?}"))
}

/// A Redis connection: Redis Cluster in production, a single node in development.
#[derive(Clone)]
pub enum RedisConnection {
    Cluster(ClusterConnection),
    Single(ConnectionManager),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Cluster(conn) => conn.req_packed_command(cmd),
            RedisConnection::Single(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
            RedisConnection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Cluster(conn) => conn.get_db(),
            RedisConnection::Single(conn) => conn.get_db(),
        }
    }
}

impl RedisConnection {
    /// Connects to the configured nodes. One node that reports `cluster_enabled:1` is treated as
    /// a cluster seed, as are several nodes.
    pub async fn connect(config: &RedisConfig) -> anyhow::Result<Self> {
        let urls = config.urls();
        anyhow::ensure!(!urls.is_empty(), "--redis-url is empty: give at least one redis:// URL");
        let timeout = config.response_timeout;
        let certificates = match &config.tls_ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|err| anyhow::anyhow!("reading --redis-tls-ca-file {} failed: {err}", path.display()))?,
            ),
            None => None,
        };
        let single_client = |url: &str| -> anyhow::Result<redis::Client> {
            let client = match &certificates {
                Some(root) => redis::Client::build_with_tls(
                    url,
                    redis::TlsCertificates { client_tls: None, root_cert: Some(root.clone()) },
                ),
                None => redis::Client::open(url),
            };
            client.map_err(|err| anyhow::anyhow!("invalid --redis-url: {err}"))
        };

        let cluster = if urls.len() > 1 {
            true
        } else {
            let client = single_client(&urls[0])?;
            let mut conn = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
                .await
                .map_err(|_| anyhow::anyhow!("timed out connecting to Redis after {timeout:?}"))??;
            let info: String = redis::cmd("INFO").arg("cluster").query_async(&mut conn).await?;
            info.contains("cluster_enabled:1")
        };

        if cluster {
            let mut builder =
                ClusterClientBuilder::new(urls).connection_timeout(timeout).response_timeout(timeout).retries(3);
            if let Some(root) = &certificates {
                builder = builder.certs(redis::TlsCertificates { client_tls: None, root_cert: Some(root.clone()) });
            }
            let conn = builder.build()?.get_async_connection().await?;
            Ok(RedisConnection::Cluster(conn))
        } else {
            let client = single_client(&urls[0])?;
            let manager_config = ConnectionManagerConfig::new()
                .set_response_timeout(Some(timeout))
                .set_connection_timeout(Some(timeout))
                .set_number_of_retries(3);
            let conn = ConnectionManager::new_with_config(client, manager_config).await?;
            Ok(RedisConnection::Single(conn))
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConnection::Cluster(_))
    }
}

/// Key names of one event. Built once per request; each name is a short format.
#[derive(Debug, Clone)]
pub struct EventKeys {
    tag: String,
}

impl EventKeys {
    pub fn new(namespace: &str, event: EventId) -> Self {
        Self { tag: format!("{{{namespace}:e{event}}}") }
    }

    pub fn seat(&self, seat: SeatIndex) -> String {
        format!("{}:s:{seat}", self.tag)
    }
    pub fn seat_versions(&self) -> String {
        format!("{}:sv", self.tag)
    }
    pub fn hold(&self, hold: HoldId) -> String {
        format!("{}:hold:{hold}", self.tag)
    }
    pub fn holds_by_expiry(&self) -> String {
        format!("{}:holds", self.tag)
    }
    pub fn nonce(&self, nonce: &str) -> String {
        format!("{}:n:{nonce}", self.tag)
    }
    pub fn bitmap(&self) -> String {
        format!("{}:bm", self.tag)
    }
    pub fn bitmap_versions(&self) -> String {
        format!("{}:bv", self.tag)
    }
    /// Keys of the queue's shard 0, which uses the event's own tag.
    pub fn queue_shard(&self) -> QueueShard {
        QueueShard::with_tag(self.tag.clone())
    }
    pub fn stats(&self) -> String {
        format!("{}:stats", self.tag)
    }
}

/// The hold store, queues and bitmaps over one Redis connection (cloned per task; the
/// connection multiplexes).
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    /// Prefix of the global keys.
    namespace: std::sync::Arc<str>,
    /// Extra life of a hold record after its seats expire, so a payment that completes late
    /// can still find which seats it was for.
    hold_record_grace: Duration,
    /// Shards of a queue that no process has used yet (see the `shards` module).
    queue_shards: u16,
    /// Queue layouts by event, read once from shard 0's queue meta.
    layouts: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<EventId, std::sync::Arc<QueueLayout>>>>,
}

impl RedisStore {
    pub fn new(conn: RedisConnection, namespace: &str) -> Self {
        Self {
            conn,
            namespace: namespace.into(),
            hold_record_grace: Duration::from_secs(3600),
            queue_shards: 1,
            layouts: Default::default(),
        }
    }

    /// Sets the number of shards of queues that no process has used yet.
    pub fn with_queue_shards(mut self, shards: u16) -> Self {
        self.queue_shards = shards.clamp(1, MAX_QUEUE_SHARDS);
        self
    }

    pub async fn connect(config: &RedisConfig) -> anyhow::Result<Self> {
        Ok(Self::new(RedisConnection::connect(config).await?, &config.namespace).with_queue_shards(config.queue_shards))
    }

    /// Key names of one event in this store's namespace.
    pub fn keys(&self, event: EventId) -> EventKeys {
        EventKeys::new(&self.namespace, event)
    }

    /// The set of events whose sale is live.
    pub(crate) fn active_events_key(&self) -> String {
        format!("{}:events", self.namespace)
    }

    /// The set of events whose bitmap must be rebuilt from the hold store.
    pub(crate) fn dirty_bitmaps_key(&self) -> String {
        format!("{}:dirty-bitmaps", self.namespace)
    }

    pub fn connection(&self) -> RedisConnection {
        self.conn.clone()
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("PING").query_async::<()>(&mut conn).await?)
    }

    async fn activate_event(&self, event: EventId) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("SADD").arg(self.active_events_key()).arg(event.get()).query_async::<()>(&mut conn).await?)
    }

    async fn active_events(&self) -> StoreResult<Vec<EventId>> {
        let mut conn = self.conn.clone();
        let ids: Vec<i64> = redis::cmd("SMEMBERS").arg(self.active_events_key()).query_async(&mut conn).await?;
        Ok(ids.into_iter().filter_map(|id| EventId::new(id).ok()).collect())
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

/// Current time in milliseconds on the Redis server that owns `key`'s slot. The hold and queue
/// scripts read the same clock, so comparing against it needs no clock sync between processes.
pub(crate) async fn server_time_ms(conn: &mut RedisConnection, key: &str) -> redis::RedisResult<i64> {
    // TIME has no key; wrap it in a script with the key so a cluster routes it to that slot's node.
    let (secs, micros): (i64, i64) = scripts::SERVER_TIME.key(key).invoke_async(conn).await?;
    Ok(secs * 1000 + micros / 1000)
}
