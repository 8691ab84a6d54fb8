//! The case loop: generate, load, probe, judge; then shrink every distinct
//! violation to its smallest dataset (`findings` turns it into a finding).

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::coverage::Coverage;
use super::findings::Shrunk;
use super::{AppSessions, Context, Filter, GroundTruth, Probe, ProbeKind, Schema, Session, Violation, judge};
use crate::catalog::RelId;
use crate::db::{Db, describe};
use crate::finding::Finding;
use crate::generate::{CasePlan, Dataset, Model};
use crate::progress::Progress;
use crate::rules::RuleId;
use crate::vocab::{ContextKind, Operation};

/// The case number of the dense dataset (see [`Runner::run`]).
const DENSE_CASE: u32 = u32::MAX;

/// How a case's result counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Merge {
    /// A generated case: everything counts.
    Case,
    /// The dense dataset: coverage and violations count, it is not one of the user's cases.
    Dense,
    /// A shrinking step: only its probes count (coverage is the first run's).
    Shrink,
}

/// Tables whose rows a case may lose to load at all.
const LOAD_TRIMS: usize = 4;
/// Shrinking steps for one violation.
const MAX_SHRINK_STEPS: u32 = 64;
/// Shrinking steps for the whole run, so a schema that leaks everywhere still ends quickly.
const SHRINK_BUDGET: u32 = 1500;

/// Why probing stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A database call that must work failed.
    #[error("{doing}: {error}")]
    Database {
        /// What rowfence was doing.
        doing: &'static str,
        /// The error.
        error: String,
    },
    /// proptest could not generate a case.
    #[error("cannot generate data: {0}")]
    Generate(String),
}

pub(super) fn db_err(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> ProbeError {
    move |e| ProbeError::Database { doing, error: describe(&e) }
}

/// A distinct violation: first seen in `case`, under these contexts.
struct Found {
    case: u32,
    /// The plan of the case as it loaded.
    plan: CasePlan,
    first: Violation,
    contexts: BTreeSet<ContextKind>,
}

/// One copy of the scratch database with its own sessions. Cases run on
/// several lanes at once (one per core): each lane's database is a template
/// copy, so cases on different lanes never share rows or locks.
pub struct Lane<'a> {
    /// Superuser connection: loads cases and reads ground truth.
    pub admin: &'a Db,
    /// The app role's sessions.
    pub app: &'a AppSessions,
}

/// What one case produced, merged into the runner in case order so results
/// do not depend on which lane finished first.
#[derive(Default)]
struct CaseResult {
    /// The plan that loaded: the case's, less the rows of tables the server refused.
    plan: Option<CasePlan>,
    data: Option<Dataset>,
    violations: Vec<Violation>,
    probes_run: u64,
    load_failure: Option<String>,
    coverage: Coverage,
    ran: Vec<(RelId, Operation, ContextKind)>,
    generate_time: std::time::Duration,
}

/// A (relation, operation, context kind) cell of the isolation matrix.
pub type Cell = (RelId, Operation, ContextKind);

/// What the probe stage established: its findings, and how much of the
/// schema it really exercised.
#[derive(Debug, Default)]
pub struct ProbeOutcome {
    /// Violations (shrunk, with their causes) and login defaults.
    pub findings: Vec<Finding>,
    /// Cells some probe exercised.
    pub ran: BTreeSet<Cell>,
    /// Cells that showed a violation.
    pub violated: BTreeSet<Cell>,
    /// What the direct probes really exercised, errors included.
    pub coverage: Coverage,
    /// Cases whose data could not be loaded, with the reason.
    pub load_failures: Vec<String>,
    /// Probe statements run (shrinking included).
    pub probes_run: u64,
    /// Time spent generating cases and turning them into SQL (the rest of the
    /// probe stage is loading, probing and judging).
    pub generate_time: std::time::Duration,
}

/// Runs cases and shrinks.
pub struct Runner<'a> {
    schema: Schema<'a>,
    lanes: &'a [Lane<'a>],
    seed: u64,
    app_role: &'a str,
    progress: Option<&'a dyn Progress>,
    /// Whether violations are shrunk to minimal datasets (a pass that only
    /// needs to know *whether* a cause shows skips it).
    shrinking: bool,
    /// What the run has established so far.
    outcome: ProbeOutcome,
}

impl<'a> Runner<'a> {
    /// A runner over `schema` on `lanes` (at least one; loading data as a
    /// superuser).
    /// Cases done are reported to `progress`.
    pub fn new(
        schema: Schema<'a>,
        lanes: &'a [Lane<'a>],
        seed: u64,
        app_role: &'a str,
        progress: Option<&'a dyn Progress>,
    ) -> Runner<'a> {
        assert!(!lanes.is_empty(), "a runner needs a lane");
        Runner { schema, lanes, seed, app_role, progress, shrinking: true, outcome: ProbeOutcome::default() }
    }

    /// A runner that keeps each violation's dataset as first seen: the
    /// findings name their causes, but their reproductions are not minimal.
    pub fn without_shrinking(mut self) -> Runner<'a> {
        self.shrinking = false;
        self
    }

    /// Runs `cases` generated cases, shrinks what failed, and returns what it established.
    pub async fn run(mut self, cases: u32) -> Result<ProbeOutcome, ProbeError> {
        let strategy = self.schema.model.strategy();
        let mut findings = Vec::new();
        // A login that arrives with a tenant already set (role or database default).
        if let Some(value) =
            self.lanes[0].app.login_context(self.schema.setting).await.map_err(db_err("reading the login's context"))?
        {
            findings.push(super::findings::login_default(self.schema.setting, self.app_role, &value));
        }
        self.prime().await?;
        let mut found: BTreeMap<(RelId, ProbeKind), Found> = BTreeMap::new();
        let all: Vec<u32> = (0..cases).collect();
        for batch in all.chunks(self.lanes.len()) {
            if let Some(p) = self.progress {
                p.cases(batch[0], cases);
            }
            let mut plans = Vec::with_capacity(batch.len());
            for &case in batch {
                let started = std::time::Instant::now();
                plans.push(self.plan(&strategy, case)?.current());
                self.outcome.generate_time += started.elapsed();
            }
            let results =
                join_all(plans.iter().zip(self.lanes).map(|(plan, lane)| self.evaluate(lane, plan, None))).await;
            for (&case, result) in batch.iter().zip(results) {
                let result = result?;
                let loaded = result.plan.clone();
                for v in self.merge(result, Merge::Case) {
                    found
                        .entry((v.rel, v.kind))
                        .or_insert_with(|| Found {
                            case,
                            plan: loaded.clone().unwrap_or_default(),
                            first: v.clone(),
                            contexts: BTreeSet::new(),
                        })
                        .contexts
                        .insert(v.context.kind());
                }
            }
        }
        // The dense dataset: every table holds a row of each of two tenants
        // (a part of the trial dataset calibration loaded). Random cases may
        // leave a table with one tenant's rows or none; this one makes sure
        // every populated table was probed with rows of two tenants at least once.
        let result = self.evaluate(&self.lanes[0], &self.schema.model.dense_plan(), None).await?;
        let dense = result.plan.clone().unwrap_or_default();
        for v in self.merge(result, Merge::Dense) {
            found
                .entry((v.rel, v.kind))
                .or_insert_with(|| Found {
                    case: DENSE_CASE,
                    plan: dense.clone(),
                    first: v.clone(),
                    contexts: BTreeSet::new(),
                })
                .contexts
                .insert(v.context.kind());
        }
        for ((rel, kind), f) in &found {
            self.outcome.violated.extend(f.contexts.iter().map(|c| (*rel, kind.operation(), *c)));
        }
        // One finding per cause: every violated probe is attributed first,
        // then one probe per (relation, rule) is shrunk to a minimal dataset
        // and the others are listed beside it as they were first seen.
        let mut causes: Vec<(CauseKey, Vec<ProbePart>)> = Vec::new();
        for (&(rel, kind), f) in &found {
            let rule_of = |contexts: &BTreeSet<ContextKind>| {
                let select_leaked = found
                    .get(&(rel, ProbeKind::Select))
                    .is_some_and(|sel| sel.contexts.intersection(contexts).next().is_some());
                super::findings::rule_of(&self.schema, (rel, kind), contexts, select_leaked, &f.first.sql)
            };
            let mut parts: Vec<(RuleId, BTreeSet<ContextKind>)> =
                split_by_context(&f.contexts).into_iter().map(|cx| (rule_of(&cx), cx)).collect();
            // One cause explains every context: keep them together.
            if parts.windows(2).all(|w| w[0].0 == w[1].0) {
                parts = vec![(rule_of(&f.contexts), f.contexts.clone())];
            }
            for (rule, contexts) in parts {
                match causes.iter_mut().find(|(k, _)| *k == (rel, rule)) {
                    Some((_, probes)) => probes.push((kind, contexts)),
                    None => causes.push(((rel, rule), vec![(kind, contexts)])),
                }
            }
        }
        if let Some(p) = self.progress {
            p.cases(cases, cases);
            if !causes.is_empty() && self.shrinking {
                p.stage(&format!("shrinking {} cause(s) to minimal datasets", causes.len()));
            }
        }
        let mut budget = SHRINK_BUDGET;
        for ((rel, rule), mut probes) in causes {
            // Shrink a probe whose first violation showed under this cause's contexts.
            let first =
                probes.iter().position(|(k, cx)| cx.contains(&found[&(rel, *k)].first.context.kind())).unwrap_or(0);
            let (kind, contexts) = probes.remove(first);
            let (plan, violation, steps) = match self.shrinking {
                true => self.shrink(&strategy, &found[&(rel, kind)], &mut budget).await?,
                false => (found[&(rel, kind)].plan.clone(), found[&(rel, kind)].first.clone(), 0),
            };
            let data = self.schema.model.materialize(self.schema.catalog, &plan);
            let shrunk = Shrunk { data: &data, violation: &violation, steps, contexts: &contexts };
            let others = probes
                .iter()
                .map(|(k, cx)| super::findings::probe_result(&self.schema, *k, &found[&(rel, *k)].first, cx))
                .collect();
            findings.push(super::findings::violation(&self.schema, self.app_role, (rel, kind), rule, &shrunk, others));
        }
        self.outcome.findings = findings;
        Ok(self.outcome)
    }

    /// The tree of case `case`: a fresh RNG per case, so shrinking can replay it.
    fn plan(
        &self,
        strategy: &BoxedStrategy<CasePlan>,
        case: u32,
    ) -> Result<Box<dyn ValueTree<Value = CasePlan>>, ProbeError> {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        seed[8..12].copy_from_slice(&case.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        strategy.new_tree(&mut runner).map_err(|e| ProbeError::Generate(e.to_string()))
    }

    /// Sets the context once in a finished transaction on each main app
    /// session, so later context-less probes there see '' rather than NULL.
    async fn prime(&self) -> Result<(), ProbeError> {
        let key = self.schema.model.pool.last().cloned().unwrap_or(crate::generate::TenantKey(String::new()));
        let sql = format!("BEGIN; {}; COMMIT", self.schema.context.set_sql(&crate::context::Identity::of(&key)));
        for lane in self.lanes {
            lane.app.main.batch_execute(&sql).await.map_err(db_err("setting the tenant context as the app role"))?;
        }
        Ok(())
    }

    /// Adds a case's counters to the run's and returns its violations.
    fn merge(&mut self, r: CaseResult, mode: Merge) -> Vec<Violation> {
        let o = &mut self.outcome;
        o.probes_run += r.probes_run;
        o.generate_time += r.generate_time;
        let shrinking = mode == Merge::Shrink;
        if let Some(e) = r.load_failure
            && (o.load_failures.is_empty() || !shrinking)
        {
            o.load_failures.push(e);
        }
        if !shrinking {
            o.ran.extend(r.ran);
            let mut coverage = r.coverage;
            if mode == Merge::Dense {
                coverage.populated.clear(); // not one of the user's datasets
            }
            o.coverage.merge(coverage);
        }
        if mode == Merge::Case && r.data.is_some() {
            o.coverage.loaded += 1;
        }
        r.violations
    }

    /// The index in the model's tables of the table a load error names.
    fn refused_table(&self, e: &tokio_postgres::Error) -> Option<usize> {
        let db = e.as_db_error()?;
        let (schema, table) = (db.schema()?, db.table()?);
        let catalog = self.schema.catalog;
        let rel = catalog.relations.iter().find(|r| r.schema == schema && r.name == table)?;
        // A partition's rows are planned under its partitioned parent.
        let mut oid = rel.oid;
        while let Some(parent) = catalog.relation(oid).parent {
            oid = parent;
        }
        self.schema.model.tables.iter().position(|t| t.rel == oid)
    }

    /// Loads `plan` on `lane` and runs the probes (all, or those `filter`
    /// selects). `data` is `None` when the data could not be loaded.
    async fn evaluate(
        &self,
        lane: &Lane<'_>,
        plan: &CasePlan,
        filter: Option<Filter>,
    ) -> Result<CaseResult, ProbeError> {
        let schema = &self.schema;
        let mut out = CaseResult::default();
        let mut plan = plan.clone();
        let mut trims = 0;
        let data = loop {
            let started = std::time::Instant::now();
            let data = schema.model.materialize(schema.catalog, &plan);
            let mut sql = reset_sql(schema.model, schema.catalog);
            for (_, insert) in data.insert_statements(schema.catalog) {
                sql.push_str(&insert);
                sql.push_str(";\n");
            }
            out.generate_time += started.elapsed();
            // Materialized views show what their owner saw at the last refresh.
            for mv in schema.catalog.relations.iter().filter(|r| r.kind == crate::catalog::RelKind::MaterializedView) {
                sql.push_str(&format!("REFRESH MATERIALIZED VIEW {};\n", mv.qualified));
            }
            sql.push_str("COMMIT");
            let Err(e) = lane.admin.batch_execute(&sql).await else { break data };
            let _ = lane.admin.batch_execute("ROLLBACK").await;
            // The server refused a table's rows (a constraint no shape
            // satisfies with these parents): load the case without them.
            match self.refused_table(&e).filter(|&t| trims < LOAD_TRIMS && !plan.rows[t].is_empty()) {
                Some(t) => {
                    tracing::debug!(table = %schema.catalog.relation(schema.model.tables[t].rel).qualified, error = %describe(&e), "loading the case without a table's rows");
                    plan.rows[t].clear();
                    trims += 1;
                }
                None => {
                    out.load_failure = Some(describe(&e));
                    return Ok(out);
                }
            }
        };
        out.plan = Some(plan);
        let truth = GroundTruth::read(lane.admin, schema.catalog, schema.ownership, &schema.truth_relations())
            .await
            .map_err(db_err("reading ground truth"))?;
        if filter.is_none() {
            out.coverage.note_case(schema.probed().map(|r| r.oid), &truth);
        }
        let wants =
            |kind: ProbeKind, context: ContextKind| filter.is_none_or(|f| f.kind == kind && f.context == context);
        let mut judge_all =
            |ctx: Context, probes: &[Probe], results: &[Result<crate::db::Outcome, tokio_postgres::Error>]| {
                out.probes_run += probes.len() as u64;
                out.violations
                    .extend(probes.iter().zip(results).filter_map(|(p, r)| judge(schema, &data, &truth, ctx, p, r)));
                if filter.is_none() {
                    out.ran.extend(probes.iter().map(|p| (p.rel, p.kind.operation(), ctx.kind())));
                    for (p, r) in probes.iter().zip(results) {
                        out.coverage.note_probe(&data, &truth, ctx, p, r);
                    }
                }
            };

        // The app's four sessions work at the same time, each through its own
        // list: main the tenant contexts, the unknown key and none-after-reset;
        // fresh its context-less probes; generic the prepared-plan probes,
        // then COPY; lifecycle the context's lifecycle, then the first
        // tenant's context. Every request is rolled back, and reads and writes see
        // only committed rows, so a probe sees what it would see alone; a
        // probe that lost a deadlock or waited out lock_timeout is not, and
        // its request runs again alone. Results are judged in one fixed order.
        let contexts: Vec<(Context, Vec<Probe>)> = Context::all(&data)
            .into_iter()
            .filter(|ctx| filter.is_none_or(|f| f.context == ctx.kind()))
            .map(|ctx| {
                let mut probes = schema.probes(&data, &truth, ctx, filter);
                probes.extend(schema.indirect_probes(&data, &truth, ctx, filter));
                (ctx, probes)
            })
            .filter(|(_, probes)| !probes.is_empty())
            .collect();
        let elsewhere = |ctx: &Context| matches!(ctx, Context::Tenant(0) | Context::NoneFresh);
        let copy = wants(ProbeKind::Copy, ContextKind::Tenant).then(|| schema.select_probes(ProbeKind::Copy, filter));
        let prepared = wants(ProbeKind::PreparedSelect, ContextKind::Tenant)
            .then(|| schema.select_probes(ProbeKind::PreparedSelect, filter));
        let steps: Vec<(ProbeKind, Vec<Probe>)> = [
            ProbeKind::AfterCommit,
            ProbeKind::AfterRollback,
            ProbeKind::AfterSavepointRollback,
            ProbeKind::AfterAutocommitSet,
        ]
        .into_iter()
        .filter(|step| wants(*step, ContextKind::NoneAfterReset))
        .map(|step| (step, schema.select_probes(step, filter)))
        .collect();
        type Replies = Vec<Result<crate::db::Outcome, tokio_postgres::Error>>;
        // Each kind of request once, for the first pass and for a rerun alone.
        let run_context = async |on: Session, ctx: Context, probes: &[Probe]| {
            lane.app.run(on, schema.context, &data, ctx, probes).await.map_err(db_err("running probes as the app role"))
        };
        let run_prepared = async || match &prepared {
            Some(probes) => Ok(Some(
                lane.app
                    .prepared(schema.context, &data.keys[0], &data.keys[1], probes)
                    .await
                    .map_err(db_err("running prepared probes"))?,
            )),
            None => Ok::<_, ProbeError>(None),
        };
        let run_copy = async || match &copy {
            Some(probes) => Ok(Some(
                lane.app.copy(schema.context, &data.keys[0], probes).await.map_err(db_err("running COPY probes"))?,
            )),
            None => Ok::<_, ProbeError>(None),
        };
        let lifecycle_steps = async || {
            let mut replies: Vec<Replies> = Vec::new();
            for (step, probes) in &steps {
                replies.push(
                    lane.app
                        .after_step(schema.context, &data.keys[0], *step, probes)
                        .await
                        .map_err(db_err("running context lifecycle probes"))?,
                );
            }
            Ok::<_, ProbeError>(replies)
        };
        let context_on = async |on: Session, wanted: Context| match contexts.iter().find(|(ctx, _)| *ctx == wanted) {
            Some((ctx, probes)) => Ok(Some(run_context(on, *ctx, probes).await?)),
            None => Ok::<_, ProbeError>(None),
        };
        let on_main = async {
            let mut replies: Vec<Option<Replies>> = Vec::new();
            for (ctx, probes) in &contexts {
                replies.push(match elsewhere(ctx) {
                    true => None,
                    false => Some(run_context(Session::Main, *ctx, probes).await?),
                });
            }
            Ok::<_, ProbeError>(replies)
        };
        let on_fresh = context_on(Session::Main, Context::NoneFresh);
        let on_generic = async { Ok::<_, ProbeError>((run_prepared().await?, run_copy().await?)) };
        let on_lifecycle = async {
            let replies = lifecycle_steps().await?;
            Ok::<_, ProbeError>((replies, context_on(Session::Lifecycle, Context::Tenant(0)).await?))
        };
        let (main, fresh, generic, lifecycle) = futures::join!(on_main, on_fresh, on_generic, on_lifecycle);
        let (mut replies, mut fresh, (mut generic, mut copied), (mut lifecycle, mut first)) =
            (main?, fresh?, generic?, lifecycle?);
        for ((ctx, _), reply) in contexts.iter().zip(replies.iter_mut()) {
            match ctx {
                Context::NoneFresh => *reply = fresh.take(),
                Context::Tenant(0) => *reply = first.take(),
                _ => {}
            }
        }
        // Lock conflicts between the sessions: those requests again, alone.
        for ((ctx, probes), reply) in contexts.iter().zip(replies.iter_mut()) {
            if reply.as_ref().is_some_and(|r| lost_a_lock(r)) {
                *reply = Some(run_context(Session::Main, *ctx, probes).await?);
            }
        }
        if copied.as_ref().is_some_and(|r| lost_a_lock(r)) {
            copied = run_copy().await?;
        }
        if generic.as_ref().is_some_and(|r| lost_a_lock(r)) {
            generic = run_prepared().await?;
        }
        if lifecycle.iter().any(|r| lost_a_lock(r)) {
            lifecycle = lifecycle_steps().await?;
        }
        for ((ctx, probes), results) in contexts.iter().zip(replies) {
            judge_all(*ctx, probes, &results.expect("every context ran"));
        }
        if let (Some(probes), Some(results)) = (&copy, copied) {
            judge_all(Context::Tenant(0), probes, &results);
        }
        if let (Some(probes), Some(results)) = (&prepared, generic) {
            judge_all(Context::Tenant(1), probes, &results);
        }
        for ((_, probes), results) in steps.iter().zip(lifecycle) {
            judge_all(Context::NoneAfterReset, probes, &results);
        }
        // Last, since it commits: side effects of committed writes.
        let (effects, statements) = super::effects::run(schema, lane.admin, &lane.app.main, &data, &truth, filter)
            .await
            .map_err(db_err("running committed-write probes"))?;
        out.probes_run += statements;
        if filter.is_none() && statements > 0 {
            out.ran.extend(schema.probed().map(|r| (r.oid, Operation::Write, ContextKind::Tenant)));
        }
        out.violations.extend(effects);
        out.data = Some(data);
        Ok(out)
    }

    /// Shrinks the case that first showed `f` while the same probe still fails
    /// under the same kind of context.
    async fn shrink(
        &mut self,
        strategy: &BoxedStrategy<CasePlan>,
        f: &Found,
        budget: &mut u32,
    ) -> Result<(CasePlan, Violation, u32), ProbeError> {
        if f.case == DENSE_CASE {
            // Not drawn from the strategy, so there is no tree to shrink; it is small already.
            return Ok((f.plan.clone(), f.first.clone(), 0));
        }
        let filter = Filter { rel: f.first.rel, kind: f.first.kind, context: f.first.context.kind() };
        let mut tree = self.plan(strategy, f.case)?;
        let mut best = (f.plan.clone(), f.first.clone());
        let mut steps = 0;
        if *budget == 0 || !tree.simplify() {
            return Ok((best.0, best.1, steps));
        }
        loop {
            steps += 1;
            *budget -= 1;
            let plan = tree.current();
            // Shrinking is sequential: it runs on the first lane.
            let result = self.evaluate(&self.lanes[0], &plan, Some(filter)).await?;
            let plan = result.plan.clone().unwrap_or(plan);
            let hit = self
                .merge(result, Merge::Shrink)
                .into_iter()
                .find(|v| v.rel == filter.rel && v.kind == filter.kind && v.context.kind() == filter.context);
            let more = match hit {
                Some(v) => {
                    best = (plan, v);
                    tree.simplify()
                }
                None => tree.complicate(),
            };
            if !more || steps >= MAX_SHRINK_STEPS || *budget == 0 {
                break;
            }
        }
        Ok((best.0, best.1, steps))
    }
}

/// A cause of the probe stage: the relation and the rule that explains it.
type CauseKey = (RelId, RuleId);

/// A probe and the contexts under which its failure belongs to one cause.
type ProbePart = (ProbeKind, BTreeSet<ContextKind>);

/// The contexts a probe failed under, split into those that carry a tenant
/// and those that carry none: a leak without a context (anonymous requests,
/// a missing setting) may have another cause than the same probe's leak
/// under a tenant, so each part is attributed on its own.
fn split_by_context(contexts: &BTreeSet<ContextKind>) -> Vec<BTreeSet<ContextKind>> {
    let (with, without): (BTreeSet<ContextKind>, BTreeSet<ContextKind>) =
        contexts.iter().partition(|c| c.has_context());
    [with, without].into_iter().filter(|part| !part.is_empty()).collect()
}

/// Whether a probe of these lost a deadlock or waited out `lock_timeout`:
/// what a request running alone would not have met.
fn lost_a_lock(results: &[Result<crate::db::Outcome, tokio_postgres::Error>]) -> bool {
    results.iter().any(|r| matches!(r, Err(e) if matches!(crate::db::sqlstate(e), Some("40P01" | "55P03"))))
}

/// Starts a transaction that empties every populated table. Triggers and
/// foreign keys are off (replica mode) so the reset is order-independent and
/// loading fires no user triggers. rowfence refuses to run without a
/// superuser, so replica mode is always available.
pub(super) fn reset_sql(model: &Model, catalog: &crate::catalog::Catalog) -> String {
    let mut sql = String::from("BEGIN;\nSET LOCAL session_replication_role = replica;\n");
    for t in model.tables.iter().rev() {
        sql.push_str(&format!("DELETE FROM {};\n", catalog.relation(t.rel).qualified));
    }
    sql
}
