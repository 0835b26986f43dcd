//! Integration tests of the origin against real engines: Redis Cluster, Kafka and PostgreSQL.
//! One test binary, so the crate links once. Start the engines with `scripts/services.sh start`.

mod common;
mod demo;
mod failover;
mod holds;
mod outage;
mod pipeline;
mod queue;
mod sales;
mod search;
#[path = "../plan_support/search_http.rs"]
mod search_http;
mod tls;
mod tokens;
