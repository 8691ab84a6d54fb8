//! The pipeline: suite -> provision -> schema -> catalog -> ownership ->
//! generate -> probe -> report.

use std::time::Instant;

use crate::catalog::Catalog;
use crate::db::{Db, SqlLog, ident, literal};
use crate::error::Error;
use crate::generate::Model;
use crate::lint::LintContext;
use crate::measure::ServerTime;
use crate::ownership::Ownership;
use crate::probe::runner::{Lane, Runner};
use crate::probe::{AppSessions, Schema};
use crate::provision::{ProviderKind, ProvisionOptions, Secret, Server};
use crate::report::{
    Agreement, CONTEXTS, CellState, Finding, FindingKind, MatrixCell, MatrixRow, OPERATIONS, Operation, Phases,
    PolicyPosture, PostgresInfo, RelationPosture, Report, RolePosture, Stats,
};
use crate::rules::RuleId;
use crate::schema::SourceMap;
use crate::suite::Suite;

/// Where a run reports how far it got (the CLI draws a progress bar).
pub trait Progress: Send + Sync {
    /// A new stage began: provisioning, schema, probing, shrinking.
    fn stage(&self, message: &str);
    /// `done` of `total` generated cases are probed.
    fn cases(&self, done: u32, total: u32);
}

/// A shared progress sink.
#[derive(Clone)]
pub struct ProgressSink(pub std::sync::Arc<dyn Progress>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// How to run a suite, beyond what the suite file says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where PostgreSQL comes from.
    pub provision: ProvisionOptions,
    /// Overrides `probes.cases`.
    pub cases: Option<u32>,
    /// Overrides `probes.seed`.
    pub seed: Option<u64>,
    /// No progress lines on stderr.
    pub quiet: bool,
    /// Receives progress instead of plain stderr lines.
    pub progress: Option<ProgressSink>,
    /// Apply a migrations folder one file at a time, run the static checks
    /// after each, and name the file that introduced each finding.
    pub per_migration: bool,
    /// Write every statement sent to the scratch database to this file.
    pub log_sql: Option<std::path::PathBuf>,
    /// Cases run at once, each on its own copy of the scratch database
    /// (default: the number of cores, at most 4).
    pub jobs: Option<usize>,
}

impl RunOptions {
    /// Options from the environment: `ROWFENCE_PROVIDER`, `ROWFENCE_IMAGE`,
    /// `ROWFENCE_DATABASE_URL`, `ROWFENCE_CASES`, `ROWFENCE_SEED`, `ROWFENCE_LOG_SQL`, `ROWFENCE_JOBS`.
    pub fn from_env() -> Result<RunOptions, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let kind = match var("ROWFENCE_PROVIDER").as_deref() {
            None | Some("auto") => ProviderKind::Auto,
            Some("docker") => ProviderKind::Docker,
            Some("local") => ProviderKind::Local,
            Some("url") => ProviderKind::Url,
            Some(other) => {
                return Err(Error::Config(format!("ROWFENCE_PROVIDER={other}: expected auto, docker, local or url")));
            }
        };
        let num = |k: &str| -> Result<Option<u64>, Error> {
            var(k)
                .map(|v| v.parse::<u64>().map_err(|_| Error::Config(format!("{k}={v}: expected a number"))))
                .transpose()
        };
        Ok(RunOptions {
            provision: ProvisionOptions {
                kind,
                image: var("ROWFENCE_IMAGE"),
                database_url: var("ROWFENCE_DATABASE_URL"),
                ..Default::default()
            },
            cases: num("ROWFENCE_CASES")?.map(|n| n as u32),
            seed: num("ROWFENCE_SEED")?,
            log_sql: var("ROWFENCE_LOG_SQL").map(Into::into),
            jobs: num("ROWFENCE_JOBS")?.map(|n| n as usize),
            ..Default::default()
        })
    }
}

/// What a run does after the schema is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Static catalog checks only (`rowfence lint`).
    Lint,
    /// Static checks and probes (`rowfence check`).
    Check,
}

/// Runs the whole check of `suite`: static checks and probes. The server is
/// torn down before this returns.
pub async fn check(suite: &Suite, opts: &RunOptions) -> Result<Report, Error> {
    run(suite, opts, Mode::Check).await
}

/// Runs only the static catalog checks of `suite` (no data is generated).
pub async fn lint(suite: &Suite, opts: &RunOptions) -> Result<Report, Error> {
    run(suite, opts, Mode::Lint).await
}

/// Measures consecutive stages of a run.
struct Clock {
    started: Instant,
    lap: Instant,
    phases: Phases,
}

impl Clock {
    fn new() -> Clock {
        let now = Instant::now();
        Clock { started: now, lap: now, phases: Phases::default() }
    }

    /// Milliseconds since the last lap; starts a new one.
    fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let ms = (now - self.lap).as_secs_f64() * 1000.0;
        self.lap = now;
        ms
    }

    /// Ends the report stage and stores the stages and total in `report`.
    fn finish(&mut self, report: &mut Report) {
        self.phases.report_ms = self.lap();
        report.stats.phases = self.phases;
        report.stats.duration_ms = self.started.elapsed().as_millis() as u64;
    }
}

async fn run(suite: &Suite, opts: &RunOptions, mode: Mode) -> Result<Report, Error> {
    let mut clock = Clock::new();
    progress(opts, &format!("starting PostgreSQL ({})", opts.provision.kind));
    let log = opts
        .log_sql
        .as_deref()
        .map(|p| SqlLog::create(p).map_err(|e| Error::Config(format!("cannot write the SQL log {}: {e}", p.display()))))
        .transpose()?;
    let mut server = Server::start(&opts.provision).await?;
    clock.phases.provision_ms = clock.lap();
    let result = run_on(&mut server, suite, opts, mode, &mut clock, log.as_ref()).await;
    server.shutdown().await;
    if let Some(log) = &log {
        log.flush();
    }
    result
}

async fn run_on(
    server: &mut Server,
    suite: &Suite,
    opts: &RunOptions,
    mode: Mode,
    clock: &mut Clock,
    log: Option<&SqlLog>,
) -> Result<Report, Error> {
    let (admin, dbname) = server.create_scratch().await?;
    let admin = admin.logged(log, "admin");
    server
        .note_roles_before(&admin)
        .await
        .map_err(|e| Error::Config(format!("cannot list roles: {}", crate::db::describe(&e))))?;
    let superuser: bool = admin
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(false);
    if !superuser {
        return Err(Error::Config(
            "the database user must be a superuser: rowfence reads ground truth past row-level security and creates roles".into(),
        ));
    }

    progress(opts, &format!("applying schema ({} file(s))", suite.schema_files.len()));
    let sources = SourceMap::build(suite);
    let first_seen = if opts.per_migration {
        apply_per_migration(&admin, suite, &sources).await?
    } else {
        crate::schema::apply(&admin, suite).await?;
        Vec::new()
    };

    // A fresh session for everything after the schema: a migration may end
    // with SET ROLE or set_config(..., false), which must not shape what
    // rowfence reads as ground truth.
    drop(admin);
    let admin = server.connect_scratch(&dbname).await?.logged(log, "admin");
    clock.phases.schema_ms = clock.lap();
    let catalog = Catalog::read(&admin, &suite.app.role).await?;
    let ownership = Ownership::analyse(&catalog, &suite.tenant)?;
    let lint_cx = LintContext::new(&catalog, &ownership, &suite.tenant.setting, &suite.app.role);
    let mut findings = crate::lint::run(&lint_cx, &sources);
    let postgres = PostgresInfo { version: catalog.server_version.clone(), provider: server.provider.to_string() };
    clock.phases.catalog_ms = clock.lap();
    if mode == Mode::Lint {
        let mut report = Report::new(&suite.name, Some(postgres), findings, Stats::default());
        describe_schema(&mut report, suite, &catalog, &ownership, &sources);
        attribute_migrations(&mut report, suite, &first_seen);
        report.apply_waivers(&suite.waivers);
        clock.finish(&mut report);
        return Ok(report);
    }

    let mut model = Model::new(&catalog, &ownership);
    Runner::calibrate(&mut model, &catalog, &admin, superuser).await?;
    let password = app_login(server, &admin, &suite.app.role).await?;
    let cases = opts.cases.unwrap_or(suite.probes.cases);
    let seed = opts.seed.unwrap_or(suite.probes.seed);
    let jobs = opts.jobs.unwrap_or_else(default_jobs).clamp(1, MAX_JOBS).min(cases.max(1) as usize);
    clock.phases.generate_ms = clock.lap();
    // Lane databases are template copies, made once the schema is complete.
    let (admins, dbnames) = lane_databases(server, admin, dbname, jobs, log).await?;
    let mut sessions = Vec::with_capacity(jobs);
    for (i, name) in dbnames.iter().enumerate() {
        sessions.push(app_sessions(server, &suite.app.role, password.as_ref(), name, log, &lane_suffix(i)).await?);
    }
    let lanes: Vec<Lane<'_>> = admins.iter().zip(&sessions).map(|(admin, app)| Lane { admin, app }).collect();
    let admin = &admins[0];
    let server_time = match opts.provision.track_statements {
        true => ServerTime::start(admin, &dbnames, server.provider == ProviderKind::Local).await,
        false => None,
    };
    clock.phases.schema_ms += clock.lap();
    let schema = Schema { catalog: &catalog, ownership: &ownership, model: &model, setting: &suite.tenant.setting };
    let at_once = lanes.len();
    progress(
        opts,
        &format!("probing {} relation(s) over {cases} case(s), {at_once} at a time", schema.probed().count()),
    );
    let mut runner = Runner::new(schema, &lanes, superuser, seed, &suite.app.role);
    runner.progress = opts.progress.clone();
    let mut dynamic = runner.run(cases).await?;
    let (server_exec_ms, server_busy_ms) = match server_time {
        Some(s) => s.finish(admin).await,
        None => (None, None),
    };
    let probe_and_generate_ms = clock.lap();
    let generate_ms = runner.generate_time.as_secs_f64() * 1000.0;
    clock.phases.generate_ms += generate_ms;
    clock.phases.probe_ms = probe_and_generate_ms - generate_ms;
    annotate_agreement(&mut findings, &mut dynamic);
    findings.extend(dynamic);
    findings.extend(unpopulated_findings(&catalog, &model));
    for ((rel, kind), why) in &runner.inconclusive {
        let rel = catalog.relation(*rel);
        findings.push(info(
            RuleId::ProbeInconclusive,
            Some(rel.qualified.clone()),
            format!("the {kind} probe on {} is inconclusive: {why}", rel.qualified),
        ));
    }
    if let Some(first) = runner.load_failures.first() {
        findings.push(info(
            RuleId::UnpopulatedRelation,
            None,
            format!("{} generated case(s) could not be loaded; first error: {first}", runner.load_failures.len()),
        ));
    }
    let stats = Stats { cases, probes: runner.probes_run, server_exec_ms, server_busy_ms, ..Stats::default() };
    let mut report = Report::new(&suite.name, Some(postgres), findings, stats);
    describe_schema(&mut report, suite, &catalog, &ownership, &sources);
    report.isolation = isolation_matrix(&catalog, &runner);
    if opts.per_migration {
        attribute_migrations(&mut report, suite, &first_seen);
    }
    report.apply_waivers(&suite.waivers);
    // Probes saw no rows in these tables: without a leak found elsewhere, the
    // run cannot claim isolation.
    let unjudged: Vec<&str> = model
        .unpopulated
        .iter()
        .map(|(rel, _)| catalog.relation(*rel))
        .filter(|r| ownership.owner(r.oid).is_some_and(|o| o.is_tenant_owned()) && r.privileges.any())
        .map(|r| r.qualified.as_str())
        .collect();
    if report.verdict == crate::report::Verdict::Isolated && !unjudged.is_empty() {
        report.verdict = crate::report::Verdict::Error;
        report.error = Some(format!(
            "could not populate tenant table(s) {}, so their isolation is unjudged (see the unpopulated_relation findings)",
            unjudged.join(", ")
        ));
    }
    clock.finish(&mut report);
    Ok(report)
}

/// A static finding's identity across migration steps.
type FindingKey = (RuleId, Option<String>);

/// Applies the schema one file at a time, running the static checks after
/// each; returns each finding's key with the first file after which it showed.
async fn apply_per_migration(
    admin: &Db,
    suite: &Suite,
    sources: &SourceMap,
) -> Result<Vec<(FindingKey, String)>, Error> {
    crate::schema::create_app_role(admin, suite).await?;
    let mut first_seen: Vec<(FindingKey, String)> = Vec::new();
    for file in &suite.schema_files {
        crate::schema::apply_file(admin, file).await?;
        let name = migration_name(&file.path);
        // Early migrations may not have the app role or a tenant column yet: nothing to judge.
        let Ok(catalog) = Catalog::read(admin, &suite.app.role).await else { continue };
        let Ok(ownership) = Ownership::analyse(&catalog, &suite.tenant) else { continue };
        let cx = LintContext::new(&catalog, &ownership, &suite.tenant.setting, &suite.app.role);
        for f in crate::lint::run(&cx, sources) {
            let key = (f.rule, f.relation);
            if !first_seen.iter().any(|(k, _)| *k == key) {
                first_seen.push((key, name.clone()));
            }
        }
    }
    Ok(first_seen)
}

/// Sets `introduced_by` on every finding: the step its static twin first
/// showed after; for dynamic findings, the first step with a failing static
/// finding on the same relation, else the file that created the relation,
/// else the last migration.
fn attribute_migrations(report: &mut Report, suite: &Suite, first_seen: &[(FindingKey, String)]) {
    let last = suite.schema_files.last().map(|f| migration_name(&f.path)).unwrap_or_default();
    let order =
        |name: &str| suite.schema_files.iter().position(|f| migration_name(&f.path) == name).unwrap_or(usize::MAX);
    let failing_static: Vec<(Option<String>, String)> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Static && f.severity.fails())
        .filter_map(|f| {
            first_seen
                .iter()
                .find(|(k, _)| k.0 == f.rule && k.1 == f.relation)
                .map(|(_, n)| (f.relation.clone(), n.clone()))
        })
        .collect();
    for f in &mut report.findings {
        let exact = first_seen.iter().find(|(k, _)| k.0 == f.rule && k.1 == f.relation).map(|(_, n)| n.clone());
        let by_relation = || {
            failing_static
                .iter()
                .filter(|(rel, _)| rel.is_some() && *rel == f.relation)
                .map(|(_, n)| n.clone())
                .min_by_key(|n| order(n))
        };
        let created = || f.location.as_ref().map(|l| migration_name(std::path::Path::new(&l.file)));
        let step = match f.kind {
            FindingKind::Static => exact,
            FindingKind::Dynamic => by_relation().or(exact),
        };
        f.introduced_by = Some(step.or_else(created).unwrap_or_else(|| last.clone()));
    }
}

fn migration_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Adds what reviewers read beside the findings: posture, the app role,
/// settings, and the schema line behind each finding's relation.
fn describe_schema(report: &mut Report, suite: &Suite, catalog: &Catalog, ownership: &Ownership, sources: &SourceMap) {
    report.suite_file = suite.path.display().to_string();
    for f in report.findings.iter_mut().filter(|f| f.location.is_none()) {
        if let Some(rel) = f.relation.as_deref().and_then(|q| catalog.relations.iter().find(|r| r.qualified == q)) {
            f.location = sources.locate("relation", &rel.name);
        }
    }
    report.posture = catalog
        .relations
        .iter()
        .filter(|r| r.kind.is_table() || r.privileges.any())
        .map(|r| {
            let p = &r.privileges;
            let privileges: Vec<&str> = [
                (p.select, "SELECT"),
                (p.insert, "INSERT"),
                (p.update, "UPDATE"),
                (p.delete, "DELETE"),
                (p.truncate, "TRUNCATE"),
                (p.references, "REFERENCES"),
                (p.trigger, "TRIGGER"),
            ]
            .into_iter()
            .filter_map(|(g, n)| g.then_some(n))
            .collect();
            RelationPosture {
                relation: r.qualified.clone(),
                kind: serde_json::to_value(r.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                ownership: if r.kind.is_table() { ownership.describe(catalog, r.oid) } else { "-".into() },
                rls_enabled: r.rls_enabled,
                rls_forced: r.rls_forced,
                owner: r.owner.clone(),
                privileges: privileges.join(", "),
                policies: r
                    .policies
                    .iter()
                    .map(|p| PolicyPosture {
                        name: p.name.clone(),
                        permissive: p.permissive,
                        command: serde_json::to_value(p.command)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default(),
                        roles: p.roles.join(", "),
                        using: p.using.clone(),
                        with_check: p.with_check.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let app = &catalog.app;
    report.role = Some(RolePosture {
        name: app.name.clone(),
        superuser: app.superuser,
        bypassrls: app.bypassrls,
        login: app.login,
        settings: app.settings.clone(),
        memberships: app.memberships.clone(),
    });
    report.database_settings = catalog.database_settings.clone();
}

/// The isolation matrix from what the probes exercised and what they showed.
fn isolation_matrix(catalog: &Catalog, runner: &Runner<'_>) -> Vec<MatrixRow> {
    let mut rels: Vec<crate::catalog::RelId> = runner.ran.iter().map(|(r, _, _)| *r).collect();
    rels.sort();
    rels.dedup();
    let mut rows: Vec<MatrixRow> = rels
        .into_iter()
        .map(|oid| {
            let rel = catalog.relation(oid);
            let p = &rel.privileges;
            let cells = OPERATIONS
                .iter()
                .map(|&op| {
                    let granted = match op {
                        Operation::Select | Operation::Copy => p.select,
                        Operation::Insert => p.insert,
                        Operation::Update => p.update,
                        Operation::Delete => p.delete,
                        Operation::Truncate => p.truncate,
                        Operation::Execute | Operation::Write => true,
                    };
                    let states = CONTEXTS
                        .iter()
                        .map(|&cx| {
                            if runner.violated.contains(&(oid, op, cx)) {
                                CellState::Violation
                            } else if runner.ran.contains(&(oid, op, cx)) {
                                CellState::Pass
                            } else if !granted {
                                CellState::NotGranted
                            } else {
                                CellState::NotApplicable
                            }
                        })
                        .collect();
                    MatrixCell { operation: op, states }
                })
                .collect();
            MatrixRow { relation: rel.qualified.clone(), cells }
        })
        .collect();
    rows.sort_by(|a, b| a.relation.cmp(&b.relation));
    rows
}

/// Marks how static and dynamic findings relate, relation by relation.
/// Both kinds count toward the verdict; this says which evidence exists.
fn annotate_agreement(statics: &mut [Finding], dynamic: &mut [Finding]) {
    // Role-level causes (superuser, BYPASSRLS) have no relation and show on every one.
    let same = |s: &Finding, d: &Finding| {
        s.relation.is_none() && s.rule == d.rule || s.relation.is_some() && s.relation == d.relation
    };
    let fails = |f: &&mut Finding| f.severity.fails();
    let static_keys: Vec<Finding> = statics.iter().filter(|f| f.severity.fails()).cloned().collect();
    let dynamic_keys: Vec<Finding> = dynamic.iter().filter(|f| f.severity.fails()).cloned().collect();
    for f in statics.iter_mut().filter(fails) {
        let seen = dynamic_keys.iter().any(|d| same(f, d));
        f.agreement = Some(if seen { Agreement::Confirmed } else { Agreement::StaticOnly });
    }
    for d in dynamic.iter_mut().filter(fails) {
        let explained = static_keys.iter().any(|s| same(s, d));
        d.agreement = Some(if explained { Agreement::Confirmed } else { Agreement::DynamicOnly });
    }
}

/// Most lanes a run opens (each holds five connections).
const MAX_JOBS: usize = 8;

/// Default number of parallel lanes: one per core, at most 4.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// `""` for the first lane, `/2`, `/3` ... for the others (SQL log labels).
fn lane_suffix(i: usize) -> String {
    if i == 0 { String::new() } else { format!("/{}", i + 1) }
}

/// The superuser connections and names of `jobs` lane databases: the scratch
/// database and `jobs - 1` template copies of it.
async fn lane_databases(
    server: &mut Server,
    admin: Db,
    dbname: String,
    jobs: usize,
    log: Option<&SqlLog>,
) -> Result<(Vec<Db>, Vec<String>), Error> {
    if jobs == 1 {
        return Ok((vec![admin], vec![dbname]));
    }
    // CREATE DATABASE ... TEMPLATE needs the template to itself.
    drop(admin);
    let mut admins = Vec::with_capacity(jobs);
    let mut names = vec![dbname.clone()];
    let mut copies = Vec::with_capacity(jobs - 1);
    for i in 1..jobs {
        match server.copy_scratch(&dbname).await {
            Ok((db, name)) => {
                copies.push(db.logged(log, format!("admin{}", lane_suffix(i))));
                names.push(name);
            }
            // E.g. another session on a shared server holds the template: fewer lanes, same results.
            Err(e) => {
                crate::note!("rowfence: running {i} lane(s) instead of {jobs}: {e}");
                break;
            }
        }
    }
    admins.push(server.connect_scratch(&dbname).await?.logged(log, "admin"));
    admins.extend(copies);
    Ok((admins, names))
}

/// Gives the app role a throwaway password where logins need one.
async fn app_login(server: &Server, admin: &Db, role: &str) -> Result<Option<Secret>, Error> {
    let err = |e: String| Error::AppLogin { role: role.to_string(), error: e };
    if !server.created_role(role) {
        return Err(err("the role existed on the server before this run; rowfence only changes roles it created \
             (give it a server without that role, or use the docker or local provider)"
            .into()));
    }
    let password = server.app_needs_password.then(Secret::random);
    let login = format!("ALTER ROLE {} WITH LOGIN", ident(role));
    let (sql, shown) = match &password {
        Some(p) => (format!("{login} PASSWORD {}", literal(p.expose())), format!("{login} PASSWORD '<redacted>'")),
        None => (login.clone(), login),
    };
    admin.batch_execute_redacted(&sql, &shown).await.map_err(|e| err(crate::db::describe(&e)))?;
    Ok(password)
}

/// Opens the app role's sessions on database `dbname`: one that sets
/// contexts, one that never does, one with generic plans, one for the
/// context lifecycle.
async fn app_sessions(
    server: &Server,
    role: &str,
    password: Option<&Secret>,
    dbname: &str,
    log: Option<&SqlLog>,
    suffix: &str,
) -> Result<AppSessions, Error> {
    let err = |e: String| Error::AppLogin { role: role.to_string(), error: e };
    let config = server.endpoint.config(role, password, dbname);
    // A probe must never hang the run (a lock, a slow function): timeouts on every session.
    let connect = |options: String, name: &str| {
        let mut c = config.clone();
        c.options(&options);
        let name = format!("app/{name}{suffix}");
        async move { Db::connect(&c).await.map(|db| db.logged(log, name)).map_err(|e| err(crate::db::describe(&e))) }
    };
    let base = "-c statement_timeout=30000 -c lock_timeout=10000";
    Ok(AppSessions::new(
        connect(base.into(), "main").await?,
        connect(base.into(), "fresh").await?,
        connect(format!("{base} -c plan_cache_mode=force_generic_plan"), "generic").await?,
        connect(base.into(), "lifecycle").await?,
    ))
}

fn unpopulated_findings(catalog: &Catalog, model: &Model) -> Vec<Finding> {
    model
        .unpopulated
        .iter()
        .map(|(rel, why)| {
            let rel = catalog.relation(*rel);
            info(
                RuleId::UnpopulatedRelation,
                Some(rel.qualified.clone()),
                format!("{} could not be populated: {why}", rel.qualified),
            )
        })
        .collect()
}

fn info(rule: RuleId, relation: Option<String>, message: String) -> Finding {
    Finding::new(rule, FindingKind::Dynamic, message).relation(relation)
}

/// Reports a stage: to the progress sink, or as a line on stderr unless quiet.
fn progress(opts: &RunOptions, msg: &str) {
    match &opts.progress {
        Some(p) => p.0.stage(msg),
        None if !opts.quiet => crate::note!("rowfence: {msg}"),
        None => {}
    }
}
