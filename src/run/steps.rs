//! The probes after one migration step (`--per-migration`): only on what the
//! step changed, and on a throwaway copy of the scratch database, so the
//! migration chain never sees probe data; the copy is dropped afterwards.

use std::collections::BTreeSet;

use crate::catalog::RelId;
use crate::db::{Db, SqlLog, ident, literal};
use crate::error::Error;
use crate::provision::Server;
use crate::suite::Suite;

use super::RunOptions;
use super::assemble::Analysis;
use super::clock::Clock;
use super::migrations::FindingKey;
use super::{Pass, model, probe, schema};

/// Generated datasets each step but the last probes besides the dense one.
/// Together the steps evaluate about a third of a full run's datasets
/// (`cases + 1`), each step on only what it changed: even a folder whose
/// every step changes everything costs about 1.33x a single run. With few
/// cases every step still gets the dense dataset (two tenants' rows in every
/// table), where most leaks show.
pub(super) fn step_cases(cases: u32, files: usize) -> u32 {
    let steps = files.saturating_sub(1).max(1) as u32;
    ((cases + 1) / (3 * steps)).saturating_sub(1)
}

/// What the probes after one step showed.
#[derive(Debug)]
pub(super) enum StepOutcome {
    /// The causes they showed, and the probe statements they ran.
    Probed { causes: Vec<FindingKey>, probes: u64 },
    /// The step changed nothing the probes reach (no grant, no tenant table).
    NothingToProbe,
    /// The copy or the probes failed (noted on stderr); the next step retries.
    Failed,
}

/// One step's probe pass.
pub(super) struct Step<'a> {
    /// The migration's name.
    pub name: &'a str,
    /// The catalog, ownership and static findings after the step.
    pub analysis: &'a Analysis,
    /// The relations the step changed.
    pub only: &'a BTreeSet<RelId>,
    /// Generated datasets besides the dense one.
    pub cases: u32,
}

impl Step<'_> {
    /// Probes what the step changed on a copy of scratch database `dbname`.
    /// `admin` is given up while the copy is made (a template must have no
    /// other session); the session returned is a new one on `dbname`.
    pub async fn probe(
        &self,
        server: &mut Server,
        admin: Db,
        dbname: &str,
        suite: &Suite,
        opts: &RunOptions,
        log: Option<&SqlLog>,
    ) -> Result<(Db, StepOutcome), Error> {
        let model = model(suite, self.analysis);
        let reached = reached(&schema(suite, self.analysis, &model, Some(self.only)));
        if reached == 0 {
            return Ok((admin, StepOutcome::NothingToProbe));
        }
        opts.progress().stage(&format!("after {}: probing {reached} relation(s) it changed", self.name));
        let login = RoleLogin::read(&admin, &suite.app.role).await;
        drop(admin);
        let copy = server.copy_scratch(dbname).await;
        let admin = server.connect_scratch(dbname).await?.logged(log, "admin");
        let (copy_admin, copy_name) = match copy {
            Ok((db, name)) => (db.logged(log, format!("admin@{}", self.name)), name),
            Err(e) => {
                crate::note!("rowfence: cannot probe after {}: {e}", self.name);
                return Ok((admin, StepOutcome::Failed));
            }
        };
        let pass = Pass::Step { only: self.only, cases: self.cases };
        let mut clock = Clock::new();
        let probed = probe(
            server,
            copy_admin,
            copy_name.clone(),
            suite,
            opts,
            self.analysis,
            model,
            pass,
            &mut clock,
            log,
            None,
        )
        .await;
        if let Err(e) = server.drop_copy(&copy_name).await {
            crate::note!("rowfence: {e}");
        }
        // Probing gave the app role LOGIN (and maybe a password): the next migration must not see that.
        if let Some(login) = login {
            login.restore(&admin).await?;
        }
        match probed {
            Ok((_, outcome, _)) => {
                let causes = outcome.findings.iter().map(|f| (f.rule, f.relation.clone())).collect();
                Ok((admin, StepOutcome::Probed { causes, probes: outcome.probes_run }))
            }
            Err(e) => {
                crate::note!("rowfence: cannot probe after {}: {e}", self.name);
                Ok((admin, StepOutcome::Failed))
            }
        }
    }
}

/// How many relations a pass over `schema` reaches: tables it probes,
/// views it reads, and relations whose rows callable functions return.
fn reached(schema: &crate::probe::Schema<'_>) -> usize {
    let mut rels: BTreeSet<RelId> = schema.probed().map(|r| r.oid).collect();
    rels.extend(schema.readable_views().iter().map(|v| v.view.oid));
    rels.extend(schema.callable_functions().iter().map(|f| f.rel));
    rels.len()
}

/// The app role's login attribute and password as the migrations left them.
struct RoleLogin {
    role: String,
    login: bool,
    /// The stored hash (`SCRAM-SHA-256$...`, `md5...`), or none.
    password: Option<String>,
}

impl RoleLogin {
    /// Reads them; `None` when the role does not exist.
    async fn read(admin: &Db, role: &str) -> Option<RoleLogin> {
        let row = admin
            .query_opt("SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1", &[&role])
            .await
            .ok()??;
        Some(RoleLogin { role: role.to_string(), login: row.get(0), password: row.get(1) })
    }

    /// Puts them back (a stored hash is accepted as is by `PASSWORD`).
    async fn restore(&self, admin: &Db) -> Result<(), Error> {
        let login = if self.login { "LOGIN" } else { "NOLOGIN" };
        let alter = format!("ALTER ROLE {} WITH {login} PASSWORD", ident(&self.role));
        let (sql, shown) = match &self.password {
            Some(p) => (format!("{alter} {}", literal(p)), format!("{alter} '<redacted>'")),
            None => (format!("{alter} NULL"), format!("{alter} NULL")),
        };
        admin.batch_execute_redacted(&sql, &shown).await.map_err(|e| Error::AppLogin {
            role: self.role.clone(),
            error: format!("cannot restore its login after probing a migration step: {}", crate::db::describe(&e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::step_cases;

    #[test]
    fn the_steps_share_a_third_of_a_runs_datasets_and_each_gets_the_dense_one() {
        // 10 files, 32 cases: 33 datasets / (3 * 9 steps) = 1 each, the dense one.
        assert_eq!(step_cases(32, 10), 0);
        assert_eq!(step_cases(256, 10), 8);
        assert_eq!(step_cases(256, 2), 84);
        assert_eq!(step_cases(0, 1), 0);
    }
}
