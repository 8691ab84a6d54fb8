//! Integration tests: real PostgreSQL, never a mock.
//!
//! Local clusters come from the PostgreSQL binaries on the machine; Docker
//! tests run when an engine answers (`ROWFENCE_REQUIRE_DOCKER=1` turns a
//! missing engine into a failure, as CI does).

mod baseline;
mod catalogue;
mod cli;
mod common;
mod coverage;
mod fixtures;
mod gate;
mod holdout;
mod inputs;
mod lifecycle;
mod lint;
mod migrations;
mod outputs;
mod regressions;
mod remediation;
mod shard;
mod speed;
mod versions;
