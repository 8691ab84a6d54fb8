//! The pipeline: suite -> provision -> schema -> catalog -> ownership ->
//! generate -> probe / lint -> report. [`check`] and [`lint`] are short lists
//! of stage calls; each stage lives in the module named for it, and the
//! joints of the run live here: options, the stage clock, parallel lanes,
//! per-migration attribution and report assembly.

mod assemble;
mod causes;
mod clock;
mod fingerprint;
mod lanes;
mod migrations;
mod options;
mod steps;

pub use options::RunOptions;

use std::collections::BTreeSet;

use crate::catalog::{Catalog, RelId};
use crate::db::{Db, SqlLog};
use crate::error::Error;
use crate::generate::Model;
use crate::lint::LintContext;
use crate::measure::ServerTime;
use crate::ownership::Ownership;
use crate::probe::Schema;
use crate::probe::runner::{ProbeOutcome, Runner};
use crate::provision::{ProviderKind, Server};
use crate::report::{PostgresInfo, Report, Stats};
use crate::schema::SourceMap;
use crate::suite::Suite;

use assemble::{Analysis, Sources};
use clock::Clock;

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

async fn run(suite: &Suite, opts: &RunOptions, mode: Mode) -> Result<Report, Error> {
    let mut clock = Clock::new();
    let log = sql_log(opts)?;
    let mut server = start(opts, &mut clock).await?;
    let result = stages(&mut server, suite, opts, mode, &mut clock, log.as_ref()).await.map(|(report, _)| report);
    server.shutdown().await;
    if let Some(log) = &log {
        log.flush();
    }
    result
}

/// A server whose scratch database already holds the suite's schema: what
/// [`lint_keeping`] leaves for a later [`check_prepared`] (the `cargo test`
/// gate's listing hands it to the process that runs the check).
pub struct Prepared {
    /// The server, torn down when this is.
    pub server: Server,
    /// The scratch database with the schema applied (nobody connected).
    pub dbname: String,
}

/// [`lint`], keeping the server and its scratch database for [`check_prepared`]
/// when the lint got that far. Not for `--per-migration` or `--log-sql` runs,
/// whose check must see the schema applied.
pub async fn lint_keeping(suite: &Suite, opts: &RunOptions) -> Result<(Report, Prepared), Error> {
    ensure_preparable(opts)?;
    let mut clock = Clock::new();
    let mut server = start(opts, &mut clock).await?;
    match stages(&mut server, suite, opts, Mode::Lint, &mut clock, None).await {
        Ok((report, dbname)) => Ok((report, Prepared { server, dbname })),
        Err(e) => {
            server.shutdown().await;
            Err(e)
        }
    }
}

/// [`check`] on a server whose scratch database holds the suite's schema
/// already (from [`lint_keeping`]): no provisioning, no schema stage. The
/// server is torn down before this returns.
pub async fn check_prepared(suite: &Suite, opts: &RunOptions, prepared: Prepared) -> Result<Report, Error> {
    ensure_preparable(opts)?;
    let mut clock = Clock::new();
    let Prepared { mut server, dbname } = prepared;
    let map = SourceMap::build(suite);
    let sources = Sources { suite, map: &map, steps: None };
    let result = after_schema(&mut server, &dbname, &sources, opts, Mode::Check, &mut clock, None).await;
    server.shutdown().await;
    result.map(|mut report| {
        report.stats.server_from_listing = true;
        report
    })
}

/// Whether a run with `opts` may use a [`Prepared`] server: its schema went
/// in without a SQL log or migration steps.
pub fn preparable(opts: &RunOptions) -> bool {
    opts.log_sql.is_none() && !opts.per_migration
}

fn ensure_preparable(opts: &RunOptions) -> Result<(), Error> {
    match preparable(opts) {
        true => Ok(()),
        false => Err(Error::Config("--log-sql and --per-migration runs apply the schema themselves".into())),
    }
}

/// The schema stage and everything after it on `server`; returns the report
/// and the scratch database's name.
async fn stages(
    server: &mut Server,
    suite: &Suite,
    opts: &RunOptions,
    mode: Mode,
    clock: &mut Clock,
    log: Option<&SqlLog>,
) -> Result<(Report, String), Error> {
    let map = SourceMap::build(suite);
    let (dbname, steps) = schema_stage(server, suite, &map, opts, mode, clock, log).await?;
    let sources = Sources { suite, map: &map, steps: steps.as_ref() };
    let report = after_schema(server, &dbname, &sources, opts, mode, clock, log).await?;
    Ok((report, dbname))
}

fn sql_log(opts: &RunOptions) -> Result<Option<SqlLog>, Error> {
    opts.log_sql
        .as_deref()
        .map(|p| SqlLog::create(p).map_err(|e| Error::Config(format!("cannot write the SQL log {}: {e}", p.display()))))
        .transpose()
}

async fn start(opts: &RunOptions, clock: &mut Clock) -> Result<Server, Error> {
    opts.progress().stage(&format!("starting PostgreSQL ({})", opts.provision.kind));
    let server = Server::start(&opts.provision).await?;
    clock.phases.provision_ms = clock.lap();
    Ok(server)
}

/// Creates the scratch database and applies the schema (one migration at a
/// time with `--per-migration`); returns the database's name.
async fn schema_stage(
    server: &mut Server,
    suite: &Suite,
    sources: &SourceMap,
    opts: &RunOptions,
    mode: Mode,
    clock: &mut Clock,
    log: Option<&SqlLog>,
) -> Result<(String, Option<migrations::Steps>), Error> {
    let (admin, dbname) = scratch(server, log).await?;
    opts.progress().stage(&format!("applying schema ({} file(s))", suite.schema_files.len()));
    let steps = match opts.per_migration {
        true => {
            let chain = migrations::Chain { server, dbname: &dbname, suite, opts, sources, log };
            let (_admin, steps) = chain.apply(admin, mode == Mode::Check).await?;
            Some(steps)
        }
        false => {
            crate::schema::apply(&admin, suite).await?;
            None
        }
    };
    clock.phases.schema_ms = clock.lap();
    Ok((dbname, steps))
}

/// Everything after the schema: the static stage, and the probes for a check.
#[allow(clippy::too_many_arguments)]
async fn after_schema(
    server: &mut Server,
    dbname: &str,
    sources: &Sources<'_>,
    opts: &RunOptions,
    mode: Mode,
    clock: &mut Clock,
    log: Option<&SqlLog>,
) -> Result<Report, Error> {
    let suite = sources.suite;
    // A fresh session for everything after the schema: a migration may end
    // with SET ROLE or set_config(..., false), which must not shape what
    // rowfence reads as ground truth.
    let admin = server.connect_scratch(dbname).await?.logged(log, "admin");
    clock.phases.schema_ms += clock.lap();

    let analysis = analyse(&admin, suite, sources.map).await?;
    let postgres =
        PostgresInfo { version: analysis.catalog.server_version.clone(), provider: server.provider.to_string() };
    clock.phases.catalog_ms = clock.lap();
    let mut report = match mode {
        Mode::Lint => assemble::lint_report(postgres, analysis, sources),
        Mode::Check => {
            let model = model(suite, &analysis);
            let shard = opts.shard.map(|s| crate::shard::partition(&analysis.catalog, &analysis.ownership, s));
            let major = analysis.catalog.major_version();
            let (model, probed, mut stats) = probe(
                server,
                admin,
                dbname.to_string(),
                suite,
                opts,
                &analysis,
                model,
                Pass::Full,
                clock,
                log,
                shard.as_ref(),
            )
            .await?;
            stats.step_probes = sources.steps.map_or(0, |s| s.step_probes);
            let mut report = assemble::check_report(postgres, analysis, &model, probed, stats, sources, shard.as_ref());
            if let Some(part) = shard {
                let seed = opts.seed.unwrap_or(suite.probes.seed);
                report.shard = Some(crate::shard::ShardInfo::new(part, &report, major, seed));
            }
            report
        }
    };
    clock.finish(&mut report);
    Ok(report)
}

/// Creates the scratch database and checks that rowfence runs as a superuser.
async fn scratch(server: &mut Server, log: Option<&SqlLog>) -> Result<(Db, String), Error> {
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
    Ok((admin, dbname))
}

/// The static stage: catalog, row ownership, and the lint rules.
async fn analyse(admin: &Db, suite: &Suite, sources: &SourceMap) -> Result<Analysis, Error> {
    // Policies and privileges are judged for the role the requests run as.
    let catalog = Catalog::read(admin, suite.app.effective(), suite.app.anon_role.as_deref()).await?;
    let ownership = Ownership::analyse(&catalog, &suite.tenant)?;
    let lint = LintContext::new(&catalog, &ownership, &suite.tenant.setting, suite.app.effective())
        .shared_rows(suite.tenant.shared_rows);
    let findings = crate::lint::run(&lint, sources);
    Ok(Analysis { catalog, ownership, findings })
}

/// The generator's model of the analysed schema, as the suite's context shapes it.
fn model(suite: &Suite, analysis: &Analysis) -> Model {
    let mut model = Model::new(&analysis.catalog, &analysis.ownership);
    model.request_names_tenant = suite.context.names_tenant();
    model.user_controlled = suite.context.has_user_controlled();
    model
}

/// What the probes need to know of the schema, restricted to `only`.
fn schema<'a>(
    suite: &'a Suite,
    analysis: &'a Analysis,
    model: &'a Model,
    only: Option<&'a BTreeSet<RelId>>,
) -> Schema<'a> {
    Schema {
        catalog: &analysis.catalog,
        ownership: &analysis.ownership,
        model,
        setting: &suite.tenant.setting,
        context: &suite.context,
        shared_rows_writable: suite.tenant.shared_rows == crate::suite::SharedRows::Writable,
        login: (&suite.app.role, suite.app.session_role()),
        only,
    }
}

/// What one probe pass covers.
#[derive(Debug, Clone, Copy)]
enum Pass<'a> {
    /// After the whole schema: every relation, the suite's cases on every
    /// lane, violations shrunk. Its outcome is the report's.
    Full,
    /// After one migration step but the last (`--per-migration`): only what
    /// the step changed, `cases` generated datasets and the dense one on a
    /// single lane, nothing shrunk. It only says which causes showed.
    Step { only: &'a BTreeSet<RelId>, cases: u32 },
}

impl<'a> Pass<'a> {
    /// The relations this pass probes (`None`: all).
    fn only(self) -> Option<&'a BTreeSet<RelId>> {
        match self {
            Pass::Full => None,
            Pass::Step { only, .. } => Some(only),
        }
    }
}

/// The dynamic stage: calibrate the data model, open the lanes, run the
/// cases and shrink what leaked.
#[allow(clippy::too_many_arguments)]
async fn probe(
    server: &mut Server,
    admin: Db,
    dbname: String,
    suite: &Suite,
    opts: &RunOptions,
    analysis: &Analysis,
    mut model: Model,
    pass: Pass<'_>,
    clock: &mut Clock,
    log: Option<&SqlLog>,
    shard: Option<&crate::shard::Partition>,
) -> Result<(Model, ProbeOutcome, Stats), Error> {
    let catalog = &analysis.catalog;
    crate::probe::calibrate::calibrate(&mut model, catalog, &admin).await?;
    let password = lanes::app_login(server, &admin, &suite.app.role).await?;
    lanes::check_role_switch(&admin, &suite.app).await?;
    let (cases, jobs) = match pass {
        Pass::Full => {
            let cases = opts.cases.unwrap_or(suite.probes.cases);
            let jobs = opts.jobs.unwrap_or_else(lanes::default_jobs);
            (cases, jobs.clamp(1, lanes::MAX_JOBS).min(cases.max(1) as usize))
        }
        Pass::Step { cases, .. } => (cases, 1),
    };
    let seed = opts.seed.unwrap_or(suite.probes.seed);
    clock.phases.generate_ms = clock.lap();

    // Lane databases are template copies, made once the schema is complete.
    let app = lanes::AppLogin {
        role: &suite.app.role,
        password: password.as_ref(),
        session_role: suite.app.session_role(),
        protocol: opts.protocol,
        plans: crate::probe::Plans::for_schema(catalog),
    };
    let lanes = lanes::Lanes::open(server, admin, dbname, jobs, app, log).await?;
    let server_time = match opts.provision.track_statements && matches!(pass, Pass::Full) {
        true => ServerTime::start(lanes.admin(), lanes.names(), server.provider == ProviderKind::Local).await,
        false => None,
    };
    clock.phases.schema_ms += clock.lap();

    // A step pass probes what its step changed; a shard's full pass, its own relations.
    let schema = schema(suite, analysis, &model, pass.only().or(shard.map(|p| &p.relations)));
    let lane_list = lanes.lanes();
    let probed = match pass {
        Pass::Full => {
            let progress = opts.progress();
            let part = shard.map(|p| format!(" (shard {})", p.shard)).unwrap_or_default();
            progress.stage(&format!(
                "probing {} relation(s){part} over {cases} case(s), {} at a time",
                schema.probed().count(),
                lane_list.len()
            ));
            Runner::new(schema, &lane_list, seed, suite.app.effective(), Some(progress)).run(cases).await?
        }
        Pass::Step { .. } => {
            let runner = Runner::new(schema, &lane_list, seed, suite.app.effective(), None);
            runner.without_shrinking().run(cases).await?
        }
    };
    let (server_exec_ms, server_busy_ms) = match server_time {
        Some(s) => s.finish(lanes.admin()).await,
        None => (None, None),
    };
    let probe_and_generate_ms = clock.lap();
    let generate_ms = probed.generate_time.as_secs_f64() * 1000.0;
    clock.phases.generate_ms += generate_ms;
    clock.phases.probe_ms = probe_and_generate_ms - generate_ms;
    let stats = Stats {
        cases,
        probes: probed.probes_run,
        loaded: probed.coverage.loaded,
        populated: probed
            .coverage
            .populated
            .iter()
            .map(|(rel, n)| (catalog.relation(*rel).qualified.clone(), *n))
            .collect(),
        server_exec_ms,
        server_busy_ms,
        ..Stats::default()
    };
    drop(lane_list);
    drop(lanes);
    Ok((model, probed, stats))
}
