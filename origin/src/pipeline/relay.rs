//! The outbox relay: sends the ticket messages that confirmations wrote into the `outbox` table,
//! in their own transaction, and deletes each row once the event log has stored it. Kafka being
//! down at commit time therefore delays tickets but loses none. On PostgreSQL a batch's rows are
//! locked with `SKIP LOCKED`, so several relays can run. A crash after delivery and before the
//! delete sends the message again, which the ticket worker ignores.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::log::SharedLog;
use crate::config::KafkaConfig;
use crate::db::SharedDatabase;

/// Logical topic name of ticket messages in the outbox.
pub const TICKETS: &str = "tickets";

/// Rows sent per round trip.
const BATCH: u32 = 500;

pub struct OutboxRelay {
    db: SharedDatabase,
    log: SharedLog,
    ticket_topic: String,
    /// Confirmations notify it after commit, so tickets leave at once instead of at the next poll.
    wake: Arc<Notify>,
}

impl OutboxRelay {
    pub fn new(config: &KafkaConfig, db: SharedDatabase, log: SharedLog, wake: Arc<Notify>) -> Self {
        Self { db, log, ticket_topic: config.ticket_topic.clone(), wake }
    }

    /// Relays until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(topic = %self.ticket_topic, "outbox relay started");
        let mut failures = 0u32;
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => break,
                outcome = self.relay_batch() => outcome,
            };
            match outcome {
                Ok(0) => {
                    failures = 0;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                Ok(sent) => {
                    failures = 0;
                    tracing::debug!(messages = sent, "relayed outbox messages");
                }
                Err(err) => {
                    failures += 1;
                    let backoff = Duration::from_millis(200 * u64::from(failures.min(10)));
                    if failures == 1 || failures.is_multiple_of(50) {
                        tracing::warn!(cause = format!("{err:#}"), failures, "outbox relay failed; retrying");
                    }
                    tokio::time::sleep(backoff).await;
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Sends one batch and deletes what Kafka acknowledged. Returns how many were sent.
    pub async fn relay_batch(&self) -> anyhow::Result<usize> {
        let batch = self.db.lease_outbox(BATCH).await?;
        if batch.messages.is_empty() {
            batch.finish(&[]).await?;
            return Ok(0);
        }

        let sends = batch.messages.iter().map(|message| {
            let topic = if message.topic == TICKETS { self.ticket_topic.as_str() } else { message.topic.as_str() };
            self.log.send(topic, message.key.as_bytes(), &message.payload, Duration::from_secs(15))
        });
        let results = join_all(sends).await;

        let mut delivered = Vec::with_capacity(results.len());
        let mut first_error = None;
        for (message, result) in batch.messages.iter().zip(results) {
            match result {
                Ok(_) => delivered.push(message.id),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        batch.finish(&delivered).await?;
        match first_error {
            Some(err) if delivered.is_empty() => Err(anyhow::anyhow!("the event log rejected the outbox batch: {err}")),
            Some(err) => {
                tracing::warn!(delivered = delivered.len(), cause = %err, "part of an outbox batch was not delivered; retrying it");
                Ok(delivered.len())
            }
            None => Ok(delivered.len()),
        }
    }
}
