//! `--pg 13,15,17,18`: the command line of a version matrix (running it,
//! writing its outputs) and re-rendering a saved one (`rowfence report`).

use std::path::Path;

use rowfence::report::versions::{self as matrix, VersionMatrix};
use rowfence::{Report, RunOptions, Suite};

use super::ReportArgs;
use super::output::{Exit, Failure, emit, fail};

/// The parsed `--pg` list, ascending.
#[derive(Debug, Clone)]
pub struct Majors(pub Vec<u32>);

/// clap's value parser for `--pg`.
pub fn parse_pg(list: &str) -> Result<Majors, String> {
    rowfence::versions::parse_majors(list).map(Majors)
}

/// What a `--pg` run does after the schema is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `rowfence check`.
    Check,
    /// `rowfence lint`.
    Lint,
}

/// Runs `suite` on each of `majors` and writes the outputs.
pub async fn run(
    path: &Path,
    majors: &Majors,
    opts: RunOptions,
    mode: Mode,
    output: &ReportArgs,
    baseline: Option<&Path>,
) -> Result<Exit, Failure> {
    let prepared = (|| {
        let suite = Suite::load(path)?;
        rowfence::versions::validate(&opts)?;
        let baseline = baseline.map(load_baseline).transpose().map_err(rowfence::Error::Config)?;
        Ok::<_, rowfence::Error>((suite, baseline))
    })();
    let (suite, baseline) = match prepared {
        Ok(p) => p,
        Err(e) => return fail(path, e.to_string(), output),
    };
    let result = match mode {
        Mode::Check => rowfence::versions::check(&suite, &opts, &majors.0).await,
        Mode::Lint => rowfence::versions::lint(&suite, &opts, &majors.0).await,
    };
    let mut m = match result {
        Ok(m) => m,
        Err(e) => return fail(path, e.to_string(), output),
    };
    if let Some((file, b)) = &baseline {
        apply_baseline(&mut m, b, file);
    }
    emit(&m, output)
}

/// A saved baseline: one report for every version, or a version matrix
/// (each version compared with the same version's report).
enum Baseline {
    One(Box<Report>),
    PerVersion(Box<VersionMatrix>),
}

fn load_baseline(path: &Path) -> Result<(String, Baseline), String> {
    let what = || format!("cannot read baseline {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", what()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", what()))?;
    let b = if matrix::is_version_matrix(&value) {
        Baseline::PerVersion(Box::new(serde_json::from_value(value).map_err(|e| format!("{}: {e}", what()))?))
    } else {
        Baseline::One(Box::new(
            serde_json::from_value(value)
                .map_err(|e| format!("{}: {e} (it must be a file written by --json or rowfence baseline)", what()))?,
        ))
    };
    Ok((path.display().to_string(), b))
}

fn apply_baseline(m: &mut VersionMatrix, baseline: &Baseline, file: &str) {
    let majors: Vec<u32> = m.versions.iter().map(|v| v.major).collect();
    for (major, report) in majors.into_iter().zip(m.matrix.iter_mut()) {
        if report.postgres.is_none() {
            continue;
        }
        let empty;
        let base = match baseline {
            Baseline::One(r) => r.as_ref(),
            // A version the baseline did not run on: everything is new.
            Baseline::PerVersion(b) => match b.report_for(major) {
                Some(r) => r,
                None => {
                    empty = Report::new(&report.suite, None, Vec::new(), Default::default());
                    &empty
                }
            },
        };
        report.compare_with(base, file);
    }
    let runs =
        m.versions.iter().zip(std::mem::take(&mut m.matrix)).map(|(v, r)| (v.major, v.image.clone(), r)).collect();
    *m = VersionMatrix::new(&m.suite, runs);
}

/// Whether `path` holds a saved version matrix (not a single report).
pub fn is_matrix_file(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| matrix::is_version_matrix(&v))
}

/// Loads a saved version matrix (`rowfence report`).
pub fn load_matrix(path: &Path) -> Result<VersionMatrix, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure(format!("cannot read report {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure(format!("cannot read report {}: {e} (it must be a file written by --json)", path.display()))
    })
}
