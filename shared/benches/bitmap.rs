//! The availability bitmap of a 72,483-seat stadium: reading the bytes Redis returns (what the
//! origin does per bitmap request) and flipping seats (what the frontend does per change).
//!
//! Run: `cargo bench -p onsale-shared --bench bitmap`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use onsale_shared::{SeatBitmap, SeatIndex};

const SEATS: u32 = 72_483;

fn bitmap(c: &mut Criterion) {
    let mut map = SeatBitmap::all_free(SEATS);
    for seat in (0..SEATS).step_by(3) {
        map.set_unavailable(SeatIndex::new(seat).unwrap(), true);
    }
    let bytes = map.as_bytes().to_vec();

    c.bench_function("bitmap decode 72483 seats", |b| {
        b.iter(|| SeatBitmap::from_bytes(SEATS, black_box(&bytes)).unwrap())
    });
    c.bench_function("bitmap count unavailable", |b| b.iter(|| black_box(&map).count_unavailable()));
    c.bench_function("bitmap flip 1000 seats", |b| {
        b.iter(|| {
            let mut copy = map.clone();
            for seat in (0..1000).map(|i| SeatIndex::new(i * 72).unwrap()) {
                copy.set_unavailable(seat, true);
            }
            copy
        })
    });
}

criterion_group!(benches, bitmap);
criterion_main!(benches);
