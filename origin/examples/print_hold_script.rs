//! Prints the Lua source of the origin's HOLD script, byte for byte as the Redis store loads it,
//! so `bench/engine-ceilings.sh` can `SCRIPT LOAD` it and call it with redis-benchmark.
//!
//! Run: `cargo run -q -p onsale-origin --example print_hold_script > hold.lua`.

use std::io::Write;

fn main() -> std::io::Result<()> {
    std::io::stdout().write_all(onsale_origin::store::redis::hold_script_source().as_bytes())
}
