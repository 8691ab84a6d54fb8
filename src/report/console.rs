//! Console output: a findings table and a verdict line. Colours only on a
//! terminal, and never with `NO_COLOR` set.

use std::io::{self, IsTerminal, Write};

use super::{Report, Verdict};
use crate::rules::Severity;

/// How to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
}

impl Style {
    /// Colours when stdout is a terminal and `NO_COLOR` is unset.
    pub fn detect() -> Style {
        Style { color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    fn severity(self, s: Severity) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "34",
            Severity::Info => "2",
        };
        self.paint(code, &format!("{:<8}", s.as_str().to_uppercase()))
    }
}

/// One line: the verdict and the counts.
pub fn verdict_line(report: &Report, style: Style, out: &mut impl Write) -> io::Result<()> {
    let failing = report.failing().count();
    match report.verdict {
        Verdict::Isolated => writeln!(
            out,
            "{}: {} — no high or critical finding ({}, {} probes)",
            style.paint("1;32", "ISOLATED"),
            report.suite,
            datasets(report),
            report.stats.probes
        ),
        Verdict::Violated => {
            writeln!(out, "{}: {} — {failing} high/critical finding(s)", style.paint("1;31", "VIOLATED"), report.suite)
        }
        Verdict::Error => writeln!(
            out,
            "{}: {} — could not judge: {}",
            style.paint("1;33", "ERROR"),
            report.suite,
            report.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// The full summary: header, a table of findings, counts, time, the files
/// written, and the verdict.
pub fn summary(report: &Report, style: Style, written: &[(&str, String)], out: &mut impl Write) -> io::Result<()> {
    if let Some(pg) = &report.postgres {
        writeln!(
            out,
            "rowfence {} · suite {} · PostgreSQL {} ({})",
            report.version, report.suite, pg.version, pg.provider
        )?;
    }
    if let Some(s) = &report.shard {
        writeln!(
            out,
            "shard {}: probes its {} relation(s), the other shards the rest; `rowfence merge` gives the whole run's verdict",
            s.shard(),
            s.relations.len()
        )?;
    }
    if !report.findings.is_empty() {
        writeln!(out, "  {:<8} {:<34} {:<30} WHERE", "SEVERITY", "RULE", "RELATION")?;
    }
    // One line per cause, its explanation, then the probes that showed it.
    for f in &report.findings {
        let what = match (&f.location, f.operation, f.context) {
            (Some(l), _, _) => format!("{}:{}", l.file, l.line),
            (None, Some(op), Some(cx)) => {
                format!("{} under {}", f.probe.as_deref().unwrap_or(op.as_str()), report.context_name(cx))
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "  {} {:<34} {:<30} {what}",
            style.severity(f.severity),
            f.rule,
            f.relation.as_deref().unwrap_or("-")
        )?;
        let mut detail = f.message.clone();
        if let Some(m) = &f.introduced_by {
            let inferred =
                if f.introduced_how == Some(crate::finding::Introduced::Inferred) { ", inferred" } else { "" };
            detail.push_str(&format!(" [introduced by {m}{inferred}]"));
        }
        if let Some(reason) = &f.waived {
            detail.push_str(&format!(" [waived: {reason}]"));
        }
        if f.new == Some(false) {
            detail.push_str(" [in baseline]");
        }
        writeln!(out, "           {}", style.paint("2", &detail))?;
        if !f.probes.is_empty() {
            let n = f.probes.len();
            let summary = f.probe_summary(|c| report.context_name(c));
            let line = format!("shown by {n} probe{}: {summary}", if n == 1 { "" } else { "s" });
            writeln!(out, "           {}", style.paint("2", &line))?;
        }
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    let counts: Vec<String> = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info]
        .iter()
        .map(|s| format!("{} {}", report.findings.iter().filter(|f| f.severity == *s).count(), s.as_str()))
        .collect();
    writeln!(
        out,
        "{} · {}, {} probes, {:.1}s",
        counts.join(", "),
        datasets(report),
        report.stats.probes,
        report.stats.duration_ms as f64 / 1000.0
    )?;
    let untested: Vec<&str> = report
        .isolation
        .iter()
        .filter(|row| row.cells.iter().any(|c| !c.untested.is_empty()))
        .map(|row| row.relation.as_str())
        .collect();
    if !untested.is_empty() {
        let cells: usize = report.isolation.iter().flat_map(|r| &r.cells).map(|c| c.untested.len()).sum();
        writeln!(
            out,
            "{}: {cells} isolation cell(s) on {} were not really tested: {}",
            style.paint("1;33", "untested"),
            if untested.len() == 1 { "one relation" } else { "several relations" },
            untested.join(", ")
        )?;
    }
    if let Some(b) = &report.baseline {
        writeln!(
            out,
            "against baseline {}: {} new, {} widened, {} resolved",
            b.file,
            b.new.len(),
            b.widened.len(),
            b.resolved.len()
        )?;
        for line in
            b.new.iter().map(|n| format!("  new: {n}")).chain(b.widened.iter().map(|w| format!("  widened: {w}")))
        {
            writeln!(out, "{line}")?;
        }
        for r in &b.resolved {
            writeln!(out, "  resolved: {r}")?;
        }
    }
    for (what, path) in written {
        writeln!(out, "{what} report: {path}")?;
    }
    verdict_line(report, style, out)
}

/// `61/64 datasets loaded` (how many generated datasets the probes really ran on).
fn datasets(report: &Report) -> String {
    let s = &report.stats;
    if s.cases == 0 {
        "no datasets (static checks only)".into()
    } else {
        let mut line = format!("{}/{} datasets loaded", s.loaded, s.cases);
        // Tables that held rows in fewer than 90 % of the loaded datasets.
        let sparse: Vec<(&String, &u32)> =
            s.populated.iter().filter(|(_, n)| s.loaded > 0 && **n * 10 < s.loaded * 9).collect();
        if !s.populated.is_empty() {
            line.push_str(&format!(
                ", {}/{} tables held rows in at least 90 % of them",
                s.populated.len() - sparse.len(),
                s.populated.len()
            ));
        }
        if let Some((rel, n)) = sparse.iter().min_by_key(|(_, n)| **n) {
            line.push_str(&format!(" (fewest: {rel} in {n})"));
        }
        line
    }
}
