//! Console output: a verdict line and a findings table, plain text.

use std::io::{self, Write};

use super::{Report, Verdict};

/// One line: the verdict and the counts.
pub fn verdict_line(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let failing = report.failing().count();
    match report.verdict {
        Verdict::Isolated => writeln!(
            out,
            "ISOLATED: {} — no high or critical finding ({} cases, {} probes)",
            report.suite, report.stats.cases, report.stats.probes
        ),
        Verdict::Violated => writeln!(out, "VIOLATED: {} — {failing} high/critical finding(s)", report.suite),
        Verdict::Error => writeln!(
            out,
            "ERROR: {} — could not judge: {}",
            report.suite,
            report.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// The full summary: header, findings, verdict.
pub fn summary(report: &Report, out: &mut impl Write) -> io::Result<()> {
    if let Some(pg) = &report.postgres {
        writeln!(
            out,
            "rowfence {} · suite {} · PostgreSQL {} ({})",
            report.version, report.suite, pg.version, pg.provider
        )?;
    }
    for f in &report.findings {
        let what = match (f.operation, f.context) {
            (Some(op), Some(cx)) => format!("{} under {}", op.as_str(), cx.as_str()),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {:<8} {:<30} {:<28} {what}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.relation.as_deref().unwrap_or("-"),
        )?;
        match &f.evidence {
            Some(ev) => writeln!(out, "           {}", ev.observed)?,
            None => writeln!(out, "           {}", f.message)?,
        }
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} cases, {} probes, {:.1}s",
        report.stats.cases,
        report.stats.probes,
        report.stats.duration_ms as f64 / 1000.0
    )?;
    verdict_line(report, out)
}
