//! Parallel lanes: the scratch database and its template copies, each with
//! a superuser session and the app role's sessions, so cases on different
//! lanes never share rows or locks.

use crate::db::{Db, SqlLog, describe, ident, literal};
use crate::error::Error;
use crate::probe::runner::Lane;
use crate::probe::{AppSessions, Plans};
use crate::provision::{Secret, Server};

/// Most lanes a run opens (each holds five connections).
pub const MAX_JOBS: usize = 8;

/// Default number of parallel lanes: one per core, at most 4.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// The open lanes of a run.
pub struct Lanes {
    /// Superuser sessions, one per lane; the first is on the scratch database.
    admins: Vec<Db>,
    /// The lanes' database names, in the same order.
    names: Vec<String>,
    /// The app role's sessions, one set per lane.
    sessions: Vec<AppSessions>,
}

impl Lanes {
    /// Opens `jobs` lanes (fewer when a copy cannot be made): the scratch
    /// database `dbname` (whose session `admin` is given up, since a
    /// template must have no other session) and `jobs - 1` copies of it,
    /// each with the app role's sessions.
    pub async fn open(
        server: &mut Server,
        admin: Db,
        dbname: String,
        jobs: usize,
        app: AppLogin<'_>,
        log: Option<&SqlLog>,
    ) -> Result<Lanes, Error> {
        let (admins, names) = databases(server, admin, dbname, jobs, log).await?;
        let mut sessions = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            sessions.push(app_sessions(server, &app, name, log, &suffix(i)).await?);
        }
        Ok(Lanes { admins, names, sessions })
    }

    /// The lanes, for the probe runner.
    pub fn lanes(&self) -> Vec<Lane<'_>> {
        self.admins.iter().zip(&self.sessions).map(|(admin, app)| Lane { admin, app }).collect()
    }

    /// The superuser session on the scratch database.
    pub fn admin(&self) -> &Db {
        &self.admins[0]
    }

    /// Every lane's database name.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// `""` for the first lane, `/2`, `/3` ... for the others (SQL log labels).
fn suffix(i: usize) -> String {
    if i == 0 { String::new() } else { format!("/{}", i + 1) }
}

/// The superuser connections and names of `jobs` lane databases: the scratch
/// database and `jobs - 1` template copies of it.
async fn databases(
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
                copies.push(db.logged(log, format!("admin{}", suffix(i))));
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
pub async fn app_login(server: &Server, admin: &Db, role: &str) -> Result<Option<Secret>, Error> {
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

/// How the app's sessions log in.
pub struct AppLogin<'a> {
    /// The login role.
    pub role: &'a str,
    /// Its throwaway password, where the server needs one.
    pub password: Option<&'a Secret>,
    /// The role sessions hold between requests (`SET ROLE` after login): the
    /// anonymous role, or the role requests switch to.
    pub session_role: Option<&'a str>,
    /// How probe statements are sent.
    pub protocol: crate::probe::Protocol,
    /// Which plans requests that set a context may reuse.
    pub plans: Plans,
}

/// Refuses a suite whose login role cannot switch to `set_role` or
/// `anon_role`, saying what to grant.
pub async fn check_role_switch(admin: &Db, app: &crate::suite::AppRole) -> Result<(), Error> {
    for (key, role) in [("set_role", &app.set_role), ("anon_role", &app.anon_role)] {
        let Some(role) = role else { continue };
        let sql = format!(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = {r}) \
             AND pg_has_role({l}, (SELECT oid FROM pg_roles WHERE rolname = {r}), 'MEMBER')",
            r = literal(role),
            l = literal(&app.role)
        );
        let ok =
            admin.simple(&sql).await.map_err(|e| Error::AppLogin { role: app.role.clone(), error: describe(&e) })?;
        if ok.rows.first().and_then(|r| r[0].as_deref()) != Some("t") {
            return Err(Error::AppLogin {
                role: app.role.clone(),
                error: format!(
                    "[app] {key} = \"{role}\", but {} cannot switch to it: create the role in the schema and `GRANT {} TO {};`",
                    app.role,
                    ident(role),
                    ident(&app.role)
                ),
            });
        }
    }
    Ok(())
}

/// Opens the app role's sessions on database `dbname`: one that sets
/// contexts, one that never does, one with generic plans, one for the
/// context lifecycle.
async fn app_sessions(
    server: &Server,
    app: &AppLogin<'_>,
    dbname: &str,
    log: Option<&SqlLog>,
    suffix: &str,
) -> Result<AppSessions, Error> {
    let role = app.role;
    let err = |e: String| Error::AppLogin { role: role.to_string(), error: e };
    let config = server.endpoint.config(role, app.password, dbname);
    // A probe must never hang the run (a lock, a slow function): timeouts on every session.
    let connect = |options: String, name: &str| {
        let mut c = config.clone();
        c.options(&options);
        let name = format!("app/{name}{suffix}");
        async move { Db::connect(&c).await.map(|db| db.logged(log, name)).map_err(|e| err(crate::db::describe(&e))) }
    };
    let base = "-c statement_timeout=30000 -c lock_timeout=10000";
    // Prepared probe templates save parsing and rewriting; requests plan per
    // execution unless they say otherwise (see `Plans`).
    let planned = format!("{base} -c plan_cache_mode={}", Plans::PerExecution.cache_mode());
    let sessions = [
        connect(planned.clone(), "main").await?,
        connect(planned.clone(), "fresh").await?,
        connect(format!("{base} -c plan_cache_mode={}", Plans::Cached.cache_mode()), "generic").await?,
        connect(planned, "lifecycle").await?,
    ];
    // Between requests (and in requests without a tenant) a PostgREST-style
    // session is its anonymous role; a tenant's request switches with SET LOCAL ROLE.
    if let Some(r) = app.session_role {
        for db in &sessions {
            db.batch_execute(&format!("SET ROLE {}", ident(r))).await.map_err(|e| err(describe(&e)))?;
        }
    }
    let [main, fresh, generic, lifecycle] = sessions;
    Ok(AppSessions::new(main, fresh, generic, lifecycle, app.protocol, app.plans))
}
