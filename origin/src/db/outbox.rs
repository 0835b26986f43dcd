//! The outbox: messages written in an order's transaction, read by the relay, and deleted once
//! the event log has them.

use async_trait::async_trait;

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    /// Logical topic, such as [`TICKETS`](crate::pipeline::relay::TICKETS).
    pub topic: String,
    pub key: String,
    /// The message as JSON bytes.
    pub payload: Vec<u8>,
}

/// The oldest outbox messages, taken by one relay until [`OutboxBatch::finish`].
pub struct OutboxBatch {
    pub messages: Vec<OutboxMessage>,
    lease: Box<dyn OutboxLease>,
}

impl OutboxBatch {
    pub(crate) fn new(messages: Vec<OutboxMessage>, lease: Box<dyn OutboxLease>) -> Self {
        Self { messages, lease }
    }

    /// Deletes the delivered messages and lets go of the batch. Messages not in `delivered`
    /// stay for the next batch.
    pub async fn finish(self, delivered: &[i64]) -> Result<(), sqlx::Error> {
        self.lease.finish(delivered).await
    }
}

/// A backend's hold on a batch until it is finished: a transaction with the rows locked, or nothing.
#[async_trait]
pub(crate) trait OutboxLease: Send {
    async fn finish(self: Box<Self>, delivered: &[i64]) -> Result<(), sqlx::Error>;
}
