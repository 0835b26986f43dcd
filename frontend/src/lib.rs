//! onsale's web app for fans: browse events, watch the live seat map, wait in the queue, hold
//! seats, pay and get tickets. Leptos renders it in the browser from WebAssembly; the origin
//! (or a CDN) serves the built files, and `scripts/build-frontend.sh` builds them.
//!
//! Layout. The modules at the top are plain Rust with no browser in them, so that
//! `cargo test -p onsale-frontend` runs them natively:
//! - [`messages`]: the fan-facing message and next step for every error code.
//! - [`failure`]: a failed request read into a code, with its message.
//! - [`format`]: prices, counts, waiting times, countdowns, dates, queue progress.
//! - [`seatmap`]: seat map layout, hit-testing, bitmap diffs, keyboard moves, picking rules.
//! - [`qr`]: ticket QR codes as SVG.
//! - [`stored`]: what the app keeps in localStorage, and server-to-browser clock arithmetic.
//!
//! `web` contains the user interface and exists only on `wasm32`: the pages, the canvas seat map,
//! the HTTP and WebSocket client and the browser storage.

pub mod failure;
pub mod format;
pub mod messages;
pub mod qr;
pub mod seatmap;
pub mod stored;

#[cfg(target_arch = "wasm32")]
mod web;
