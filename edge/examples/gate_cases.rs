//! Mints and checks the shared (token, time) table of `edge/tests/gate_cases.json` for the
//! JavaScript runners (the Lambda@Edge handler's tests and the Worker suite in
//! `edge/tests/worker.test.mjs`).
//!
//! Usage:
//!   cargo run -p onsale-edge --example gate_cases -- public-key KEYS_JSON
//!       prints the Ed25519 public key of the admission-token key in an `onsale up` keys.json.
//!   cargo run -p onsale-edge --example gate_cases -- mint KEYS_JSON EVENT_ID FAN_ID OUT_JSON
//!       mints every case at the current instant with that key, for that event and fan.
//!   cargo run -p onsale-edge --example gate_cases -- verify MINTED_JSON [ROWS_JSON]
//!       runs each minted case through the origin's verifier and the edge gate and prints the
//!       table. With ROWS_JSON it also writes the rows there. It exits with 1 if any verdict
//!       differs from the expected one.

#[path = "../tests/support/cases.rs"]
mod cases;

use std::process::ExitCode;

use onsale_shared::token::{SigningKey, TokenAlgorithm};
use onsale_shared::{EventId, FanId};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["public-key", keys] => public_key(keys),
        ["mint", keys, event, fan, out] => mint(keys, event, fan, out),
        ["verify", minted] => verify(minted, None),
        ["verify", minted, rows] => verify(minted, Some(rows)),
        _ => Err("usage: gate_cases public-key KEYS_JSON | mint KEYS_JSON EVENT_ID FAN_ID OUT_JSON \
                  | verify MINTED_JSON [ROWS_JSON]"
            .into()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Reads the admission-token signing key from an `onsale up` keys.json.
fn signing_key(keys_path: &str) -> Result<SigningKey> {
    let text = std::fs::read_to_string(keys_path).map_err(|err| format!("reading {keys_path} failed: {err}"))?;
    let keys: serde_json::Value = serde_json::from_str(&text)?;
    let seed = keys["token_signing_key"].as_str().ok_or_else(|| format!("{keys_path} has no token_signing_key"))?;
    Ok(SigningKey::from_base64(TokenAlgorithm::Ed25519, seed)?)
}

fn public_key(keys_path: &str) -> Result<ExitCode> {
    let key = signing_key(keys_path)?;
    println!("{}", key.verifying_key().public_base64().ok_or("the key has no public half")?);
    Ok(ExitCode::SUCCESS)
}

fn mint(keys_path: &str, event: &str, fan: &str, out: &str) -> Result<ExitCode> {
    let key = signing_key(keys_path)?;
    let event: EventId = event.parse()?;
    let fan: FanId = fan.parse()?;
    let minted = cases::mint(&key, event, &fan, chrono::Utc::now());
    std::fs::write(out, serde_json::to_vec_pretty(&minted)?).map_err(|err| format!("writing {out} failed: {err}"))?;
    Ok(ExitCode::SUCCESS)
}

fn verify(minted_path: &str, rows_path: Option<&str>) -> Result<ExitCode> {
    let text = std::fs::read_to_string(minted_path).map_err(|err| format!("reading {minted_path} failed: {err}"))?;
    let minted: cases::Minted = serde_json::from_str(&text)?;
    let rows = cases::check(&minted);
    print!("{}", cases::render(&rows));
    if let Some(path) = rows_path {
        std::fs::write(path, serde_json::to_vec_pretty(&rows)?)
            .map_err(|err| format!("writing {path} failed: {err}"))?;
    }
    let differing = rows.iter().filter(|row| !row.agrees()).count();
    println!("native: {} passed, {differing} failed", rows.len() - differing);
    Ok(if differing == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
