//! Types that onsale's origin, edge and frontend share. No I/O: this crate builds for native
//! targets and for `wasm32-unknown-unknown`.
//!
//! Layout:
//! - [`ids`]: identifier newtypes (event, seat, fan, hold, order, ticket) that parse or fail.
//! - [`error`]: the table of stable error codes with their HTTP status.
//! - [`bitmap`]: the availability bitmap, one bit per seat.
//! - [`token`]: admission tokens (JWT, Ed25519 or HS256) and their verifier.
//! - [`ticket`]: signed ticket secrets, verifiable offline at the gate.
//! - [`api`]: request and response bodies of the HTTP and WebSocket API.

pub mod api;
pub mod bitmap;
pub mod error;
pub mod ids;
pub mod ticket;
pub mod token;

pub use bitmap::SeatBitmap;
pub use error::{ErrorBody, ErrorCode};
pub use ids::{EventId, FanId, HoldId, IdError, OrderId, SeatId, SeatIndex, TicketId};
