//! The `cargo test` gate, exactly as a user would add it (see the README):
//! one test per relation x operation x context of the suite.
//!
//! Runs the corrected DexcyJet schema, which must stay isolated.

fn main() {
    rowfence::harness::main(concat!(env!("CARGO_MANIFEST_DIR"), "/suites/dexcyjet-fixed.toml"));
}
