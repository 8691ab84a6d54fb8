//! The report: findings as data, and the emitters that render it.
//!
//! Every output format reads the same [`Report`]; the JSON form is a contract
//! (documented in the README) that other tools script against.

pub mod console;
pub mod emit;
pub mod gate;
pub mod html;
pub mod junit;
pub mod sarif;
pub mod versions;

use serde::{Deserialize, Serialize};

pub use crate::finding::{Agreement, Evidence, Finding, FindingKind, Location, ProbeResult};
pub use crate::vocab::{CONTEXTS, ContextColumn, ContextKind, OPERATIONS, Operation, Tenancy};

/// The overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No finding of severity high or critical.
    Isolated,
    /// At least one finding of severity high or critical.
    Violated,
    /// The run could not judge (bad input, no PostgreSQL, internal error).
    Error,
}

impl Verdict {
    /// The documented exit code: 0 isolated, 1 violated, 2 could not judge.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Isolated => 0,
            Verdict::Violated => 1,
            Verdict::Error => 2,
        }
    }
}

/// What changed against a baseline report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineDiff {
    /// The baseline file.
    pub file: String,
    /// High/critical findings that are new.
    pub new: Vec<String>,
    /// Matrix cells that became violations (`relation / operation / context`).
    pub widened: Vec<String>,
    /// Baseline high/critical findings that are gone.
    pub resolved: Vec<String>,
}

/// The server the run used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostgresInfo {
    /// `server_version`.
    pub version: String,
    /// `docker`, `local` or `url`.
    pub provider: String,
}

/// Counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Generated datasets.
    pub cases: u32,
    /// Probe statements run (shrinking included).
    pub probes: u64,
    /// With `--per-migration`: probe statements run after the steps before
    /// the last, on what each changed; `probes` is the last step's full run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub step_probes: u64,
    /// Generated datasets that loaded (the rest could not be inserted).
    #[serde(default)]
    pub loaded: u32,
    /// Per probed tenant-owned relation, the loaded datasets in which it held rows.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub populated: std::collections::BTreeMap<String, u32>,
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// Where the wall time went, stage by stage.
    #[serde(default)]
    pub phases: Phases,
    /// Time the server spent planning and executing the probe stage's
    /// statements (pg_stat_statements `total_plan_time + total_exec_time`),
    /// when the run measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_exec_ms: Option<f64>,
    /// CPU time of the run's server backends during the probe stage (local
    /// provider only): everything the server did for rowfence, parsing and
    /// protocol included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_busy_ms: Option<f64>,
    /// The run used the server and schema that the `cargo test` gate's
    /// listing had set up (see [`crate::harness::keeper`]): its provision
    /// and schema phases were paid by the listing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_from_listing: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Stats {
    /// Wall time of the probe stage over the server's execution time in it:
    /// near 1 means rowfence only waits on PostgreSQL.
    pub fn overhead_ratio(&self) -> Option<f64> {
        self.server_exec_ms.filter(|&ms| ms > 0.0).map(|ms| self.phases.probe_ms / ms)
    }

    /// Wall time of the probe stage over the server backends' CPU time in it:
    /// at 1 the server worked for rowfence the whole time, under 1 several
    /// backends worked at once.
    pub fn busy_ratio(&self) -> Option<f64> {
        self.server_busy_ms.filter(|&ms| ms > 0.0).map(|ms| self.phases.probe_ms / ms)
    }
}

/// Wall time per pipeline stage, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Phases {
    /// Starting (or reaching) the server.
    pub provision_ms: f64,
    /// Creating the scratch database, applying the schema, and making the
    /// parallel lanes' copies of it (with their sessions).
    pub schema_ms: f64,
    /// Reading the catalog, ownership analysis and the static checks.
    pub catalog_ms: f64,
    /// Building the data model, calibrating it, and generating every case's data.
    pub generate_ms: f64,
    /// Loading cases, probing, reading ground truth, judging and shrinking.
    pub probe_ms: f64,
    /// Assembling the report.
    pub report_ms: f64,
}

/// What probes showed for one relation, operation and context kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CellState {
    /// Probes ran and stayed inside the tenant.
    #[serde(rename = "pass")]
    Pass,
    /// A probe saw or changed another tenant's rows.
    #[serde(rename = "violation")]
    Violation,
    /// The app holds no privilege for this operation.
    #[serde(rename = "not-granted")]
    NotGranted,
    /// No probe of this kind applies.
    #[serde(rename = "n/a")]
    NotApplicable,
    /// Probes ran but proved nothing (they errored, no dataset had rows of two
    /// tenants, or tenants never saw their own rows); the reason is in
    /// [`MatrixCell::untested`].
    #[serde(rename = "untested")]
    Untested,
}

/// Why a cell is untested.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UntestedCell {
    /// The context kind of the cell.
    pub context: ContextKind,
    /// What kept the probes from proving anything.
    pub reason: String,
}

/// One relation's row of the isolation matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixRow {
    /// Relation.
    pub relation: String,
    /// One cell per entry of [`OPERATIONS`].
    pub cells: Vec<MatrixCell>,
}

/// One operation's cell: a state per entry of [`CONTEXTS`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixCell {
    /// Operation.
    pub operation: Operation,
    /// States by context kind.
    pub states: Vec<CellState>,
    /// The untested cells' reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untested: Vec<UntestedCell>,
}

/// A relation's RLS posture, for reviewers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelationPosture {
    /// Relation.
    pub relation: String,
    /// `table`, `partitioned`, `view` ...
    pub kind: String,
    /// How rows belong to tenants.
    pub ownership: String,
    /// RLS enabled.
    pub rls_enabled: bool,
    /// RLS forced.
    pub rls_forced: bool,
    /// Owner role.
    pub owner: String,
    /// The app role's privileges, e.g. `SELECT, INSERT`.
    pub privileges: String,
    /// Policies.
    pub policies: Vec<PolicyPosture>,
}

/// A policy, for reviewers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyPosture {
    /// Name.
    pub name: String,
    /// Permissive (else restrictive).
    pub permissive: bool,
    /// `all`, `select` ...
    pub command: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// USING.
    pub using: Option<String>,
    /// WITH CHECK.
    pub with_check: Option<String>,
}

/// The app role, for reviewers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolePosture {
    /// Name.
    pub name: String,
    /// SUPERUSER.
    pub superuser: bool,
    /// BYPASSRLS.
    pub bypassrls: bool,
    /// LOGIN.
    pub login: bool,
    /// Role-level settings.
    pub settings: Vec<String>,
    /// Memberships.
    pub memberships: Vec<crate::catalog::Membership>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Always `rowfence`.
    pub tool: String,
    /// rowfence's version.
    pub version: String,
    /// Suite name.
    pub suite: String,
    /// Outcome.
    pub verdict: Verdict,
    /// Server details (absent when none could be had).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresInfo>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Counters.
    pub stats: Stats,
    /// Why the run could not judge (verdict `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the run ended (RFC 3339, UTC).
    #[serde(default)]
    pub generated_at: String,
    /// The suite file, as given.
    #[serde(default)]
    pub suite_file: String,
    /// The isolation matrix: relations x operations x context kinds (check
    /// only). Reports written before it was renamed call it `matrix`; a
    /// version matrix (`--pg`) is told apart by its `versions` key.
    #[serde(default, alias = "matrix", skip_serializing_if = "Vec::is_empty")]
    pub isolation: Vec<MatrixRow>,
    /// The matrix's context columns and what this run calls them (reports
    /// written before memberships had the four classic ones).
    #[serde(default = "crate::vocab::classic_columns")]
    pub contexts: Vec<ContextColumn>,
    /// Per-relation RLS posture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub posture: Vec<RelationPosture>,
    /// The app role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RolePosture>,
    /// Database-level settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub database_settings: Vec<String>,
    /// With `--baseline`: what is new, widened and resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineDiff>,
    /// The `cargo test` gate's tests, fixed from the catalog before any probe ran.
    #[serde(default, skip_serializing_if = "gate::GatePlan::is_empty")]
    pub gate: gate::GatePlan,
    /// Tenant-owned relations (or the whole schema) whose isolation the
    /// probes did not really test, each with why: with any, a run that found
    /// no violation could not judge (see [`Report::judge_coverage`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unjudged: Vec<String>,
    /// With `check --shard K/N`: which part of the relations this run
    /// probed; `rowfence merge` puts the parts together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardInfo>,
}

impl Report {
    /// What this run calls context kind `kind` (`member`, `anon` ...).
    pub fn context_name(&self, kind: ContextKind) -> &str {
        self.contexts.iter().find(|c| c.kind == kind).map_or(kind.as_str(), |c| c.name.as_str())
    }

    /// A report from findings; the verdict follows from their severities.
    pub fn new(suite: &str, postgres: Option<PostgresInfo>, mut findings: Vec<Finding>, stats: Stats) -> Report {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.relation.cmp(&b.relation))
                .then_with(|| a.rule.cmp(&b.rule))
                .then_with(|| a.operation.cmp(&b.operation))
        });
        let verdict = if findings.iter().any(Finding::counts) { Verdict::Violated } else { Verdict::Isolated };
        Report {
            tool: "rowfence".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            suite: suite.into(),
            verdict,
            postgres,
            findings,
            stats,
            error: None,
            generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            suite_file: String::new(),
            contexts: crate::vocab::classic_columns(),
            isolation: Vec::new(),
            posture: Vec::new(),
            role: None,
            database_settings: Vec::new(),
            baseline: None,
            gate: gate::GatePlan::default(),
            unjudged: Vec::new(),
            shard: None,
        }
    }

    /// The report of a run that could not judge.
    pub fn error(suite: &str, message: String) -> Report {
        let mut r = Report::new(suite, None, Vec::new(), Stats::default());
        r.verdict = Verdict::Error;
        r.error = Some(message);
        r
    }

    /// Findings that fail the verdict.
    pub fn failing(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.counts())
    }

    /// Recomputes the verdict after waivers or a baseline changed what counts.
    pub fn recompute_verdict(&mut self) {
        if self.verdict == Verdict::Error && self.error.is_some() && !self.findings.iter().any(Finding::counts) {
            return;
        }
        let widened = self.baseline.as_ref().is_some_and(|b| !b.widened.is_empty());
        self.verdict =
            if widened || self.findings.iter().any(Finding::counts) { Verdict::Violated } else { Verdict::Isolated };
        if self.verdict == Verdict::Violated {
            self.error = None;
        }
    }

    /// Never calls isolated what was not tested: a run that found no
    /// violation could not judge while [`Report::unjudged`] names anything.
    /// Both a check and `rowfence merge` reach their verdict through this.
    pub fn judge_coverage(&mut self) {
        if self.verdict == Verdict::Isolated && !self.unjudged.is_empty() {
            self.verdict = Verdict::Error;
            self.error = Some(format!("could not judge the isolation of {}", self.unjudged.join("; ")));
        }
    }

    /// Marks findings a suite accepts.
    pub fn apply_waivers(&mut self, waivers: &[crate::suite::Waiver]) {
        for f in &mut self.findings {
            let unquoted = f.relation.as_deref().map(|r| r.replace('"', ""));
            if let Some(w) = waivers.iter().find(|w| {
                w.rule == f.rule
                    && w.relation
                        .as_deref()
                        .is_none_or(|r| f.relation.as_deref() == Some(r) || unquoted.as_deref() == Some(r))
            }) {
                f.waived = Some(w.reason.clone());
            }
        }
        self.recompute_verdict();
    }

    /// Compares with a baseline report: only what is new or widened counts.
    /// Causes are matched on rule, relation and object; a baseline written
    /// before findings were causes (one entry per probe) still matches.
    pub fn compare_with(&mut self, baseline: &Report, file: &str) {
        let old: Vec<&Finding> = baseline.findings.iter().filter(|f| f.severity.fails()).collect();
        let mut diff = BaselineDiff { file: file.to_string(), ..Default::default() };
        for f in self.findings.iter_mut().filter(|f| f.severity.fails()) {
            let new = !old.iter().any(|o| f.same_cause(o));
            f.new = Some(new);
            if new && f.waived.is_none() {
                diff.new.push(format!("{} {} {}", f.rule, f.relation.as_deref().unwrap_or("-"), f.message));
            }
        }
        let mut resolved = Vec::new();
        for o in old.iter().filter(|o| !self.findings.iter().any(|f| f.severity.fails() && f.same_cause(o))) {
            // An old report lists one cause once per probe.
            if !resolved.iter().any(|(k, _)| *k == o.key()) {
                resolved.push((o.key(), format!("{} {} {}", o.rule, o.relation.as_deref().unwrap_or("-"), o.message)));
            }
        }
        diff.resolved = resolved.into_iter().map(|(_, text)| text).collect();
        for row in &self.isolation {
            let before = baseline.isolation.iter().find(|r| r.relation == row.relation);
            for (i, cell) in row.cells.iter().enumerate() {
                for (j, state) in cell.states.iter().enumerate() {
                    let was = before.and_then(|b| b.cells.get(i)).and_then(|c| c.states.get(j)).copied();
                    if *state == CellState::Violation && was != Some(CellState::Violation) {
                        diff.widened.push(format!(
                            "{} / {} / {}",
                            row.relation,
                            cell.operation.as_str(),
                            self.contexts.get(j).map_or("?", |c| c.name.as_str())
                        ));
                    }
                }
            }
        }
        self.baseline = Some(diff);
        self.recompute_verdict();
    }

    /// Panics with a readable summary of the high and critical findings
    /// unless the verdict is isolated: the one-line `cargo test` gate.
    ///
    /// ```no_run
    /// # async fn t() -> Result<(), rowfence::Error> {
    /// rowfence::Suite::load("suites/app.toml")?.check().await?.assert_isolated();
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn assert_isolated(&self) {
        match self.verdict {
            Verdict::Isolated => {}
            Verdict::Error => {
                panic!("rowfence could not judge suite {}: {}", self.suite, self.error.as_deref().unwrap_or(""))
            }
            Verdict::Violated => {
                let text: Vec<String> = self.failing().map(Finding::describe).collect();
                panic!(
                    "tenant isolation violated in suite {} ({} finding(s)):\n\n{}",
                    self.suite,
                    text.len(),
                    text.join("\n\n")
                );
            }
        }
    }

    /// Writes the JSON form.
    pub fn write_json(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        serde_json::to_writer_pretty(out, self)
    }
}
