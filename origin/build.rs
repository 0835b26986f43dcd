//! Rebuilds the crate when a migration is added or removed: `sqlx::migrate!` compiles the
//! migration directories in, and Cargo only notices changes to files it has seen.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
