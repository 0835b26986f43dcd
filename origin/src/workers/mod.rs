//! Background workers, each safe to run on several instances and to repeat work:
//!
//! - [`notification`]: seat changes into availability bitmaps.
//! - [`ticket`]: TicketStream into signed QR tickets by email.
//! - [`expiry`]: expired holds back to sale.

pub mod expiry;
pub mod notification;
pub mod ticket;
