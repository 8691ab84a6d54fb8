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
//! others wait for its result (see [`cache`]).

pub mod cache;

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
pub fn main(suite: impl AsRef<Path>) -> ! {
    Gate::new(suite).run(&Arguments::from_args()).exit()
}

/// The gate of one suite: what [`main`] runs, callable from a test.
#[derive(Debug, Clone)]
pub struct Gate {
    path: PathBuf,
    cache_dir: Option<PathBuf>,
}

impl Gate {
    /// The gate of the suite at `suite`.
    pub fn new(suite: impl AsRef<Path>) -> Gate {
        Gate { path: suite.as_ref().to_path_buf(), cache_dir: None }
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
        let name = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let (suite, opts, cache) = match self.prepare() {
            Ok(p) => p,
            Err(e) => return Report::error(&name, e.to_string()),
        };
        // A stored check names the same tests as the plan would.
        if let Some(report) = cache.as_ref().filter(|_| entry == Entry::Plan).and_then(|c| c.read(Entry::Check)) {
            return report;
        }
        let execute = || {
            // One thread: the driver tasks and the probes then wake each other
            // without crossing threads (measurably faster than two workers).
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| crate::Error::Config(format!("cannot start the async runtime: {e}")))
                .and_then(|rt| {
                    rt.block_on(async {
                        match entry {
                            Entry::Check => crate::check(&suite, &opts).await,
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
