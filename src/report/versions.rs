//! The version matrix: one suite checked on several PostgreSQL major versions
//! (`--pg 13,15,17,18`), one [`Report`] per version, the findings that differ
//! between versions, and the overall verdict (the worst).
//!
//! Its JSON form is the per-version reports under `"matrix"`, beside the
//! overall `"verdict"`, a `"versions"` summary and the `"differences"`. The
//! `"versions"` key is what tells it apart from a single report (whose
//! isolation matrix was called `"matrix"` before it became `"isolation"`).

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::console::{self, Style};
use super::{ContextKind, Finding, FindingKind, Operation, Report, Verdict};
use crate::rules::{RuleId, Severity};

/// One version's line in the matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionSummary {
    /// The major version asked for (`13`).
    pub major: u32,
    /// The docker image it ran on.
    pub image: String,
    /// `server_version` (absent when no server could be had).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// That version's verdict.
    pub verdict: Verdict,
    /// Findings that count toward the verdict.
    pub failing: usize,
    /// All findings, any severity.
    pub findings: usize,
    /// Wall time of that version's run.
    pub duration_ms: u64,
    /// Why that version could not judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A finding present on some versions and not on others.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Difference {
    /// Rule id.
    pub rule: RuleId,
    /// Severity.
    pub severity: Severity,
    /// Dynamic or static.
    pub kind: FindingKind,
    /// The relation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// The policy or function the cause lies in, where the rule names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The operation of the probe whose reproduction the first version kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// The context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextKind>,
    /// The message, as the first version that has it words it.
    pub message: String,
    /// Majors whose report has it.
    pub present_on: Vec<u32>,
    /// Majors that judged the suite and do not have it.
    pub absent_on: Vec<u32>,
}

/// One suite on several PostgreSQL versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionMatrix {
    /// Always `rowfence`.
    pub tool: String,
    /// rowfence's version.
    pub version: String,
    /// Suite name.
    pub suite: String,
    /// The worst verdict of all versions: `violated` if any version is,
    /// else `error` if any could not judge, else `isolated`.
    pub verdict: Verdict,
    /// One line per version, in the order asked for.
    pub versions: Vec<VersionSummary>,
    /// Findings that only some of the versions that judged the suite have.
    pub differences: Vec<Difference>,
    /// The per-version reports, in the order of `versions`.
    pub matrix: Vec<Report>,
    /// When the last version finished (RFC 3339, UTC).
    #[serde(default)]
    pub generated_at: String,
}

/// A finding's identity across versions: the cause (rule, relation, object)
/// and whether a probe showed it.
type Key = (RuleId, Option<String>, Option<String>, FindingKind);

fn key(f: &Finding) -> Key {
    (f.rule, f.relation.clone(), f.object.clone(), f.kind)
}

/// How bad a verdict is, for picking the worst: violated > error > isolated.
fn badness(v: Verdict) -> u8 {
    match v {
        Verdict::Isolated => 0,
        Verdict::Error => 1,
        Verdict::Violated => 2,
    }
}

impl VersionMatrix {
    /// The matrix of `runs`: (major, image, report) per version, in the order asked for.
    pub fn new(suite: &str, runs: Vec<(u32, String, Report)>) -> VersionMatrix {
        let versions: Vec<VersionSummary> = runs
            .iter()
            .map(|(major, image, r)| VersionSummary {
                major: *major,
                image: image.clone(),
                server_version: r.postgres.as_ref().map(|p| p.version.clone()),
                verdict: r.verdict,
                failing: r.failing().count(),
                findings: r.findings.len(),
                duration_ms: r.stats.duration_ms,
                error: r.error.clone(),
            })
            .collect();
        let verdict = versions.iter().map(|v| v.verdict).max_by_key(|v| badness(*v)).unwrap_or(Verdict::Error);
        let mut m = VersionMatrix {
            tool: "rowfence".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            suite: suite.into(),
            verdict,
            versions,
            differences: Vec::new(),
            matrix: runs.into_iter().map(|(_, _, r)| r).collect(),
            generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        m.differences = m.compute_differences();
        m
    }

    /// Findings present on some but not all of the versions that judged the
    /// suite. A version without a server or whose schema did not apply has
    /// no findings at all; comparing it would list every finding, so it is
    /// left out (its error is in `versions`).
    fn compute_differences(&self) -> Vec<Difference> {
        let judged: Vec<(u32, &Report)> = self
            .versions
            .iter()
            .zip(&self.matrix)
            .filter(|(_, r)| r.postgres.is_some() && (r.verdict != Verdict::Error || !r.findings.is_empty()))
            .map(|(v, r)| (v.major, r))
            .collect();
        let mut out: Vec<Difference> = Vec::new();
        for (_, report) in &judged {
            for f in &report.findings {
                let k = key(f);
                if out.iter().any(|d| (d.rule, d.relation.clone(), d.object.clone(), d.kind) == k) {
                    continue;
                }
                let (present, absent): (Vec<u32>, Vec<u32>) = {
                    let mut p = Vec::new();
                    let mut a = Vec::new();
                    for (major, r) in &judged {
                        if r.findings.iter().any(|g| key(g) == k) { p.push(*major) } else { a.push(*major) }
                    }
                    (p, a)
                };
                if absent.is_empty() {
                    continue;
                }
                out.push(Difference {
                    rule: f.rule,
                    severity: f.severity,
                    kind: f.kind,
                    relation: f.relation.clone(),
                    object: f.object.clone(),
                    operation: f.operation,
                    context: f.context,
                    message: f.message.clone(),
                    present_on: present,
                    absent_on: absent,
                });
            }
        }
        out.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then_with(|| a.relation.cmp(&b.relation)).then_with(|| a.rule.cmp(&b.rule))
        });
        out
    }

    /// The report of the worst version: the worst verdict, then the most
    /// failing findings, then the lowest version.
    pub fn worst(&self) -> Option<&Report> {
        self.matrix
            .iter()
            .enumerate()
            .max_by_key(|(i, r)| (badness(r.verdict), r.failing().count(), usize::MAX - i))
            .map(|(_, r)| r)
    }

    /// The report of PostgreSQL `major`, if it was in the run.
    pub fn report_for(&self, major: u32) -> Option<&Report> {
        self.versions.iter().position(|v| v.major == major).and_then(|i| self.matrix.get(i))
    }

    /// Majors whose verdict is `verdict`.
    pub fn majors_with(&self, verdict: Verdict) -> Vec<u32> {
        self.versions.iter().filter(|v| v.verdict == verdict).map(|v| v.major).collect()
    }

    /// Writes the JSON form.
    pub fn write_json(&self, out: impl Write) -> serde_json::Result<()> {
        serde_json::to_writer_pretty(out, self)
    }
}

/// Whether a saved JSON document is a version matrix (else a single report).
pub fn is_version_matrix(json: &serde_json::Value) -> bool {
    json.get("versions").is_some_and(|v| v.is_array())
}

fn majors(list: &[u32]) -> String {
    list.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
}

/// The overall verdict line.
pub fn verdict_line(m: &VersionMatrix, style: Style, out: &mut impl Write) -> io::Result<()> {
    let all = majors(&m.versions.iter().map(|v| v.major).collect::<Vec<_>>());
    let paint = |code: &str, text: &str| if style.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.into() };
    match m.verdict {
        Verdict::Isolated => writeln!(
            out,
            "{}: {} — no high or critical finding on PostgreSQL {all}",
            paint("1;32", "ISOLATED"),
            m.suite
        ),
        Verdict::Violated => {
            let failing: usize = m.versions.iter().map(|v| v.failing).max().unwrap_or(0);
            let mut line = format!(
                "{}: {} — high/critical finding(s) on PostgreSQL {} (up to {failing} on one version)",
                paint("1;31", "VIOLATED"),
                m.suite,
                majors(&m.majors_with(Verdict::Violated))
            );
            let errors = m.majors_with(Verdict::Error);
            if !errors.is_empty() {
                line.push_str(&format!("; could not judge on {}", majors(&errors)));
            }
            writeln!(out, "{line}")
        }
        Verdict::Error => writeln!(
            out,
            "{}: {} — could not judge on PostgreSQL {}",
            paint("1;33", "ERROR"),
            m.suite,
            majors(&m.majors_with(Verdict::Error))
        ),
    }
}

/// The console summary: one line per version, the findings that differ,
/// the worst version's findings, and the overall verdict.
pub fn summary(m: &VersionMatrix, style: Style, written: &[(&str, String)], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "rowfence {} · suite {} · {} PostgreSQL version(s)", m.version, m.suite, m.versions.len())?;
    writeln!(
        out,
        "  {:<3} {:<8} {:<9} {:>5} {:>5} {:>6} {:>7} {:>7}  IMAGE",
        "PG", "SERVER", "VERDICT", "FAIL", "ALL", "CASES", "PROBES", "TIME"
    )?;
    for (v, r) in m.versions.iter().zip(&m.matrix) {
        // `13.23 (Debian 13.23-0+deb11u4)`: the number is what tells versions apart.
        let server = v.server_version.as_deref().and_then(|s| s.split_whitespace().next()).unwrap_or("-");
        writeln!(
            out,
            "  {:<3} {:<8} {:<9} {:>5} {:>5} {:>6} {:>7} {:>6.1}s  {}",
            v.major,
            server,
            verdict_word(v.verdict),
            v.failing,
            v.findings,
            r.stats.cases,
            r.stats.probes,
            v.duration_ms as f64 / 1000.0,
            v.image
        )?;
        if let Some(e) = &v.error {
            writeln!(out, "      {}", first_line(e))?;
        }
    }
    writeln!(out)?;
    if m.differences.is_empty() {
        writeln!(out, "No finding differs between the versions that judged the suite.")?;
    } else {
        writeln!(out, "Findings that differ between versions:")?;
        writeln!(out, "  {:<8} {:<34} {:<30} {:<14} ON", "SEVERITY", "RULE", "RELATION", "WHERE")?;
        for d in &m.differences {
            let place = match (d.operation, d.context) {
                (Some(op), Some(cx)) => format!("{}/{}", op.as_str(), cx.as_str()),
                _ => "static".into(),
            };
            writeln!(
                out,
                "  {:<8} {:<34} {:<30} {:<14} {} (not {})",
                d.severity.as_str().to_uppercase(),
                d.rule,
                d.relation.as_deref().unwrap_or("-"),
                place,
                majors(&d.present_on),
                majors(&d.absent_on)
            )?;
        }
    }
    if let Some((v, worst)) = m.worst().and_then(|w| {
        let i = m.matrix.iter().position(|r| std::ptr::eq(r, w))?;
        Some((&m.versions[i], w))
    }) && worst.verdict != Verdict::Isolated
    {
        writeln!(out)?;
        writeln!(out, "Worst version: PostgreSQL {} ({})", v.major, v.image)?;
        console::summary(worst, style, &[], out)?;
    }
    writeln!(out)?;
    for (what, path) in written {
        writeln!(out, "{what} report: {path}")?;
    }
    verdict_line(m, style, out)
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Isolated => "isolated",
        Verdict::Violated => "violated",
        Verdict::Error => "error",
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// JUnit XML: one test suite per version, named `pg13 / SUITE`.
pub fn junit(m: &VersionMatrix) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("rowfence");
    for (v, r) in m.versions.iter().zip(&m.matrix) {
        junit.add_test_suite(super::junit::test_suite(r, format!("pg{} / {}", v.major, r.suite)));
    }
    junit.to_string()
}

/// SARIF 2.1.0: one run per version, told apart by `automationDetails.id`
/// (`rowfence/pg13/`), as code scanning wants for several runs of one tool.
pub fn sarif(m: &VersionMatrix) -> serde_json::Value {
    let runs = m
        .versions
        .iter()
        .zip(&m.matrix)
        .map(|(v, r)| {
            let mut run = super::sarif::run(r);
            run["automationDetails"] = serde_json::json!({ "id": format!("rowfence/pg{}/", v.major) });
            run["properties"]["postgres"] = serde_json::json!({ "major": v.major, "image": v.image });
            run
        })
        .collect();
    super::sarif::log(runs)
}

/// The page header: the overall verdict, a table of versions and the
/// differences. Values are escaped (autoescape); nothing is marked safe.
const HEADER_TEMPLATE: &str = r##"{%- autoescape true -%}
<header class="topbar">
  <div class="page">
    <span class="brand">{{ m.tool }}</span>
    <span class="doc-title">Row-level security isolation across PostgreSQL versions</span>
    <nav>
      <a href="#versions">Versions</a>
      <a href="#differences">Differences</a>
      {%- for v in m.versions %}
      <a href="#pg{{ v.major }}">PostgreSQL {{ v.major }}</a>
      {%- endfor %}
    </nav>
  </div>
</header>
<main class="page">
<section class="summary" id="versions" aria-label="Versions">
  <div class="verdict {{ m.verdict }}">
    <span class="label">Verdict (the worst version)</span>
    <span class="word">{{ m.verdict|upper }}</span>
    <span class="why">suite {{ m.suite }} on {{ m.versions|length }} PostgreSQL version(s)</span>
  </div>
</section>
<section>
<h2>Versions</h2>
<table class="versions">
  <thead><tr><th>PostgreSQL</th><th>Server</th><th>Image</th><th>Verdict</th><th>High/critical</th><th>Findings</th><th>Time</th></tr></thead>
  <tbody>
  {%- for v in m.versions %}
  <tr>
    <td><a href="#pg{{ v.major }}">{{ v.major }}</a></td>
    <td>{{ v.server_version|default("-") }}</td>
    <td><code>{{ v.image }}</code></td>
    <td><span class="vword {{ v.verdict }}">{{ v.verdict }}</span>{% if v.error %}<div class="err">{{ v.error }}</div>{% endif %}</td>
    <td>{{ v.failing }}</td>
    <td>{{ v.findings }}</td>
    <td>{{ (v.duration_ms // 100) / 10 }} s</td>
  </tr>
  {%- endfor %}
  </tbody>
</table>
</section>
<section id="differences">
<h2>Findings that differ between versions</h2>
{%- if m.differences %}
<table class="versions">
  <thead><tr><th>Severity</th><th>Rule</th><th>Relation</th><th>Where</th><th>On</th><th>Not on</th><th>Message</th></tr></thead>
  <tbody>
  {%- for d in m.differences %}
  <tr>
    <td>{{ d.severity }}</td><td><code>{{ d.rule }}</code></td><td><code>{{ d.relation|default("-") }}</code></td>
    <td>{% if d.operation %}{{ d.operation }} / {{ d.context|default("-") }}{% else %}{{ d.kind }}{% endif %}</td>
    <td>{{ d.present_on|join(", ") }}</td><td>{{ d.absent_on|join(", ") }}</td><td>{{ d.message }}</td>
  </tr>
  {%- endfor %}
  </tbody>
</table>
{%- else %}
<p class="empty">No finding differs between the versions that judged the suite.</p>
{%- endif %}
</section>
</main>
{%- endautoescape %}"##;

const EXTRA_CSS: &str = "
table.versions { border-collapse: collapse; font-size: 13px; width: 100%; }
table.versions th, table.versions td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
table.versions code { white-space: nowrap; }
.vword.violated { color: var(--critical); font-weight: 600; }
.vword.error { color: #b45309; font-weight: 600; }
.vword.isolated { color: #15803d; font-weight: 600; }
.err { font-size: 12px; color: var(--ink-3); white-space: pre-wrap; }
section.version { border-top: 4px solid var(--line-2); margin-top: 32px; padding-top: 8px; }
section.version > h1 { font-size: 20px; margin: 8px auto; }
";

/// One self-contained HTML page: the version table and the differences,
/// then each version's full report (ids prefixed `pg13-`).
pub fn html(m: &VersionMatrix) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.add_template("versions.html", HEADER_TEMPLATE)?;
    let header = env.get_template("versions.html")?.render(minijinja::context! { m => m })?;
    let mut css = String::new();
    let mut bodies = String::new();
    for (v, r) in m.versions.iter().zip(&m.matrix) {
        let page = super::html::render(r)?;
        if css.is_empty() {
            css = between(&page, "<style>", "</style>").unwrap_or_default().to_string();
        }
        let main = between(&page, "<main class=\"page\">", "</main>").unwrap_or_default();
        // Values are escaped (`"` is never raw inside them), so `id="` and
        // `href="#` only occur in the template's own markup.
        let prefix = format!("pg{}-", v.major);
        let main = main.replace("id=\"", &format!("id=\"{prefix}")).replace("href=\"#", &format!("href=\"#{prefix}"));
        bodies.push_str(&format!(
            "<section class=\"version\" id=\"pg{major}\"><div class=\"page\"><h1>PostgreSQL {major}</h1>{main}</div></section>\n",
            major = v.major
        ));
    }
    let title = minijinja::HtmlEscape(&m.suite).to_string();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"rowfence {version}\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>rowfence · {title} · PostgreSQL versions</title>\n<style>{css}{EXTRA_CSS}</style>\n</head>\n<body>\n\
         {header}\n{bodies}</body>\n</html>\n",
        version = m.version
    ))
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some(&text[from..to])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{PostgresInfo, Stats};

    fn finding(rule: RuleId, severity: Severity) -> Finding {
        Finding::new(rule, FindingKind::Static, format!("{rule} on public.t"))
            .relation(Some("public.t".into()))
            .severity(severity)
    }

    fn report(version: &str, findings: Vec<Finding>) -> Report {
        let pg = PostgresInfo { version: version.into(), provider: "docker".into() };
        Report::new("s", Some(pg), findings, Stats::default())
    }

    #[test]
    fn the_worst_verdict_wins_and_differences_name_their_versions() {
        let shared = finding(RuleId::ForceMissing, Severity::Medium);
        let m = VersionMatrix::new(
            "s",
            vec![
                (
                    13,
                    "i:13".into(),
                    report("13.23", vec![shared.clone(), finding(RuleId::ViewOwnerRights, Severity::Critical)]),
                ),
                (15, "i:15".into(), report("15.20", vec![shared.clone()])),
                (17, "i:17".into(), Report::error("s", "schema failed to apply".into())),
            ],
        );
        assert_eq!(m.verdict, Verdict::Violated);
        assert_eq!(m.worst().map(|r| r.postgres.as_ref().unwrap().version.as_str()), Some("13.23"));
        // 17 could not judge: it is not compared, so the shared finding is no difference.
        assert_eq!(m.differences.len(), 1);
        assert_eq!(m.differences[0].rule, RuleId::ViewOwnerRights);
        assert_eq!((m.differences[0].present_on.clone(), m.differences[0].absent_on.clone()), (vec![13], vec![15]));

        let isolated_and_error = VersionMatrix::new(
            "s",
            vec![(15, "i".into(), report("15.20", vec![])), (13, "i".into(), Report::error("s", "x".into()))],
        );
        assert_eq!(isolated_and_error.verdict, Verdict::Error);
        let json = serde_json::to_value(&isolated_and_error).unwrap();
        assert!(is_version_matrix(&json));
        assert!(!is_version_matrix(&serde_json::to_value(report("15.20", vec![])).unwrap()));
    }
}
