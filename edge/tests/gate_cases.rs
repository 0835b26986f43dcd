//! The shared (token, time) table, run natively: every case of `gate_cases.json` through the
//! origin's verifier and the edge gate, at a fixed instant with a fixed key.

#[path = "support/cases.rs"]
mod cases;

use chrono::DateTime;
use onsale_shared::token::SigningKey;
use onsale_shared::{EventId, FanId};

fn minted() -> cases::Minted {
    let key = SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    let fan: FanId = "fan-1".parse().unwrap();
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    cases::mint(&key, EventId::new(7).unwrap(), &fan, now)
}

#[test]
fn origin_and_edge_agree_on_every_case() {
    let rows = cases::check(&minted());
    let table = cases::render(&rows);
    println!("{table}");
    for row in &rows {
        assert_eq!(row.origin, row.expect, "origin verifier, case {:?}\n{table}", row.name);
        assert_eq!(row.edge, row.expect, "edge gate, case {:?}\n{table}", row.name);
    }
}

#[test]
fn table_covers_the_attack_list() {
    let rows = cases::check(&minted());
    let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
    for required in [
        "no header",
        "wrong algorithm (HS256)",
        "wrong key",
        "expired 6 s ago, past the leeway",
        "other event",
        "garbage",
        "10 KB header",
        "non-UTF-8 bytes",
    ] {
        assert!(names.contains(&required), "gate_cases.json has no case {required:?}");
    }
}

#[test]
fn minted_headers_have_the_stated_shape() {
    let minted = minted();
    let header = |name: &str| minted.cases.iter().find(|case| case.name == name).unwrap().header_bytes();
    assert_eq!(header("10 KB header").unwrap().len(), 10_240);
    assert!(std::str::from_utf8(&header("non-UTF-8 bytes").unwrap()).is_err());
    assert!(header("no header").is_none());
    let valid = String::from_utf8(header("valid token").unwrap()).unwrap();
    assert_eq!(valid.split('.').count(), 3);
}
