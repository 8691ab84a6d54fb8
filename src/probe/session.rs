//! The app role's sessions, and how probe statements are sent over them:
//! pipelined, each probe between savepoints, the whole transaction rolled back.

use std::future::Future;
use std::pin::Pin;

use futures::future::join_all;
use tokio_postgres::{SimpleQueryMessage, Statement};

use super::template::{Template, parametrize};
use super::{Context, Probe, ProbeKind};
use crate::context::{ContextSpec, Identity};
use crate::db::{Db, Outcome, literal};
use crate::generate::{Dataset, TenantKey};

type Results = Vec<Result<Outcome, tokio_postgres::Error>>;

/// The app role's connections.
pub struct AppSessions {
    /// Runs tenant contexts, the unknown key and none-after-reset.
    pub main: Db,
    /// Never sets the context: none-fresh.
    pub fresh: Db,
    /// `plan_cache_mode = force_generic_plan`: prepared statements across tenant switches.
    pub generic: Db,
    /// Context lifecycle steps (commit, rollback, savepoints, autocommit).
    pub lifecycle: Db,
    /// How probe statements are sent.
    protocol: Protocol,
    /// Which plans prepared probes of requests that set a context may reuse.
    plans: Plans,
}

/// How probe statements are sent to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// Each probe a template prepared once per session (its constants bound
    /// as parameters), so the server parses, analyses and rewrites it once
    /// rather than for every case and context.
    #[default]
    Prepared,
    /// Each probe a simple query with its constants inline.
    Simple,
}

/// Which of a lane's sessions runs a context's request ([`AppSessions::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// The main session, or the fresh one for [`Context::NoneFresh`].
    Main,
    /// The lifecycle session, which sets a context in every request anyway
    /// (so only for contexts that set themselves).
    Lifecycle,
}

impl AppSessions {
    /// Wraps connections that are already logged in as the app role.
    /// `plans` must match the sessions' `plan_cache_mode` (see [`Plans`]).
    pub fn new(main: Db, fresh: Db, generic: Db, lifecycle: Db, protocol: Protocol, plans: Plans) -> AppSessions {
        AppSessions { main, fresh, generic, lifecycle, protocol, plans }
    }

    /// Runs `probes` under `ctx` in one rolled-back transaction, pipelined,
    /// on session `on`.
    pub async fn run(
        &self,
        on: Session,
        context: &ContextSpec,
        data: &Dataset,
        ctx: Context,
        probes: &[Probe],
    ) -> Result<Results, tokio_postgres::Error> {
        let db = match on {
            Session::Lifecycle => {
                debug_assert!(ctx.identity(data).is_some(), "only contexts that set themselves");
                &self.lifecycle
            }
            Session::Main if ctx == Context::NoneFresh => &self.fresh,
            Session::Main => &self.main,
        };
        let mut before = vec!["BEGIN".to_string()];
        let identity = ctx.identity(data);
        let plans = if identity.is_some() { self.plans } else { Plans::PerExecution };
        if self.protocol == Protocol::Prepared {
            before.push(format!("SET LOCAL plan_cache_mode = {}", plans.cache_mode()));
        }
        if let Some(who) = identity {
            before.push(context.set_sql(&who));
        }
        pipeline(db, self.protocol, plans, &before, probes, true, &["ROLLBACK".into()]).await
    }

    /// Runs read probes with no context after a lifecycle step that set tenant `key`.
    pub async fn after_step(
        &self,
        context: &ContextSpec,
        key: &TenantKey,
        step: ProbeKind,
        probes: &[Probe],
    ) -> Result<Results, tokio_postgres::Error> {
        let set = context.set_sql(&Identity::of(key));
        let (before, savepoints, after): (Vec<String>, bool, Vec<String>) = match step {
            ProbeKind::AfterCommit => (vec!["BEGIN".into(), set, "COMMIT".into()], false, vec![]),
            ProbeKind::AfterRollback => (vec!["BEGIN".into(), set, "ROLLBACK".into()], false, vec![]),
            ProbeKind::AfterSavepointRollback => (
                vec!["BEGIN".into(), "SAVEPOINT rowfence_ctx".into(), set, "ROLLBACK TO SAVEPOINT rowfence_ctx".into()],
                true,
                vec!["ROLLBACK".into()],
            ),
            _ => (vec![set], false, vec![]), // set_config(..., true) in autocommit
        };
        // Reads without a context: planned per execution (the session's mode).
        pipeline(&self.lifecycle, self.protocol, Plans::PerExecution, &before, probes, savepoints, &after).await
    }

    /// `COPY (...) TO STDOUT` probes under `key`, in a rolled-back transaction.
    pub async fn copy(
        &self,
        context: &ContextSpec,
        key: &TenantKey,
        probes: &[Probe],
    ) -> Result<Results, tokio_postgres::Error> {
        // On the generic session, after its own requests: COPY plans its
        // query afresh at every execution, whatever plan_cache_mode says.
        let c = &self.generic;
        c.batch_execute(&format!("BEGIN; {}; SAVEPOINT rowfence_probe", context.set_sql(&Identity::of(key)))).await?;
        // Prepared once per session (a COPY takes no parameters; its query is
        // analysed and planned at every execution), after the savepoint, so
        // that one that cannot be prepared does not doom the transaction.
        let statements = match self.protocol {
            Protocol::Prepared => c.prepare_all(&probes.iter().map(|p| p.sql.as_str()).collect::<Vec<_>>()).await,
            Protocol::Simple => Vec::new(),
        };
        let out = if self.protocol == Protocol::Prepared && statements.iter().all(Option::is_some) {
            // Pipelined: per probe, the rollback that recovers from the one
            // before, then the copy.
            let undo = c.prepare_cached(ROLLBACK_TO_PROBE).await;
            let mut pending: Vec<Pending<'_>> = Vec::with_capacity(probes.len() * 2);
            for (p, stmt) in probes.iter().zip(statements.iter().flatten()) {
                pending.push(rollback(c, undo.as_ref()));
                let copy = c.copy_out_prepared(stmt, &p.sql);
                pending.push(Box::pin(async move { copy.await.map(copied) }));
            }
            let mut results = join_all(pending).await.into_iter();
            let mut out = Vec::with_capacity(probes.len());
            while let (Some(rollback), Some(copy)) = (results.next(), results.next()) {
                out.push(rollback.and(copy));
            }
            out
        } else {
            let mut out = Vec::with_capacity(probes.len());
            for p in probes {
                c.batch_execute(ROLLBACK_TO_PROBE).await?;
                out.push(c.copy_out_lines(&p.sql).await.map(copied));
            }
            out
        };
        c.batch_execute("ROLLBACK").await?;
        Ok(out)
    }

    /// Prepared reads planned and run under `first`, then run again under
    /// `second` on the same connection (generic plans forced); returns the
    /// results under `second`.
    pub async fn prepared(
        &self,
        context: &ContextSpec,
        first: &TenantKey,
        second: &TenantKey,
        probes: &[Probe],
    ) -> Result<Results, tokio_postgres::Error> {
        // Prepared inside each request, after its role switch: the session
        // itself may hold a role (anon) that cannot even see the schema.
        // Statements stay prepared on this session across cases.
        let c = &self.generic;
        let mut out = Vec::new();
        for (round, key) in [first, second].into_iter().enumerate() {
            let before = ["BEGIN".to_string(), context.set_sql(&Identity::of(key))];
            let end = if round == 0 { "COMMIT" } else { "ROLLBACK" };
            let results = pipeline_prepared(c, &before, probes, true, &[end.to_string()], Plans::Cached).await?;
            if round == 1 {
                out = results;
            }
        }
        Ok(out)
    }

    /// The tenant setting as a fresh login sees it (role and database defaults).
    pub async fn login_context(&self, setting: &str) -> Result<Option<String>, tokio_postgres::Error> {
        let out = self.fresh.simple(&format!("SELECT current_setting({}, true)", literal(setting))).await?;
        Ok(out.rows.first().and_then(|r| r[0].clone()).filter(|v| !v.is_empty()))
    }
}

/// Sends `before`, the probes and `after` in one pipeline, and returns each
/// probe's result. Failures of `before` and `after` statements are errors of
/// the run.
///
/// Each probe is one simple-query message: with `savepoints`,
/// `ROLLBACK TO SAVEPOINT; probe`. Rolling back to a savepoint keeps it, so
/// one `SAVEPOINT` up front serves every probe, and the rollback that opens
/// each message both undoes the previous probe and recovers the transaction
/// after a failed one. A probe's follow-up count goes in a message of its
/// own, so that its failure (say, no SELECT privilege) cannot turn the
/// probe's own success into an error.
async fn pipeline(
    db: &Db,
    protocol: Protocol,
    plans: Plans,
    before: &[String],
    probes: &[Probe],
    savepoints: bool,
    after: &[String],
) -> Result<Results, tokio_postgres::Error> {
    match protocol {
        Protocol::Simple => pipeline_simple(db, before, probes, savepoints, after).await,
        Protocol::Prepared => pipeline_prepared(db, before, probes, savepoints, after, plans).await,
    }
}

/// [`pipeline`] with prepared templates: `before`, then the preparation of
/// templates this session has not seen (after the SAVEPOINT, so that one
/// that fails to prepare cannot doom the transaction), then per probe a
/// `ROLLBACK TO SAVEPOINT` and the bound template, all in one pipeline. A
/// template that cannot be prepared or read back runs as the simple query.
async fn pipeline_prepared(
    db: &Db,
    before: &[String],
    probes: &[Probe],
    savepoints: bool,
    after: &[String],
    plans: Plans,
) -> Result<Results, tokio_postgres::Error> {
    let mut head: Vec<String> = before.to_vec();
    if savepoints {
        head.push("SAVEPOINT rowfence_probe".into());
    }
    for r in join_all(head.iter().map(|s| db.simple_query(s))).await {
        r?;
    }
    let template = |sql: &str| {
        let t = parametrize(sql);
        // PostgreSQL plans a statement without parameters once and reuses
        // that plan whatever plan_cache_mode says: it would carry one
        // tenant's plan-time constants into the next request.
        match (plans, t.values.is_empty()) {
            (Plans::PerExecution, true) => None,
            _ => Some(t),
        }
    };
    let templates: Vec<(Option<Template>, Option<Template>)> =
        probes.iter().map(|p| (template(&p.sql), p.verify.as_deref().and_then(template))).collect();
    // Probe and count statements, interleaved: prepared together, pipelined.
    let sqls: Vec<&str> = templates.iter().flat_map(|(t, v)| [t, v]).flatten().map(|t| t.sql.as_str()).collect();
    let mut prepared = db.prepare_all(&sqls).await.into_iter();
    let statements: Vec<(Option<Statement>, Option<Statement>)> = templates
        .iter()
        .map(|(t, v)| {
            let mut next = |t: &Option<Template>| t.as_ref().and_then(|_| prepared.next().flatten());
            (next(t), next(v))
        })
        .collect();
    // The rollback before each probe, prepared too: one statement the server
    // would otherwise parse again for every probe.
    let undo = if savepoints { db.prepare_cached(ROLLBACK_TO_PROBE).await } else { None };
    // One entry per probe: its rollback (if any), the probe, its count (if any).
    let mut pending: Vec<Pending<'_>> = Vec::with_capacity(probes.len() * 2);
    for ((p, (t, v)), (stmt, vstmt)) in probes.iter().zip(&templates).zip(&statements) {
        if savepoints {
            pending.push(rollback(db, undo.as_ref()));
        }
        pending.push(send(db, stmt.as_ref().zip(t.as_ref()), &p.sql));
        if let Some(sql) = p.verify.as_deref() {
            pending.push(send(db, vstmt.as_ref().zip(v.as_ref()), sql));
        }
    }
    let mut tail: Vec<Pending<'_>> = Vec::new();
    if savepoints && !after.is_empty() {
        tail.push(rollback(db, undo.as_ref()));
    }
    tail.extend(after.iter().map(|s| simple(db, s)));
    let mut results = join_all(pending.into_iter().chain(tail)).await.into_iter();
    let mut out = Vec::with_capacity(probes.len());
    for p in probes {
        // A failed rollback leaves the transaction aborted: the probe's error says so.
        let rollback = if savepoints { results.next().expect("one result per message").err() } else { None };
        let mut outcome = results.next().expect("one result per message");
        if let Some(e) = rollback {
            outcome = Err(e);
        }
        if p.verify.is_some() {
            let check = results.next().expect("one result per message").ok();
            if let (Ok(o), Some(c)) = (outcome.as_mut(), check) {
                o.check = c.rows.first().and_then(|r| r[0].as_deref()).and_then(|n| n.parse().ok());
            }
        }
        out.push(outcome);
    }
    for r in results {
        r?;
    }
    Ok(out)
}

/// Which plans prepared probes may reuse.
///
/// A plan made for one request and reused for another is the same test as
/// a fresh one except where planning evaluated something: it folds the
/// schema's own IMMUTABLE functions (which may read the tenant setting,
/// `immutable_context_function`), and estimating selectivity it evaluates
/// stable expressions such as `current_setting(...)::uuid`, which raise for
/// an empty or unset setting even where no row would make execution
/// evaluate them. So plans are reused only for requests that set a context
/// (valid settings), and only where the schema has no IMMUTABLE function of
/// its own; every other request is planned for itself, as a simple query
/// is. The `generic` session reuses plans on purpose, to show what a cached
/// plan leaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plans {
    /// Every execution planned for its own request
    /// (`plan_cache_mode = force_custom_plan`); statements without
    /// parameters, which PostgreSQL plans only once anyway, go as simple queries.
    PerExecution,
    /// Whatever the session's plan cache gives (the generic session).
    Cached,
}

impl Plans {
    /// What a schema with these functions allows for requests that set a context.
    pub fn for_schema(catalog: &crate::catalog::Catalog) -> Plans {
        match catalog.functions.iter().any(|f| f.volatility == "i") {
            true => Plans::PerExecution,
            false => Plans::Cached,
        }
    }

    /// The sessions' `plan_cache_mode`.
    pub fn cache_mode(self) -> &'static str {
        match self {
            Plans::PerExecution => "force_custom_plan",
            Plans::Cached => "force_generic_plan",
        }
    }
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<Outcome, tokio_postgres::Error>> + Send + 'a>>;

/// Sends a template bound to its values, or `sql` as a simple query when
/// the template has no usable statement.
fn send<'a>(db: &'a Db, prepared: Option<(&'a Statement, &'a Template)>, sql: &'a str) -> Pending<'a> {
    match prepared {
        Some((stmt, t)) => Box::pin(db.execute_text(stmt, &t.sql, &t.values)),
        None => simple(db, sql),
    }
}

/// Sends `sql` as a simple query (now, so that messages go out in the order
/// their futures were made).
fn simple<'a>(db: &'a Db, sql: &'a str) -> Pending<'a> {
    let reply = db.simple_query(sql);
    Box::pin(async move { reply.await.map(Outcome::from_messages) })
}

/// Undoes the previous probe (see [`pipeline`]).
const ROLLBACK_TO_PROBE: &str = "ROLLBACK TO SAVEPOINT rowfence_probe";

/// Sends [`ROLLBACK_TO_PROBE`]: prepared when `undo` is its statement on
/// `db` (one parse per session rather than per probe), else as a simple query.
fn rollback<'a>(db: &'a Db, undo: Option<&'a Statement>) -> Pending<'a> {
    match undo {
        Some(stmt) => Box::pin(db.execute_text(stmt, ROLLBACK_TO_PROBE, &[])),
        None => simple(db, ROLLBACK_TO_PROBE),
    }
}

/// A COPY's text lines as a probe's rows, one column each.
fn copied(lines: Vec<String>) -> Outcome {
    Outcome { rows: lines.into_iter().map(|l| vec![Some(l)]).collect(), count: 0, check: None }
}

/// [`pipeline`] with simple queries.
async fn pipeline_simple(
    db: &Db,
    before: &[String],
    probes: &[Probe],
    savepoints: bool,
    after: &[String],
) -> Result<Results, tokio_postgres::Error> {
    let mut head: Vec<String> = before.to_vec();
    if savepoints {
        head.push("SAVEPOINT rowfence_probe".into());
    }
    let mut messages: Vec<String> = Vec::with_capacity(probes.len());
    for p in probes {
        messages.push(if savepoints { format!("{ROLLBACK_TO_PROBE};\n{}", p.sql) } else { p.sql.clone() });
        messages.extend(p.verify.clone());
    }
    let mut tail: Vec<String> = Vec::new();
    if savepoints && !after.is_empty() {
        // The last probe may have failed: recover before the closing statements.
        tail.push(ROLLBACK_TO_PROBE.into());
    }
    tail.extend(after.iter().cloned());
    let all = head.iter().chain(&messages).chain(&tail);
    let mut results = join_all(all.map(|s| db.simple_query(s))).await.into_iter();
    for r in results.by_ref().take(head.len()) {
        r?;
    }
    let mut out = Vec::with_capacity(probes.len());
    for p in probes {
        let reply = results.next().expect("one result per message");
        // The probe's own result follows the rollback's CommandComplete.
        let mut outcome =
            reply.map(|m| split_results(m).into_iter().nth(usize::from(savepoints)).map(Outcome::from_messages));
        if p.verify.is_some() {
            let check = results.next().expect("one result per message").ok().map(Outcome::from_messages);
            if let (Ok(Some(o)), Some(c)) = (outcome.as_mut(), check) {
                o.check = c.rows.first().and_then(|r| r[0].as_deref()).and_then(|n| n.parse().ok());
            }
        }
        out.push(outcome.map(Option::unwrap_or_default));
    }
    for r in results {
        r?;
    }
    Ok(out)
}

/// Splits a multi-statement reply into one message list per statement.
fn split_results(messages: Vec<SimpleQueryMessage>) -> Vec<Vec<SimpleQueryMessage>> {
    let mut out = vec![Vec::new()];
    for m in messages {
        let done = matches!(m, SimpleQueryMessage::CommandComplete(_));
        out.last_mut().expect("never empty").push(m);
        if done {
            out.push(Vec::new());
        }
    }
    out
}
