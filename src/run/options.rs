//! How to run a suite beyond what the suite file says: the library's plain
//! options (the CLI fills them from flags, the `cargo test` gate from the
//! environment).

use crate::error::Error;
use crate::progress::{Progress, ProgressSink, Silent, StderrLines};
use crate::provision::{ProviderKind, ProvisionOptions};

/// How to run a suite, beyond what the suite file says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where PostgreSQL comes from.
    pub provision: ProvisionOptions,
    /// Overrides `probes.cases`.
    pub cases: Option<u32>,
    /// Overrides `probes.seed`.
    pub seed: Option<u64>,
    /// No progress lines on stderr.
    pub quiet: bool,
    /// Receives progress instead of plain stderr lines.
    pub progress: Option<ProgressSink>,
    /// Apply a migrations folder one file at a time, run the static checks
    /// after each and the probes on what each changed, and name the file
    /// that introduced each finding.
    pub per_migration: bool,
    /// Write every statement sent to the scratch database to this file.
    pub log_sql: Option<std::path::PathBuf>,
    /// Cases run at once, each on its own copy of the scratch database
    /// (default: the number of cores, at most 4).
    pub jobs: Option<usize>,
    /// How probe statements are sent (prepared templates unless
    /// `ROWFENCE_PROTOCOL=simple` / `--protocol simple`: the two must agree).
    pub protocol: crate::probe::Protocol,
    /// Probe only this shard's part of the relations (children with their
    /// parents; see [`crate::shard::partition`]); `rowfence merge` combines
    /// the shards' JSON reports.
    pub shard: Option<crate::shard::Shard>,
}

impl RunOptions {
    /// Options from the environment: `ROWFENCE_PROVIDER`, `ROWFENCE_IMAGE`,
    /// `ROWFENCE_DATABASE_URL`, `ROWFENCE_CASES`, `ROWFENCE_SEED`, `ROWFENCE_LOG_SQL`, `ROWFENCE_JOBS`,
    /// `ROWFENCE_SHARD` (`K/N`).
    pub fn from_env() -> Result<RunOptions, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let kind = match var("ROWFENCE_PROVIDER").as_deref() {
            None | Some("auto") => ProviderKind::Auto,
            Some("docker") => ProviderKind::Docker,
            Some("local") => ProviderKind::Local,
            Some("url") => ProviderKind::Url,
            Some(other) => {
                return Err(Error::Config(format!("ROWFENCE_PROVIDER={other}: expected auto, docker, local or url")));
            }
        };
        let num = |k: &str| -> Result<Option<u64>, Error> {
            var(k)
                .map(|v| v.parse::<u64>().map_err(|_| Error::Config(format!("{k}={v}: expected a number"))))
                .transpose()
        };
        Ok(RunOptions {
            provision: ProvisionOptions {
                kind,
                image: var("ROWFENCE_IMAGE"),
                database_url: var("ROWFENCE_DATABASE_URL"),
                ..Default::default()
            },
            cases: num("ROWFENCE_CASES")?.map(|n| n as u32),
            seed: num("ROWFENCE_SEED")?,
            log_sql: var("ROWFENCE_LOG_SQL").map(Into::into),
            jobs: num("ROWFENCE_JOBS")?.map(|n| n as usize),
            protocol: match var("ROWFENCE_PROTOCOL").as_deref() {
                None | Some("prepared") => crate::probe::Protocol::Prepared,
                Some("simple") => crate::probe::Protocol::Simple,
                Some(other) => {
                    return Err(Error::Config(format!("ROWFENCE_PROTOCOL={other}: expected prepared or simple")));
                }
            },
            shard: var("ROWFENCE_SHARD")
                .map(|v| v.parse().map_err(|e: crate::shard::ShardError| Error::Config(format!("ROWFENCE_SHARD: {e}"))))
                .transpose()?,
            ..Default::default()
        })
    }

    /// Where this run reports progress: the given sink, else stderr lines unless quiet.
    pub fn progress(&self) -> &dyn Progress {
        match &self.progress {
            Some(p) => p.0.as_ref(),
            None if self.quiet => &Silent,
            None => &StderrLines,
        }
    }
}
