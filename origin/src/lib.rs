//! onsale's origin: the services and workers of a ticket onsale on Redis Cluster, Kafka and
//! PostgreSQL. The `onsale` binary (`main.rs`) is a thin command line over this library.
//!
//! Layout:
//! - [`cli`] and [`config`]: the command line and typed configuration, one struct per concern.
//! - [`app`]: wiring; builds the shared state and runs each role.
//! - [`http`]: the API (SearchService, WaitingRoomService, SeatService, operator routes).
//! - [`store`]: Redis: seat holds, queues and availability bitmaps, each operation one Lua script.
//! - [`pipeline`]: Kafka: the seat-change producer, the outbox relay and the message types.
//! - [`db`]: EventDB and OrderDB, on PostgreSQL or SQLite, chosen by the `--database-url` scheme.
//! - [`waiting_room`]: the admitter and the per-process queue watch.
//! - [`workers`]: notification (bitmaps), ticket (QR emails) and expiry workers.
//! - [`mail`]: ticket emails: QR code rendering, message building, delivery by SMTP or to files.
//! - [`catalog`]: in-process cache of seat prices per event.
//! - [`plan`] and [`seed`]: pretix seating plans, the stadium generator and the tour-date seed.
//! - [`payment`], [`session`], [`clock`]: payment providers, fan sessions, the injectable clock.
//! - [`up`]: `onsale up`, every role in one process, on embedded engines unless configured.
//! - [`demo`]: the scripted onsale client.
//! - [`loadtest`]: many fans by an arrival pattern, with the report, plots and JSON of a load test.

pub mod app;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod http;
pub mod loadtest;
pub mod mail;
pub mod payment;
pub mod pipeline;
pub mod plan;
pub mod seed;
pub mod session;
pub mod store;
pub mod up;
pub mod waiting_room;
pub mod workers;
