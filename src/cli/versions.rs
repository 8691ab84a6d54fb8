//! `--pg 13,15,17,18`: the command line of a version matrix (running it,
//! writing its outputs) and re-rendering a saved one (`rowfence report`).

use std::io::Write;
use std::path::Path;

use rowfence::report::console;
use rowfence::report::versions::{self as matrix, VersionMatrix};
use rowfence::{Error, Report, RunOptions, Suite};

use super::{OutputArgs, RenderArgs};

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

/// Runs `suite` on each of `majors` and writes the outputs; returns the exit code.
pub async fn run(
    path: &Path,
    majors: &Majors,
    opts: RunOptions,
    mode: Mode,
    output: &OutputArgs,
    baseline: Option<&Path>,
) -> i32 {
    let fail = |e: String, output: &OutputArgs| {
        eprintln!("rowfence: {e}");
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let report = Report::error(&name, e);
        if let Some(json) = &output.json {
            let _ = super::write_json_file(json, |w| report.write_json(w));
        }
        Error::EXIT_CODE
    };
    let suite = match Suite::load(path) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string(), output),
    };
    if let Err(e) = rowfence::versions::validate(&opts) {
        return fail(e.to_string(), output);
    }
    let baseline = match baseline.map(load_baseline).transpose() {
        Ok(b) => b,
        Err(e) => return fail(e, output),
    };
    let result = match mode {
        Mode::Check => rowfence::versions::check(&suite, &opts, &majors.0).await,
        Mode::Lint => rowfence::versions::lint(&suite, &opts, &majors.0).await,
    };
    let mut m = match result {
        Ok(m) => m,
        Err(e) => return fail(e.to_string(), output),
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

/// Re-renders a saved version matrix as HTML, JUnit or SARIF.
pub fn rerender(path: &Path, renders: &RenderArgs) -> i32 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match serde_json::from_str::<VersionMatrix>(&text) {
        Ok(m) => match write_renders(&m, renders) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rowfence: {e}");
                Error::EXIT_CODE
            }
        },
        Err(e) => {
            eprintln!("rowfence: cannot read report {}: {e} (it must be a file written by --json)", path.display());
            Error::EXIT_CODE
        }
    }
}

fn write_renders(m: &VersionMatrix, r: &RenderArgs) -> Result<(), String> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &r.html {
        write(path, matrix::html(m).map_err(|e| format!("cannot render HTML: {e}"))?)?;
    }
    if let Some(path) = &r.junit {
        write(path, matrix::junit(m).map_err(|e| format!("cannot render JUnit: {e}"))?)?;
    }
    if let Some(path) = &r.sarif {
        write(path, serde_json::to_string_pretty(&matrix::sarif(m)).map_err(|e| e.to_string())?)?;
    }
    Ok(())
}

fn emit(m: &VersionMatrix, out: &OutputArgs) -> i32 {
    if let Some(path) = &out.json {
        let written = super::write_json_file(path, |w| m.write_json(w));
        if let Err(e) = written {
            eprintln!("rowfence: cannot write {}: {e}", path.display());
            return Error::EXIT_CODE;
        }
    }
    if let Err(e) = write_renders(m, &out.renders) {
        eprintln!("rowfence: {e}");
        return Error::EXIT_CODE;
    }
    let written = out.written();
    // The JSON went to stdout: keep stdout parseable, the summary goes to stderr.
    let json_on_stdout = out.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let style = if json_on_stdout { console::Style::default() } else { console::Style::detect() };
    let mut sink: Box<dyn Write> =
        if json_on_stdout { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
    let printed = if out.quiet {
        matrix::verdict_line(m, style, &mut sink)
    } else {
        matrix::summary(m, style, &written, &mut sink)
    };
    let _ = printed.and_then(|_| sink.flush());
    m.verdict.exit_code()
}
