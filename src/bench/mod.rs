//! `rowfence bench`: how fast a full check is, and how much of that is
//! PostgreSQL's own work.
//!
//! For each size it writes a generated schema ([`schema`]) and its suite, runs
//! `check` with fixed cases and seed on a server with pg_stat_statements
//! loaded, renders every report format, and records the wall time per stage,
//! probes per second and the overhead ratio: the probe stage's wall time over
//! the time the server spent executing that stage's statements.

pub mod schema;

use std::path::PathBuf;

use crate::provision::ProvisionOptions;
use crate::report::{Report, Stats, Verdict};
use crate::{Error, RunOptions, Suite};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Schema sizes, in tenant tables.
    pub tables: Vec<usize>,
    /// Generated datasets per run.
    pub cases: u32,
    /// Generator seed.
    pub seed: u64,
    /// Runs per size; the row with the median total is kept.
    pub repeat: u32,
    /// Where PostgreSQL comes from (pg_stat_statements is switched on).
    pub provision: ProvisionOptions,
    /// Keep the generated suites here instead of a temp dir.
    pub keep: Option<PathBuf>,
    /// Cases probed at once (`None`: the default, one per core).
    pub jobs: Option<usize>,
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// Tenant tables in the schema.
    pub tables: usize,
    /// Relations in the report's posture table (tables, partitions, views).
    pub relations: usize,
    /// The run's counters; the report stage includes rendering every format.
    pub stats: Stats,
    /// The run's verdict (generated schemas are isolated; anything else is a bug).
    pub verdict: Verdict,
}

impl BenchRow {
    /// Wall time from a running cluster to a rendered verdict.
    pub fn after_cluster_ms(&self) -> f64 {
        let p = &self.stats.phases;
        p.schema_ms + p.catalog_ms + p.generate_ms + p.probe_ms + p.report_ms
    }

    /// Probe statements per second of the probe stage.
    pub fn probes_per_second(&self) -> f64 {
        self.stats.probes as f64 / (self.stats.phases.probe_ms / 1000.0).max(f64::EPSILON)
    }

    /// Probe-stage microseconds per table and case: flat means linear growth.
    pub fn us_per_table_case(&self) -> f64 {
        self.stats.phases.probe_ms * 1000.0 / (self.tables as f64 * self.stats.cases as f64).max(1.0)
    }

    fn from_report(tables: usize, report: &Report, render_ms: f64) -> BenchRow {
        let mut stats = report.stats.clone();
        stats.phases.report_ms += render_ms;
        BenchRow { tables, relations: report.posture.len(), stats, verdict: report.verdict }
    }
}

/// Runs the benchmark; `each` sees every row as soon as it is measured.
pub async fn run(opts: &BenchOptions, mut each: impl FnMut(&BenchRow)) -> Result<Vec<BenchRow>, Error> {
    let temp = tempfile::Builder::new()
        .prefix("rowfence-bench-")
        .tempdir()
        .map_err(|e| Error::Config(format!("cannot create a temp dir: {e}")))?;
    let root = opts.keep.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let run_opts = RunOptions {
        provision: ProvisionOptions { track_statements: true, ..opts.provision.clone() },
        cases: Some(opts.cases),
        seed: Some(opts.seed),
        quiet: true,
        jobs: opts.jobs,
        ..Default::default()
    };
    let mut rows = Vec::new();
    for &tables in &opts.tables {
        let dir = root.join(format!("tables-{tables}"));
        let path = schema::write(&dir, tables, opts.cases, opts.seed)
            .map_err(|e| Error::Config(format!("cannot write {}: {e}", dir.display())))?;
        let suite = Suite::load(&path)?;
        let mut runs = Vec::new();
        for _ in 0..opts.repeat.max(1) {
            let report = crate::check(&suite, &run_opts).await?;
            if let Some(e) = &report.error {
                return Err(Error::Config(format!("the {tables}-table bench schema could not be judged: {e}")));
            }
            let started = std::time::Instant::now();
            render_all(&report)?;
            runs.push(BenchRow::from_report(tables, &report, started.elapsed().as_secs_f64() * 1000.0));
        }
        runs.sort_by(|a, b| a.after_cluster_ms().total_cmp(&b.after_cluster_ms()));
        let median = runs.swap_remove(runs.len() / 2);
        each(&median);
        rows.push(median);
    }
    Ok(rows)
}

/// Renders every output format, as a CI run asking for all of them would.
fn render_all(report: &Report) -> Result<(), Error> {
    let fail = |what: &str, e: String| Error::Config(format!("cannot render {what}: {e}"));
    report.write_json(std::io::sink()).map_err(|e| fail("JSON", e.to_string()))?;
    crate::report::html::render(report).map_err(|e| fail("HTML", e.to_string()))?;
    crate::report::junit::render(report).map_err(|e| fail("JUnit", e.to_string()))?;
    serde_json::to_string(&crate::report::sarif::render(report)).map_err(|e| fail("SARIF", e.to_string()))?;
    Ok(())
}

/// The header of [`markdown_row`]'s table.
pub fn markdown_header() -> String {
    "| tables | relations | cases | probes | provision | schema | catalog | generate | probe | report | \
     verdict after cluster up | probes/s | server plan+exec | overhead ratio | server CPU | busy ratio | \
     µs per table·case |\n\
     |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        .to_string()
}

/// One row of the results table (Markdown, as in the README).
pub fn markdown_row(r: &BenchRow) -> String {
    let s = |ms: f64| format!("{:.2} s", ms / 1000.0);
    let ratio = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2}"));
    let (st, p) = (&r.stats, &r.stats.phases);
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** | {:.0} | {} | {} | {} | {} | {:.0} |",
        r.tables,
        r.relations,
        st.cases,
        st.probes,
        s(p.provision_ms),
        s(p.schema_ms),
        s(p.catalog_ms),
        s(p.generate_ms),
        s(p.probe_ms),
        s(p.report_ms),
        s(r.after_cluster_ms()),
        r.probes_per_second(),
        st.server_exec_ms.map_or("-".into(), s),
        ratio(st.overhead_ratio()),
        st.server_busy_ms.map_or("-".into(), s),
        ratio(st.busy_ratio()),
        r.us_per_table_case(),
    )
}
