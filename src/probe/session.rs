//! The app role's sessions, and how probe statements are sent over them:
//! pipelined, each probe between savepoints, the whole transaction rolled back.

use std::collections::HashMap;

use futures::future::join_all;
use tokio::sync::Mutex;
use tokio_postgres::{SimpleQueryMessage, Statement};

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
    prepared: Mutex<HashMap<String, Statement>>,
}

impl AppSessions {
    /// Wraps connections that are already logged in as the app role.
    pub fn new(main: Db, fresh: Db, generic: Db, lifecycle: Db) -> AppSessions {
        AppSessions { main, fresh, generic, lifecycle, prepared: Mutex::new(HashMap::new()) }
    }

    /// Runs `probes` under `ctx` in one rolled-back transaction, pipelined.
    pub async fn run(
        &self,
        context: &ContextSpec,
        data: &Dataset,
        ctx: Context,
        probes: &[Probe],
    ) -> Result<Results, tokio_postgres::Error> {
        let db = if ctx == Context::NoneFresh { &self.fresh } else { &self.main };
        let mut before = vec!["BEGIN".to_string()];
        if let Some(who) = ctx.identity(data) {
            before.push(context.set_sql(&who));
        }
        pipeline(db, &before, probes, true, &["ROLLBACK".into()]).await
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
        pipeline(&self.lifecycle, &before, probes, savepoints, &after).await
    }

    /// `COPY (...) TO STDOUT` probes under `key`, in a rolled-back transaction.
    pub async fn copy(
        &self,
        context: &ContextSpec,
        key: &TenantKey,
        probes: &[Probe],
    ) -> Result<Results, tokio_postgres::Error> {
        let c = &self.main;
        c.batch_execute(&format!("BEGIN; {}", context.set_sql(&Identity::of(key)))).await?;
        let mut out = Vec::with_capacity(probes.len());
        for p in probes {
            c.batch_execute("SAVEPOINT rowfence_probe").await?;
            let result = async {
                let lines = c.copy_out_lines(&p.sql).await?;
                Ok(Outcome { rows: lines.into_iter().map(|l| vec![Some(l)]).collect(), count: 0, check: None })
            }
            .await;
            out.push(result);
            c.batch_execute("ROLLBACK TO SAVEPOINT rowfence_probe").await?;
        }
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
        let c = &self.generic;
        let mut out = Vec::with_capacity(probes.len());
        let mut statements = Vec::with_capacity(probes.len());
        for (round, key) in [first, second].into_iter().enumerate() {
            c.batch_execute(&format!("BEGIN; {}", context.set_sql(&Identity::of(key)))).await?;
            // Prepared inside the request, after its role switch: the session
            // itself may hold a role (anon) that cannot even see the schema.
            if round == 0 {
                let mut cache = self.prepared.lock().await;
                for p in probes {
                    let stmt = match cache.get(&p.sql) {
                        Some(s) => s.clone(),
                        None => {
                            let s = c.prepare(&p.sql).await?;
                            cache.insert(p.sql.clone(), s.clone());
                            s
                        }
                    };
                    statements.push(stmt);
                }
            }
            for (stmt, p) in statements.iter().zip(probes) {
                c.batch_execute("SAVEPOINT rowfence_probe").await?;
                let rows = c.query_prepared(stmt, &p.sql).await;
                c.batch_execute("ROLLBACK TO SAVEPOINT rowfence_probe").await?;
                if round == 1 {
                    out.push(rows.map(|rows| Outcome {
                        rows: rows.iter().map(|r| vec![r.try_get::<_, Option<String>>(0).ok().flatten()]).collect(),
                        count: rows.len() as u64,
                        check: None,
                    }));
                }
            }
            c.batch_execute(if round == 0 { "COMMIT" } else { "ROLLBACK" }).await?;
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
        messages.push(if savepoints {
            format!("ROLLBACK TO SAVEPOINT rowfence_probe;\n{}", p.sql)
        } else {
            p.sql.clone()
        });
        messages.extend(p.verify.clone());
    }
    let mut tail: Vec<String> = Vec::new();
    if savepoints && !after.is_empty() {
        // The last probe may have failed: recover before the closing statements.
        tail.push("ROLLBACK TO SAVEPOINT rowfence_probe".into());
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
