//! A `cargo test` gate: one suite becomes one test per relation x operation
//! the app role may perform (plus one per failing static finding and one for
//! the verdict), so `cargo test` and `cargo nextest run` name exactly what
//! failed and filters work (`cargo test --test tenant_isolation -- subscribers`).
//!
//! In the user's repository:
//!
//! ```toml
//! [[test]]
//! name = "tenant_isolation"
//! harness = false
//! ```
//!
//! ```text
//! // tests/tenant_isolation.rs
//! fn main() {
//!     rowfence::harness::main("suites/app.toml");
//! }
//! ```
//!
//! Under any runner the check runs once per build: test names come from the
//! catalog (`--list` starts PostgreSQL and reads the catalog but runs no
//! probe), and the first process that runs a test runs the check while the
//! others wait for its result (see [`cache`]). The listing's server, schema
//! applied, is kept for that first process (see [`keeper`]).

pub mod cache;
pub mod keeper;

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};

use crate::report::{CellState, FindingKind, Report, Verdict};
use crate::{RunOptions, Suite};

use cache::{Entry, GateCache};

/// The test that carries the run's verdict: it fails on any violation and
/// when the run could not judge, whatever other test shows the cause.
pub const VERDICT_TEST: &str = "rowfence::verdict";

/// Runs the suite at `suite` (relative to the crate being tested) and exits
/// like a test binary. Options come from the environment
/// ([`RunOptions::from_env`]): `ROWFENCE_PROVIDER`, `ROWFENCE_DATABASE_URL`, ...
/// `ROWFENCE_GATE_CACHE` names the cache directory, or `off`.
/// `ROWFENCE_GATE_REUSE=off` makes every listing and check start its own server.
pub fn main(suite: impl AsRef<Path>) -> ! {
    Gate::new(suite).keeper(Vec::new()).main(&Arguments::from_args())
}

/// The gate of one suite: what [`main`] runs, callable from a test.
#[derive(Debug, Clone)]
pub struct Gate {
    path: PathBuf,
    cache_dir: Option<PathBuf>,
    keeper_args: Option<Vec<String>>,
}

impl Gate {
    /// The gate of the suite at `suite`.
    pub fn new(suite: impl AsRef<Path>) -> Gate {
        Gate { path: suite.as_ref().to_path_buf(), cache_dir: None, keeper_args: None }
    }

    /// Lets a listing keep its server for the check (see [`keeper`]): `args`
    /// are the arguments that bring this binary back to [`Gate::main`] of
    /// this gate (none for a test binary whose `main` calls [`main`]).
    pub fn keeper(mut self, args: Vec<String>) -> Gate {
        self.keeper_args = Some(args);
        self
    }

    /// Runs as a test binary given `args` would, and exits; or, in a process
    /// started as this gate's keeper, keeps the server (see [`keeper`]).
    pub fn main(&self, args: &Arguments) -> ! {
        if keeper::is_keeper() && self.keeper_args.is_some() {
            self.keep();
            std::process::exit(0);
        }
        self.run(args).exit()
    }

    /// Keeps the shared results in `dir` instead of the default (see [`cache`]).
    pub fn cache_in(mut self, dir: impl AsRef<Path>) -> Gate {
        self.cache_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Lists or runs the tests as a test binary given `args` would.
    pub fn run(&self, args: &Arguments) -> libtest_mimic::Conclusion {
        let trials = if args.list { self.listing() } else { trials(&self.report()) };
        libtest_mimic::run(args, trials)
    }

    /// The test names, as `--list` gives them: from this build's check if one
    /// is stored, else from the static stage; no probe runs.
    pub fn names(&self) -> Vec<String> {
        test_names(&self.result(Entry::Plan))
    }

    /// The check's report: this build's stored one, or run now (once across
    /// processes: the others wait for it).
    pub fn report(&self) -> Report {
        self.result(Entry::Check)
    }

    fn listing(&self) -> Vec<Trial> {
        self.names().into_iter().map(|n| Trial::test(n, || Ok(()))).collect()
    }

    /// The keeper's part: lint on a server it keeps, then lend it.
    fn keep(&self) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        let name = self.name();
        let key_now = || self.prepare().ok()?.2.map(|c| c.key().to_string());
        rt.block_on(keeper::keep(
            async || {
                let (suite, opts, _) = self.prepare().map_err(|e| Report::error(&name, e.to_string()))?;
                crate::run::lint_keeping(&suite, &opts).await.map_err(|e| Report::error(&name, e.to_string()))
            },
            key_now,
        ));
    }

    /// Whether a listing may keep its server for the check: not for a server
    /// given by URL (whose roles the check must tell apart), nor for runs
    /// whose check must apply the schema itself (`ROWFENCE_LOG_SQL`).
    fn keeps_server(&self, opts: &RunOptions) -> bool {
        self.keeper_args.is_some()
            && std::env::var("ROWFENCE_GATE_REUSE").map_or(true, |v| v != "off")
            && crate::run::preparable(opts)
            && opts.provision.database_url.is_none()
            && opts.provision.kind != crate::provision::ProviderKind::Url
    }

    fn name(&self) -> String {
        self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }

    fn prepare(&self) -> Result<(Suite, RunOptions, Option<GateCache>), crate::Error> {
        let suite = Suite::load(&self.path)?;
        let mut opts = RunOptions::from_env()?;
        opts.quiet = true;
        let options = format!("{:?}", opts.provision);
        let cache = GateCache::open(self.cache_dir.as_deref(), &self.path, &suite, &options);
        Ok((suite, opts, cache))
    }

    /// The report of `entry`: from the cache, or run.
    fn result(&self, entry: Entry) -> Report {
        let name = self.name();
        let (suite, opts, cache) = match self.prepare() {
            Ok(p) => p,
            Err(e) => return Report::error(&name, e.to_string()),
        };
        // A stored check names the same tests as the plan would.
        if let Some(report) = cache.as_ref().filter(|_| entry == Entry::Plan).and_then(|c| c.read(Entry::Check)) {
            return report;
        }
        let keeps = cache.is_some() && self.keeps_server(&opts);
        let execute = || {
            // The listing's kept server, if this process is the first to run the check.
            let lent = match (keeps, entry, &cache) {
                (true, Entry::Check, Some(c)) => c.take_keeper(),
                _ => None,
            };
            if let (true, Entry::Plan, Some(c), Some(args)) = (keeps, entry, &cache, &self.keeper_args)
                && let Some(kept) = keeper::spawn(args, c.key())
            {
                c.note_keeper(kept.socket.as_deref());
                return kept.report;
            }
            // One thread: the driver tasks and the probes then wake each other
            // without crossing threads (measurably faster than two workers).
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| crate::Error::Config(format!("cannot start the async runtime: {e}")))
                .and_then(|rt| {
                    rt.block_on(async {
                        match entry {
                            Entry::Check => match keeper_claim(lent.as_deref(), cache.as_ref()).await {
                                Some(prepared) => crate::run::check_prepared(&suite, &opts, prepared).await,
                                None => crate::check(&suite, &opts).await,
                            },
                            Entry::Plan => crate::lint(&suite, &opts).await,
                        }
                    })
                });
            outcome.unwrap_or_else(|e| Report::error(&name, e.to_string()))
        };
        let mut report = match &cache {
            Some(c) => c.get_or_run(entry, execute),
            None => execute(),
        };
        // A run that failed before the catalog keeps the listed names, so every
        // listed test still finds itself (ignored; the verdict test fails).
        if report.gate.is_empty()
            && let Some(plan) = cache.as_ref().and_then(|c| c.read(Entry::Plan))
        {
            report.gate = plan.gate;
        }
        report
    }
}

async fn keeper_claim(socket: Option<&Path>, cache: Option<&GateCache>) -> Option<crate::run::Prepared> {
    keeper::claim(socket?, cache?.key()).await
}

fn test_names(report: &Report) -> Vec<String> {
    let mut out = vec![VERDICT_TEST.to_string()];
    for rel in &report.gate.relations {
        out.extend(rel.operations.iter().map(|op| format!("{}::{}", rel.relation, op.as_str())));
    }
    for s in &report.gate.statics {
        out.push(format!("static::{}::{}", s.rule, s.relation.as_deref().unwrap_or("-")));
    }
    out
}

/// The trials of a report: [`VERDICT_TEST`], one per relation x operation of
/// its gate plan, and one per failing static finding.
///
/// A relation x operation test fails when a probe of that operation showed a
/// violation under any context, naming the contexts and the causes. It is
/// ignored when the probes left it untested or never exercised it (the
/// verdict test then says why the run could not judge).
pub fn trials(report: &Report) -> Vec<Trial> {
    let mut out = vec![verdict_trial(report)];
    for rel in &report.gate.relations {
        let row = report.isolation.iter().find(|r| r.relation == rel.relation);
        for &op in &rel.operations {
            let name = format!("{}::{}", rel.relation, op.as_str());
            let cell = row.and_then(|r| r.cells.iter().find(|c| c.operation == op));
            let states: Vec<(CellState, &str)> = cell
                .map(|c| c.states.iter().zip(&report.contexts).map(|(s, cx)| (*s, cx.name.as_str())).collect())
                .unwrap_or_default();
            let violated: Vec<&str> =
                states.iter().filter(|(s, _)| *s == CellState::Violation).map(|(_, n)| *n).collect();
            if !violated.is_empty() {
                let causes: Vec<String> =
                    report.failing().filter(|f| f.shown_by(&rel.relation, op)).map(crate::Finding::describe).collect();
                let text = format!("violated under {} context\n\n{}", violated.join(", "), causes.join("\n\n"));
                out.push(Trial::test(name, move || Err(Failed::from(text))));
                continue;
            }
            let untested = states.iter().any(|(s, _)| *s == CellState::Untested);
            let passed = states.iter().any(|(s, _)| *s == CellState::Pass);
            out.push(Trial::test(name, || Ok(())).with_ignored_flag(untested || !passed));
        }
    }
    for s in &report.gate.statics {
        let name = format!("static::{}::{}", s.rule, s.relation.as_deref().unwrap_or("-"));
        let text: Vec<String> = report
            .failing()
            .filter(|f| f.rule == s.rule && f.relation == s.relation)
            .map(crate::Finding::describe)
            .collect();
        out.push(Trial::test(
            name,
            move || if text.is_empty() { Ok(()) } else { Err(Failed::from(text.join("\n\n"))) },
        ));
    }
    out
}

/// Fails on any violation (listing the causes, also those no other test
/// names: role-level causes, committed-write side effects, function calls)
/// and when the run could not judge.
fn verdict_trial(report: &Report) -> Trial {
    let failure = match report.verdict {
        Verdict::Isolated => None,
        Verdict::Error => Some(format!("could not judge: {}", report.error.clone().unwrap_or_default())),
        Verdict::Violated => {
            let causes: Vec<String> = report
                .failing()
                .map(|f| {
                    let kind = if f.kind == FindingKind::Static { "static" } else { "shown by probes" };
                    format!(
                        "- [{}] {} {} ({kind}): {}",
                        f.severity.as_str(),
                        f.rule,
                        f.relation.as_deref().unwrap_or("-"),
                        f.message
                    )
                })
                .collect();
            Some(format!("{} failing cause(s):\n{}", causes.len(), causes.join("\n")))
        }
    };
    Trial::test(VERDICT_TEST, move || failure.map_or(Ok(()), |text| Err(Failed::from(text))))
}
