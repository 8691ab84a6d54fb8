//! A `cargo test` gate: one suite becomes one test per relation x operation x
//! context (plus one per failing static finding), so `cargo test` and
//! `cargo nextest` name exactly what failed and filters work
//! (`cargo test --test tenant_isolation -- subscribers`).
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

use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::report::{CellState, FindingKind, Report, Verdict};
use crate::{RunOptions, Suite};

/// Runs the suite at `suite` (relative to the crate being tested) and exits
/// like a test binary. Options come from the environment
/// ([`RunOptions::from_env`]): `ROWFENCE_PROVIDER`, `ROWFENCE_DATABASE_URL`, ...
pub fn main(suite: impl AsRef<Path>) -> ! {
    let args = Arguments::from_args();
    let report = run(suite.as_ref());
    libtest_mimic::run(&args, trials(&report)).exit()
}

fn run(path: &Path) -> Report {
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let outcome = (|| {
        let suite = Suite::load(path)?;
        let mut opts = RunOptions::from_env()?;
        opts.quiet = true;
        // One thread: the driver tasks and the probes then wake each other
        // without crossing threads (measurably faster than two workers).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::Error::Config(format!("cannot start the async runtime: {e}")))?;
        runtime.block_on(crate::check(&suite, &opts))
    })();
    outcome.unwrap_or_else(|e| Report::error(&name, e.to_string()))
}

/// The trials of a report: one per exercised relation x operation x context,
/// one per failing static finding, and one for a run that could not judge.
pub fn trials(report: &Report) -> Vec<Trial> {
    let mut out = Vec::new();
    if report.verdict == Verdict::Error {
        let why = report.error.clone().unwrap_or_default();
        out.push(Trial::test("rowfence::could_not_judge", move || Err(Failed::from(why))));
    }
    for row in &report.isolation {
        for cell in &row.cells {
            for (state, cx) in cell.states.iter().zip(&report.contexts) {
                let name = format!("{}::{}::{}", row.relation, cell.operation.as_str(), cx.name);
                let failure = match state {
                    // Not a pass: shown as ignored; the could_not_judge test says why.
                    CellState::Untested => {
                        out.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
                        continue;
                    }
                    CellState::Pass => None,
                    CellState::Violation => Some(
                        report
                            .failing()
                            .filter(|f| f.shown_by(&row.relation, cell.operation))
                            .map(crate::Finding::describe)
                            .collect::<Vec<_>>()
                            .join("\n\n"),
                    ),
                    CellState::NotGranted | CellState::NotApplicable => continue,
                };
                out.push(Trial::test(name, move || match failure {
                    None => Ok(()),
                    Some(text) => Err(Failed::from(text)),
                }));
            }
        }
    }
    for f in report.findings.iter().filter(|f| f.kind == FindingKind::Static && f.counts()) {
        let text = f.describe();
        let name = format!("static::{}::{}", f.rule, f.relation.as_deref().unwrap_or("-"));
        out.push(Trial::test(name, move || Err(Failed::from(text))));
    }
    out
}
