//! The event pipeline: seat state changes and the TicketStream on Kafka.
//!
//! - [`messages`]: the JSON messages on both topics.
//! - [`log`]: the event log trait, with its Kafka and in-process backends.
//! - [`publisher`]: the seat-change producer of the hold path, which never waits on Kafka.
//! - [`relay`]: moves ticket messages from the order's outbox rows to the TicketStream.

pub mod log;
pub mod messages;
pub mod publisher;
pub mod relay;

pub use messages::{ChangeCause, SeatChangeMessage, TicketMessage};
pub use publisher::SeatChangePublisher;
