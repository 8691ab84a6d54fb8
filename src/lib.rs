//! rowfence proves (or disproves) that a PostgreSQL schema's row-level
//! security keeps tenants apart.
//!
//! The pipeline, one module per stage:
//! [`suite`] -> [`provision`] -> [`schema`] -> [`catalog`] -> [`ownership`] ->
//! [`generate`] -> [`probe`] -> [`report`].
//!
//! ```no_run
//! # async fn f() -> Result<(), rowfence::Error> {
//! let suite = rowfence::Suite::load("suites/dexcyjet.toml")?;
//! let report = suite.check().await?;
//! println!("{:?}", report.verdict);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

/// A line on stderr for the user. Unlike `eprintln!`, a closed stderr (a
/// parent that stopped reading) must not turn clean-up into a panic.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use note;

pub mod bench;
pub mod catalog;
pub mod context;
pub mod db;
mod error;
pub mod finding;
pub mod formats;
pub mod generate;
pub mod harness;
pub mod lint;
mod measure;
pub mod ownership;
pub mod policy;
pub mod probe;
pub mod progress;
pub mod provision;
pub mod remediation;
pub mod report;
pub mod rules;
mod run;
pub mod schema;
pub mod shard;
pub mod suite;
pub mod versions;
pub mod vocab;

pub use error::Error;
pub use progress::{Progress, ProgressSink};
pub use report::versions::VersionMatrix;
pub use report::{Finding, Report, Verdict};
pub use run::{RunOptions, check, lint};
pub use suite::Suite;

impl Suite {
    /// Checks this suite with options from the environment (see [`RunOptions::from_env`]).
    pub async fn check(&self) -> Result<Report, Error> {
        check(self, &RunOptions::from_env()?).await
    }
}
