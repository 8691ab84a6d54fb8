//! Command-line flags, turned into the library's plain run options.
//! The library never sees clap.

pub mod output;
pub mod versions;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use rowfence::RunOptions;
use rowfence::provision::{ProviderKind, ProvisionOptions};

/// Proves (or disproves) that a PostgreSQL schema's row-level security keeps tenants apart.
///
/// Exit codes: 0 isolated, 1 at least one finding of severity high or critical,
/// 2 could not judge (bad suite, schema failed to apply, no PostgreSQL, internal error).
#[derive(Debug, Parser)]
#[command(name = "rowfence", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the suite's schema to a disposable PostgreSQL, generate multi-tenant
    /// data and probe it as the app role under every tenant context and none.
    Check(CheckArgs),
    /// Static catalog checks only: apply the schema and explain every
    /// catalog-visible failure class, without generating data.
    Lint(LintArgs),
    /// List every rule: id, severity, title.
    Rules,
    /// Run a check and record its report (access matrix and findings) as the
    /// baseline for later `rowfence check --baseline`.
    Baseline {
        #[command(flatten)]
        check: CheckArgs,
        /// Where to write the baseline.
        #[arg(long, value_name = "FILE", default_value = "rowfence-baseline.json")]
        out: PathBuf,
    },
    /// Combine the JSON reports of `check --shard 1/N` ... `N/N` (one per CI
    /// machine) into the report and verdict of one unsharded run, written as
    /// `check` writes its report. Refuses reports of different runs, and a
    /// missing or repeated shard.
    Merge(MergeArgs),
    /// Re-render a saved JSON report as HTML, JUnit or SARIF.
    Report {
        /// A report written by `--json`.
        report: PathBuf,
        #[command(flatten)]
        renders: RenderArgs,
    },
    /// Print a rule's long explanation and remediation.
    Explain {
        /// Rule id, e.g. rls_not_enabled.
        rule: String,
    },
    /// Measure a full check on generated schemas of several sizes: wall time
    /// per stage, probes per second, and the overhead ratio (probe-stage wall
    /// time over the server's execution time, from pg_stat_statements).
    /// Prints a Markdown table.
    Bench(BenchArgs),
    /// Run SUITE as its `cargo test` gate would (`rowfence::harness::main`):
    /// the arguments after it are a test binary's (`--list`, a filter,
    /// `--exact`). Lets the gate's behaviour under test runners be tested
    /// without building a test binary.
    #[command(hide = true)]
    Gate {
        /// The suite file.
        suite: PathBuf,
        /// A test binary's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `rowfence bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Schema sizes in tenant tables (with FK children, partitions and views).
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_values_t = [10, 50, 200])]
    pub tables: Vec<usize>,
    /// Generated datasets per run.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub cases: u32,
    /// Generator seed.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Runs per size; the median (by total time) is reported.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// Keep the generated schemas and suites in DIR.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Cases probed at once (as `check --jobs`).
    #[arg(long, short = 'j', value_name = "N", env = "ROWFENCE_JOBS", value_parser = clap::value_parser!(u16).range(1..=8))]
    pub jobs: Option<u16>,
    #[command(flatten)]
    pub provider: ProviderArgs,
}

/// `rowfence lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// The suite file (TOML).
    pub suite: PathBuf,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `--protocol`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProtocolArg {
    /// Prepared templates, bound per case.
    Prepared,
    /// Simple queries.
    Simple,
}

/// `rowfence check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The suite file (TOML).
    pub suite: PathBuf,
    #[command(flatten)]
    pub provider: ProviderArgs,
    /// Number of generated datasets (overrides `probes.cases`).
    #[arg(long, value_name = "N")]
    pub cases: Option<u32>,
    /// Seed of the data generator (overrides `probes.seed`).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Cases probed at once, each on its own copy of the scratch database
    /// [default: the number of cores, at most 4; at most 8].
    #[arg(long, short = 'j', value_name = "N", env = "ROWFENCE_JOBS", value_parser = clap::value_parser!(u16).range(1..=8))]
    pub jobs: Option<u16>,
    /// Apply the migrations one file at a time, run the static checks after
    /// each and the probes on what each changed (on a throwaway copy), and
    /// name the migration that introduced each finding.
    #[arg(long)]
    pub per_migration: bool,
    /// Compare with a report saved by `rowfence baseline` (or `--json`): exit 1
    /// only on findings or violated cells that are new, and list what disappeared.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Probe only shard K of N (1-based): a deterministic part of the
    /// relations, each child with its parents, partitions with their table,
    /// views with the tables they read. Static checks run in full on every
    /// shard. Write each shard's report with --json and combine them with
    /// `rowfence merge`; the merged report has the findings of one run.
    #[arg(long, value_name = "K/N", env = "ROWFENCE_SHARD")]
    pub shard: Option<rowfence::shard::Shard>,
    /// How probe statements are sent: `prepared` templates, parsed and
    /// rewritten once per session and bound with each case's values, or
    /// `simple` queries with the values inline. Both find the same.
    #[arg(long, value_name = "HOW", env = "ROWFENCE_PROTOCOL", default_value = "prepared")]
    pub protocol: ProtocolArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `rowfence merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' reports (`check --shard K/N --json FILE`), in any order.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Compare the merged report with a baseline, as `check --baseline` does.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub output: ReportArgs,
}

/// Where PostgreSQL comes from.
#[derive(Debug, Args)]
pub struct ProviderArgs {
    /// auto: Docker when an engine answers and the image is there, else local binaries.
    #[arg(long, value_enum, default_value_t = Provider::Auto, env = "ROWFENCE_PROVIDER")]
    pub provider: Provider,
    /// Docker image [default: postgres:17, or rowfence/postgres:17 when only that is present].
    /// With --pg, a template such as `rowfence/postgres:{major}`.
    #[arg(long, value_name = "IMAGE", env = "ROWFENCE_IMAGE")]
    pub image: Option<String>,
    /// Server URL for --provider url (the user must be a superuser; only a scratch
    /// database and the roles the schema creates are touched, and dropped at the end).
    #[arg(long, value_name = "URL", env = "ROWFENCE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Run on several PostgreSQL major versions, one docker container each
    /// (at most as many at once as there are cores), e.g. `--pg 13,15,17,18`.
    /// Implies --provider docker. Images: postgres:<version>, or
    /// rowfence/postgres:<version> when only that is present; --image must then
    /// be a template with `{major}`. The verdict is the worst: violated if any
    /// version is, else could not judge if any version could not, else isolated.
    #[arg(long, value_name = "MAJORS", value_parser = versions::parse_pg)]
    pub pg: Option<versions::Majors>,
}

/// Report outputs of a command that runs the suite.
#[derive(Debug, Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// Write every SQL statement rowfence sends to the scratch database, in
    /// order and labelled by connection, to FILE (passwords redacted).
    #[arg(long, value_name = "FILE", env = "ROWFENCE_LOG_SQL")]
    pub log_sql: Option<PathBuf>,
}

/// Where a report goes (also for `rowfence merge`, which sends no SQL).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the JSON report to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub renders: RenderArgs,
    /// Print only the verdict line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Renderings of a report (also for `rowfence report`).
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write the HTML security review (one self-contained file) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML (one test case per relation x operation x context) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write SARIF 2.1.0 (for code scanning) to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
}

/// `--provider` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Provider {
    /// Docker if available, else local binaries.
    Auto,
    /// A container through testcontainers.
    Docker,
    /// Local PostgreSQL binaries (initdb into a temp dir).
    Local,
    /// An existing server given by --database-url.
    Url,
}

impl ProviderArgs {
    /// The library's provisioning options.
    pub fn options(&self) -> ProvisionOptions {
        ProvisionOptions {
            kind: match self.provider {
                Provider::Auto => ProviderKind::Auto,
                Provider::Docker => ProviderKind::Docker,
                Provider::Local => ProviderKind::Local,
                Provider::Url => ProviderKind::Url,
            },
            image: self.image.clone(),
            database_url: self.database_url.clone(),
            ..Default::default()
        }
    }
}

impl CheckArgs {
    /// The library's run options.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            provision: self.provider.options(),
            cases: self.cases,
            seed: self.seed,
            quiet: self.output.report.quiet,
            per_migration: self.per_migration,
            progress: None,
            log_sql: self.output.log_sql.clone(),
            jobs: self.jobs.map(usize::from),
            shard: self.shard,
            protocol: match self.protocol {
                ProtocolArg::Prepared => rowfence::probe::Protocol::Prepared,
                ProtocolArg::Simple => rowfence::probe::Protocol::Simple,
            },
        }
    }
}

impl ReportArgs {
    /// The files asked for, by format, for the summary's list of what was written.
    pub fn written(&self) -> Vec<(&'static str, String)> {
        [
            ("JSON", self.json.as_ref()),
            ("HTML", self.renders.html.as_ref()),
            ("JUnit", self.renders.junit.as_ref()),
            ("SARIF", self.renders.sarif.as_ref()),
        ]
        .into_iter()
        .filter_map(|(what, p)| p.map(|p| (what, p.display().to_string())))
        .collect()
    }
}
