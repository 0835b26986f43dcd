//! Admission token signing and verification, for both algorithms. The admitter signs one token
//! per admitted fan, and every seat request verifies one at the edge and again at the origin.
//!
//! Run: `cargo bench -p onsale-shared --bench tokens`.

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use onsale_shared::token::{SigningKey, TokenAlgorithm, TokenIssuer, TokenVerifier};
use onsale_shared::{EventId, FanId};

fn bench_algorithm(c: &mut Criterion, algorithm: TokenAlgorithm) {
    let key = SigningKey::generate(algorithm);
    let verifier = TokenVerifier::new(key.verifying_key());
    let issuer = TokenIssuer::new(key);
    let fan: FanId = "0f1e2d3c4b5a69788796a5b4c3d2e1f0".parse().unwrap();
    let event = EventId::new(42).unwrap();
    let now: DateTime<Utc> = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let token = issuer.issue(&fan, event, now).token;

    c.bench_function(&format!("token sign {algorithm}"), |b| b.iter(|| issuer.issue(black_box(&fan), event, now)));
    c.bench_function(&format!("token verify {algorithm}"), |b| {
        b.iter(|| verifier.verify_for(black_box(&token), event, Some(&fan), now).unwrap())
    });
}

fn tokens(c: &mut Criterion) {
    bench_algorithm(c, TokenAlgorithm::Ed25519);
    bench_algorithm(c, TokenAlgorithm::Hs256);
}

criterion_group!(benches, tokens);
criterion_main!(benches);
