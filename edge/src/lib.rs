//! The CDN gate, written once and compiled to WebAssembly for two hosts: a Cloudflare Worker and
//! a CloudFront Lambda@Edge viewer-request handler.
//!
//! Seat holds, releases and confirmations need an admission token for the event in the path. The
//! gate checks the token's signature with the public key only, so the edge cannot mint tokens. It
//! checks the expiry with the origin's leeway and the event against the path. A request that fails
//! gets the 403 body the origin would send, with the same stable error code, and never reaches the
//! origin. Browse routes and static app files go through the edge cache as far as the origin's
//! `Cache-Control` allows, and the availability bitmap is cached for one second. Queue join,
//! status and the queue WebSocket pass through.
//!
//! The edge does not check the fan session: its HMAC secret stays at the origin, which checks the
//! fan again, together with the token and its nonce's single use.
//!
//! Layout:
//! - [`route`]: classifies a request by method and path.
//! - [`gate`]: the gate decision: header checks, token verification, the rejection body.
//! - [`config`]: the gate's configuration (algorithm, public key, leeway) and its validation.
//! - [`cache`]: which origin responses the edge may store, and for how long.
//! - `worker` (feature `worker`, wasm32): the Cloudflare Worker glue, with the Cache API.
//! - `lambda` (feature `lambda`, wasm32): the Lambda@Edge glue, exported with wasm-bindgen for
//!   Node.js; `edge/lambda/handler.js` turns a CloudFront event into a call.
//!
//! Everything outside the glue is pure: no clock, no I/O. Time comes from the host runtime as an
//! argument (JavaScript's `Date.now()` in both hosts), so the native tests pass any instant.

// A panic aborts the Worker's isolate, so the request path must not contain one.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod cache;
pub mod config;
pub mod gate;
pub mod route;

#[cfg(all(target_arch = "wasm32", feature = "lambda"))]
mod lambda;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod worker;

pub use config::{ConfigError, GateConfig};
pub use gate::{Decision, Gate, Rejection};
pub use route::RouteClass;
