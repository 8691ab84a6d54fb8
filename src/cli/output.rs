//! Where every command's result goes: the report files, the console summary,
//! and the one mapping from how a command ended to its exit code.

use std::io::Write;
use std::path::Path;

use rowfence::Verdict;
use rowfence::report::Report;
use rowfence::report::console::Style;
use rowfence::report::emit::Outcome;

use super::{RenderArgs, ReportArgs};

/// How a command ended, short of failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A command that judges nothing did its job (`rules`, `report`, `baseline`).
    Done,
    /// A run reached this verdict.
    Judged(Verdict),
}

/// Why a command could not do its job; printed once, as `rowfence: <message>`.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string())
    }
}

/// The exit code: 0 done or isolated, 1 violated, 2 could not judge.
/// The only place a command's end becomes a number.
pub fn exit_code(result: Result<Exit, Failure>) -> u8 {
    match result {
        Ok(Exit::Done) => 0,
        Ok(Exit::Judged(verdict)) => verdict.exit_code() as u8,
        Err(Failure(message)) => {
            let _ = writeln!(std::io::stderr(), "rowfence: {message}");
            rowfence::Error::EXIT_CODE as u8
        }
    }
}

/// Writes what `out` asks for and prints the summary. With the JSON on stdout
/// (`--json -`) the summary goes to stderr, so stdout stays one JSON document.
pub fn emit(outcome: &dyn Outcome, out: &ReportArgs) -> Result<Exit, Failure> {
    if let Some(path) = &out.json {
        write_json_file(path, |w| outcome.write_json(w))
            .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
    }
    write_renders(outcome, &out.renders)?;
    let written = out.written();
    let json_on_stdout = out.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let (style, mut sink): (Style, Box<dyn Write>) = if json_on_stdout {
        (Style::default(), Box::new(std::io::stderr().lock()))
    } else {
        (Style::detect(), Box::new(std::io::stdout().lock()))
    };
    let printed =
        if out.quiet { outcome.verdict_line(style, &mut sink) } else { outcome.summary(style, &written, &mut sink) };
    // A closed stdout (`| head`) must not turn a verdict into a failure.
    let _ = printed.and_then(|_| sink.flush());
    Ok(Exit::Judged(outcome.verdict()))
}

/// A run that could not judge still leaves a report where one was asked for
/// (CI uploads it), then fails with `message`.
pub fn fail(suite: &Path, message: String, out: &ReportArgs) -> Result<Exit, Failure> {
    let name = suite.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let report = Report::error(&name, message.clone());
    if let Some(json) = &out.json {
        let _ = write_json_file(json, |w| report.write_json(w));
    }
    let _ = write_renders(&report, &out.renders);
    Err(Failure(message))
}

/// Writes HTML, JUnit and SARIF renderings where asked.
pub fn write_renders(outcome: &dyn Outcome, r: &RenderArgs) -> Result<(), Failure> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &r.html {
        write(path, outcome.html()?)?;
    }
    if let Some(path) = &r.junit {
        write(path, outcome.junit()?)?;
    }
    if let Some(path) = &r.sarif {
        write(path, outcome.sarif()?)?;
    }
    Ok(())
}

/// Writes the JSON `write` produces to `path` (`-`: stdout), ending with a newline.
pub fn write_json_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> serde_json::Result<()>,
) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        let mut s = std::io::stdout().lock();
        write(&mut s)?;
        writeln!(s)?;
        return s.flush();
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    write(&mut f)?;
    writeln!(f)?;
    f.flush()
}
