//! The waiting room's background parts: the [`admitter`] that lets fans in at the configured
//! rate, and the per-instance [`watch`] of queue counters that WebSockets read.

pub mod admitter;
pub mod watch;
