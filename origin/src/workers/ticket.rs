//! TicketWorker: consumes the TicketStream, signs each ticket's secret, renders it as a QR code
//! and emails it, once per ticket however often a message is delivered.
//!
//! Kafka delivers at least once, and a rebalance can hand one message to two instances, so
//! "once" rests on a claim in the database, not on offsets. Before sending, a worker claims the
//! ticket with one conditional `UPDATE` that succeeds only if the ticket is not yet emailed and
//! no other worker has an unexpired claim on it. After the send it records `emailed_at`, and
//! after a failed send it clears its claim so a retry can send.
//!
//! - SMTP: at most one send per ticket, except when a worker crashes between sending and
//!   recording. Then the claim expires after [`CLAIM_LEASE`] and another worker sends again,
//!   with the same Message-ID, so the fan's mail client shows one email.
//! - Mail directory: the file is named by the ticket id and never overwritten, so a second
//!   write of the same ticket, from any cause, changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use rand::RngCore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use onsale_shared::ticket::{TicketClaims, sign_ticket};
use onsale_shared::{OrderId, TicketId};

use crate::config::{KafkaConfig, TicketConfig};
use crate::db::{SharedDatabase, TicketForEmail};
use crate::mail::{self, MailSink, RenderError, SendError, TicketEmail};
use crate::pipeline::TicketMessage;
use crate::pipeline::log::{LogConsumer, OffsetCommitter, SharedLog};

/// Maximum number of ticket messages handled at once. One event's tickets share a partition, so
/// handling a partition's messages one by one would send one email at a time during its onsale.
const MAX_IN_FLIGHT: usize = 16;

/// How long a claim keeps other workers from sending the same ticket. It must exceed the
/// longest send, and SMTP commands time out after [`mail::SMTP_TIMEOUT`] each.
pub const CLAIM_LEASE: Duration = Duration::from_secs(120);
const _: () = assert!(CLAIM_LEASE.as_secs() >= 4 * mail::SMTP_TIMEOUT.as_secs());

/// How often a worker checks whether another worker's claim ended in a send or expired.
const CLAIM_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often finished offsets are committed.
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);

/// Attempts at a message that fails permanently (a 5xx reply, a ticket that does not match its
/// message) before it is skipped, in case the cause was a misconfiguration that gets fixed.
const PERMANENT_ATTEMPTS: u32 = 3;

/// Attempts at recording a sent email before the message is retried as a whole.
const RECORD_ATTEMPTS: u32 = 8;

/// Consumes the TicketStream in consumer group `<prefix>.ticket` until `shutdown` fires.
pub async fn run(
    log: SharedLog,
    kafka: &KafkaConfig,
    tickets: &TicketConfig,
    db: SharedDatabase,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let worker = Arc::new(TicketWorker::from_config(tickets, db)?);
    let group = format!("{}.ticket", kafka.group_prefix);
    let mut consumer = log.subscribe(&group, &kafka.ticket_topic).await?;
    tracing::info!(
        topic = %kafka.ticket_topic,
        log.backend = log.backend(),
        ticket.public_key = %worker.public_key_base64(),
        mail.sink = %worker.sink.describe(),
        "ticket worker started"
    );
    consume(worker, consumer.as_mut(), shutdown).await;
    tracing::info!("ticket worker stopped");
    Ok(())
}

/// Decodes `--ticket-signing-key`, or makes a random key, with a warning, when none is set.
pub fn signing_key(config: &TicketConfig) -> anyhow::Result<ed25519_dalek::SigningKey> {
    let Some(encoded) = &config.signing_key else {
        tracing::warn!(
            "no ticket signing key configured: using a random key, so tickets of this run do not verify with \
             the key of any other instance or run"
        );
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        return Ok(ed25519_dalek::SigningKey::from_bytes(&seed));
    };
    let bytes = onsale_shared::token::decode_base64(encoded.expose())
        .ok_or_else(|| anyhow::anyhow!("invalid --ticket-signing-key: not valid base64"))?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!("invalid --ticket-signing-key: expected a 32-byte Ed25519 seed, got {} bytes", bytes.len())
    })?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// Outcome of handling one ticket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// This call sent the email (or found its `.eml` file written) and recorded it.
    Sent,
    /// The ticket was emailed before, so the message is a redelivery.
    AlreadySent,
    /// Another worker has an unexpired claim on the ticket. Try again later, because that claim
    /// ends in a send, or in a release or expiry that lets this worker send.
    ClaimedElsewhere,
}

/// A ticket message that could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The message or the rows it names cannot become an email. The text names no address and
    /// no secret.
    #[error("{0}")]
    Rejected(String),
}

impl HandleError {
    /// Returns whether a retry is unlikely to help.
    pub fn is_permanent(&self) -> bool {
        match self {
            HandleError::Database(_) => false,
            HandleError::Send(err) => err.is_permanent(),
            HandleError::Render(_) | HandleError::Rejected(_) => true,
        }
    }
}

/// Signs, renders and sends the email of one ticket message at a time. Clones share the pool
/// and the SMTP transport.
#[derive(Clone)]
pub struct TicketWorker {
    db: SharedDatabase,
    key: ed25519_dalek::SigningKey,
    sink: MailSink,
    from: Mailbox,
}

impl TicketWorker {
    pub fn new(db: SharedDatabase, key: ed25519_dalek::SigningKey, sink: MailSink, from: Mailbox) -> Self {
        Self { db, key, sink, from }
    }

    /// Builds a worker from `--ticket-signing-key`, `--smtp-url`, `--mail-dir` and `--mail-from`.
    pub fn from_config(config: &TicketConfig, db: SharedDatabase) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|err| anyhow::anyhow!("invalid --mail-from {:?}: {err}", config.mail_from))?;
        let key = signing_key(config)?;
        let sink = MailSink::from_config(config)?;
        Ok(Self::new(db, key, sink, from))
    }

    /// Returns the key that gate scanners verify ticket secrets with.
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// Returns the verifying key in standard base64, the form gate scanners are configured with.
    pub fn public_key_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.verifying_key().to_bytes())
    }

    /// Handles one ticket message once: loads the ticket, signs and stores its secret, claims
    /// it, sends its email and records the send. Redelivered messages return
    /// [`Handled::AlreadySent`] without sending.
    pub async fn handle(&self, message: &TicketMessage) -> Result<Handled, HandleError> {
        let ticket = message.ticket_id;
        let Some(row) = self.db.ticket_for_email(ticket).await? else {
            return Err(HandleError::Rejected(format!("ticket {ticket} not found")));
        };
        check_matches(&row, message)?;
        if row.emailed_at.is_some() {
            return Ok(Handled::AlreadySent);
        }

        let secret = self.store_secret(message, &row).await?;
        let to = recipient(&row, message)?;
        let email = ticket_email(message, row, secret)?;
        let mail = mail::build_ticket_message(&email, &self.from, to)?;

        let Some(claimed_at) = self.claim(ticket).await? else {
            return Ok(if self.db.is_ticket_emailed(ticket).await? {
                Handled::AlreadySent
            } else {
                Handled::ClaimedElsewhere
            });
        };
        if let Err(err) = self.sink.deliver(ticket, mail).await {
            self.release(ticket, claimed_at).await;
            return Err(err.into());
        }
        self.record_sent(ticket).await?;
        Ok(Handled::Sent)
    }

    /// Handles a message until it is sent, found sent, or skipped, retrying failures with
    /// backoff. Returns false when `shutdown` fired first, so its offset must not be committed.
    pub async fn process(&self, message: &TicketMessage, shutdown: &CancellationToken) -> bool {
        let mut failures = 0u32;
        let mut permanent_failures = 0u32;
        loop {
            let delay = match self.handle(message).await {
                Ok(Handled::Sent) => {
                    tracing::debug!(ticket.id = %message.ticket_id, order.id = %message.order_id, "ticket emailed");
                    return true;
                }
                Ok(Handled::AlreadySent) => {
                    tracing::debug!(ticket.id = %message.ticket_id, "ticket already emailed; skipping the redelivered message");
                    return true;
                }
                Ok(Handled::ClaimedElsewhere) => {
                    tracing::debug!(ticket.id = %message.ticket_id, "another worker is sending this ticket; waiting for it");
                    CLAIM_POLL_INTERVAL
                }
                Err(err) if err.is_permanent() => {
                    permanent_failures += 1;
                    if permanent_failures >= PERMANENT_ATTEMPTS {
                        tracing::error!(
                            ticket.id = %message.ticket_id,
                            order.id = %message.order_id,
                            event.id = %message.event_id,
                            cause = %err,
                            attempts = permanent_failures,
                            "skipping a ticket message that failed permanently; the ticket stays unsent"
                        );
                        return true;
                    }
                    tracing::warn!(ticket.id = %message.ticket_id, cause = %err, "handling a ticket message failed; retrying");
                    backoff(permanent_failures)
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(
                            ticket.id = %message.ticket_id,
                            cause = %err,
                            failures,
                            "handling a ticket message failed; retrying"
                        );
                    }
                    backoff(failures)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Returns the ticket's stored secret, signing and storing one first if it has none. The
    /// claims come from the ticket and its order only, so every worker signs the same secret
    /// with the same key, and a secret stored earlier wins over a new one.
    async fn store_secret(&self, message: &TicketMessage, row: &TicketForEmail) -> Result<String, sqlx::Error> {
        if let Some(secret) = &row.secret {
            return Ok(secret.clone());
        }
        let issued_at = DateTime::from_timestamp(row.ordered_at.timestamp(), 0).unwrap_or(row.ordered_at);
        let claims = TicketClaims { ticket: message.ticket_id, event: message.event_id, seat: message.seat, issued_at };
        let secret = sign_ticket(&self.key, &claims);
        self.db.store_ticket_secret(message.ticket_id, &secret).await
    }

    /// Claims the ticket for sending. Returns the claim time, or `None` when the ticket was
    /// emailed or another worker has a claim younger than [`CLAIM_LEASE`].
    async fn claim(&self, ticket: TicketId) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        self.db.claim_ticket_email(ticket, CLAIM_LEASE).await
    }

    /// Clears this worker's claim after a failed send, so a retry need not wait for the lease.
    /// A claim that expired and was taken by another worker since is left alone.
    async fn release(&self, ticket: TicketId, claimed_at: DateTime<Utc>) {
        if let Err(err) = self.db.release_ticket_claim(ticket, claimed_at).await {
            tracing::warn!(
                ticket.id = %ticket,
                cause = %err,
                "releasing a ticket claim failed; the ticket is sent again when its claim expires"
            );
        }
    }

    /// Records the send, retrying while the database fails, because a send that is not recorded
    /// is sent again when its claim expires.
    async fn record_sent(&self, ticket: TicketId) -> Result<(), sqlx::Error> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.db.record_ticket_emailed(ticket).await {
                Ok(_) => return Ok(()),
                Err(err) if attempt >= RECORD_ATTEMPTS => return Err(err),
                Err(err) => {
                    tracing::warn!(ticket.id = %ticket, cause = %err, attempt, "recording a sent ticket email failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }
}

/// Rejects a message whose order, event or seat differ from the ticket's row. The database is the
/// record, and a message that contradicts it is corrupt.
fn check_matches(row: &TicketForEmail, message: &TicketMessage) -> Result<(), HandleError> {
    let matches = row.order_id == message.order_id.as_uuid()
        && row.event_id == message.event_id.get()
        && i64::from(row.seat_index) == i64::from(message.seat.get());
    if matches {
        Ok(())
    } else {
        Err(HandleError::Rejected(format!(
            "ticket {} does not match its message: the row has order {}, event {}, seat {}",
            message.ticket_id, row.order_id, row.event_id, row.seat_index
        )))
    }
}

fn recipient(row: &TicketForEmail, message: &TicketMessage) -> Result<Mailbox, HandleError> {
    let address = row
        .email
        .parse()
        .map_err(|_| HandleError::Rejected(format!("order {} has an invalid email address", message.order_id)))?;
    Ok(Mailbox::new(None, address))
}

fn ticket_email(message: &TicketMessage, row: TicketForEmail, secret: String) -> Result<TicketEmail, HandleError> {
    let (Some(zone), Some(row_number), Some(seat_number)) = (row.zone, row.row_number, row.seat_number) else {
        return Err(HandleError::Rejected(format!(
            "seat {} of event {} is not in the event's seating plan",
            message.seat, message.event_id
        )));
    };
    Ok(TicketEmail {
        ticket: message.ticket_id,
        order: OrderId::from_uuid(row.order_id),
        event_name: row.event_name,
        starts_at: row.starts_at,
        local_date: row.local_date,
        venue_name: row.venue_name,
        venue_city: row.venue_city,
        zone,
        row: row_number,
        seat_number,
        secret,
    })
}

/// Doubles from 100 ms per failure, up to 5 s.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_millis(100 << exponent).min(Duration::from_secs(5))
}

/// Reads the ticket topic and handles up to [`MAX_IN_FLIGHT`] messages at once, committing per
/// partition only offsets below every unfinished message.
///
/// NOTE: while all slots retry (SMTP or PostgreSQL down) the stream is not polled. Past
/// librdkafka's `max.poll.interval.ms` (300 s by default) the consumer leaves its group, and the
/// messages it held go to another member, which waits on their claims or finds them sent.
async fn consume(worker: Arc<TicketWorker>, consumer: &mut dyn LogConsumer, shutdown: CancellationToken) {
    let committer = consumer.committer();
    let mut offsets = OffsetTracker::default();
    let mut tasks: JoinSet<Option<(i32, i64)>> = JoinSet::new();
    let mut commit_tick = tokio::time::interval(COMMIT_INTERVAL);
    commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut consumer_errors = 0u32;

    loop {
        let has_free_slot = tasks.len() < MAX_IN_FLIGHT;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => finish_task(&mut offsets, joined),
            _ = commit_tick.tick() => commit(committer.as_ref(), offsets.changed_commits()).await,
            message = consumer.next(), if has_free_slot => {
                let message = match message {
                    Ok(message) => message,
                    Err(err) => {
                        consumer_errors += 1;
                        if consumer_errors == 1 || consumer_errors.is_multiple_of(50) {
                            tracing::warn!(cause = %err, errors = consumer_errors, "reading ticket messages failed");
                        }
                        continue;
                    }
                };
                let (partition, offset) = (message.partition, message.offset);
                offsets.start(partition, offset);
                match serde_json::from_slice::<TicketMessage>(&message.payload) {
                    Ok(ticket) => {
                        let worker = worker.clone();
                        let shutdown = shutdown.clone();
                        tasks.spawn(async move { worker.process(&ticket, &shutdown).await.then_some((partition, offset)) });
                    }
                    Err(_) => {
                        tracing::warn!(partition, offset, "skipping a ticket message that is not valid ticket message JSON");
                        offsets.finish(partition, offset);
                    }
                }
            }
        }
    }

    // Handlers stop at their next retry once `shutdown` fires; a send under way finishes first,
    // so its offset can still be committed.
    while let Some(joined) = tasks.join_next().await {
        finish_task(&mut offsets, joined);
    }
    let commits = offsets.all_commits();
    if let Err(err) = committer.commit_and_wait(&commits).await {
        tracing::debug!(cause = %err, "committing ticket offsets at shutdown failed; those messages come again");
    }
}

fn finish_task(offsets: &mut OffsetTracker, joined: Result<Option<(i32, i64)>, tokio::task::JoinError>) {
    match joined {
        Ok(Some((partition, offset))) => offsets.finish(partition, offset),
        // Stopped by shutdown: the offset stays uncommitted, so the message is delivered again.
        Ok(None) => {}
        // The offset stays in flight, which holds back this partition's commits until a
        // restart delivers the message again.
        Err(err) => tracing::error!(cause = %err, "a ticket message handler panicked"),
    }
}

async fn commit(committer: &dyn OffsetCommitter, commits: Vec<(i32, i64)>) {
    // A failed commit only means that these messages are delivered again after a restart or a
    // rebalance, where they are found sent.
    if let Err(err) = committer.commit(&commits).await {
        tracing::debug!(cause = %err, "committing ticket offsets failed; the next commit covers them");
    }
}

/// Consumed offsets per partition, to commit only past messages that are fully handled.
#[derive(Debug, Default)]
struct OffsetTracker {
    partitions: BTreeMap<i32, PartitionProgress>,
}

#[derive(Debug, Default)]
struct PartitionProgress {
    /// Offsets consumed and not yet handled, with a count, because a partition that is revoked
    /// and assigned back can deliver an offset again while its first copy is still handled.
    in_flight: BTreeMap<i64, u32>,
    /// One past the highest offset consumed.
    next: i64,
    /// The offset last committed.
    committed: Option<i64>,
}

impl PartitionProgress {
    /// Returns the offset to commit: the lowest unfinished offset, or one past the highest
    /// consumed when none is unfinished.
    fn committable(&self) -> i64 {
        self.in_flight.keys().next().copied().unwrap_or(self.next)
    }
}

impl OffsetTracker {
    fn start(&mut self, partition: i32, offset: i64) {
        let progress = self.partitions.entry(partition).or_default();
        *progress.in_flight.entry(offset).or_default() += 1;
        progress.next = progress.next.max(offset + 1);
    }

    fn finish(&mut self, partition: i32, offset: i64) {
        let Some(progress) = self.partitions.get_mut(&partition) else { return };
        if let Some(count) = progress.in_flight.get_mut(&offset) {
            *count -= 1;
            if *count == 0 {
                progress.in_flight.remove(&offset);
            }
        }
    }

    /// Returns the offsets to commit where they moved since the last commit, and marks them
    /// committed.
    fn changed_commits(&mut self) -> Vec<(i32, i64)> {
        let mut commits = Vec::new();
        for (partition, progress) in &mut self.partitions {
            let offset = progress.committable();
            if progress.committed != Some(offset) {
                progress.committed = Some(offset);
                commits.push((*partition, offset));
            }
        }
        commits
    }

    /// Returns the offsets to commit for every partition consumed, moved or not.
    fn all_commits(&mut self) -> Vec<(i32, i64)> {
        for progress in self.partitions.values_mut() {
            progress.committed = None;
        }
        self.changed_commits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_stops_at_lowest_unfinished() {
        let mut offsets = OffsetTracker::default();
        for offset in 10..15 {
            offsets.start(0, offset);
        }
        offsets.finish(0, 10);
        offsets.finish(0, 12);
        offsets.finish(0, 13);
        assert_eq!(offsets.changed_commits(), vec![(0, 11)]);
        offsets.finish(0, 11);
        assert_eq!(offsets.changed_commits(), vec![(0, 14)]);
        offsets.finish(0, 14);
        assert_eq!(offsets.changed_commits(), vec![(0, 15)]);
    }

    #[test]
    fn unchanged_partitions_are_not_recommitted() {
        let mut offsets = OffsetTracker::default();
        offsets.start(0, 0);
        offsets.start(1, 5);
        offsets.finish(0, 0);
        offsets.finish(1, 5);
        assert_eq!(offsets.changed_commits(), vec![(0, 1), (1, 6)]);
        assert!(offsets.changed_commits().is_empty());
        offsets.start(1, 6);
        offsets.finish(1, 6);
        assert_eq!(offsets.changed_commits(), vec![(1, 7)]);
        assert_eq!(offsets.all_commits(), vec![(0, 1), (1, 7)]);
    }

    #[test]
    fn redelivered_offset_waits_for_both_copies() {
        let mut offsets = OffsetTracker::default();
        offsets.start(0, 3);
        offsets.start(0, 3);
        offsets.finish(0, 3);
        assert_eq!(offsets.changed_commits(), vec![(0, 3)]);
        offsets.finish(0, 3);
        assert_eq!(offsets.changed_commits(), vec![(0, 4)]);
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(6), Duration::from_millis(3200));
        assert_eq!(backoff(7), Duration::from_secs(5));
        assert_eq!(backoff(1000), Duration::from_secs(5));
    }
}
