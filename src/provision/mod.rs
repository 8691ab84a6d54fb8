//! Provisioning: a disposable PostgreSQL server, and a scratch database in it.
//!
//! Three providers share one contract: start a server the run may treat as its
//! own, hand out connection settings, and remove every trace at the end (also
//! on Ctrl-C and panic, through `Drop`).
//!
//! - [`docker`]: a container through testcontainers;
//! - [`local`]: `initdb` + `postgres` from local binaries, in a temp dir;
//! - [`url`]: an existing server; only a scratch database and the roles the
//!   schema creates are touched, and both are dropped at the end.
//!
//! A fourth kind of [`Server`] is lent by another rowfence process: the
//! `cargo test` gate's listing keeps its server for the process that runs the
//! check ([`Server::lent`], see [`crate::harness::keeper`]).

pub mod docker;
pub mod local;
pub mod memory;
mod template;
pub mod url;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use crate::db::{Db, ident, literal};

/// Which provider to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Docker when an engine answers and the image is there, else local binaries.
    #[default]
    Auto,
    /// A container through testcontainers.
    Docker,
    /// Local PostgreSQL binaries.
    Local,
    /// An existing server given by URL.
    Url,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::Auto => "auto",
            ProviderKind::Docker => "docker",
            ProviderKind::Local => "local",
            ProviderKind::Url => "url",
        })
    }
}

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    /// The provider.
    pub kind: ProviderKind,
    /// Docker image (`name:tag`); `None` means the default.
    pub image: Option<String>,
    /// Server URL for the url provider.
    pub database_url: Option<String>,
    /// Load pg_stat_statements (docker and local), so a run can measure how
    /// long the server spent executing its statements (`rowfence bench`).
    pub track_statements: bool,
}

impl ProvisionOptions {
    /// Extra `postgres` command-line arguments these options need.
    fn server_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.track_statements {
            for setting in [
                "shared_preload_libraries=pg_stat_statements",
                "pg_stat_statements.max=20000",
                "pg_stat_statements.track_utility=on",
                "pg_stat_statements.track_planning=on",
            ] {
                args.extend(["-c".to_string(), setting.to_string()]);
            }
        }
        args
    }
}

/// A password that never shows up in `Debug` or `Display` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// A fresh random password, only ever valid in a scratch server.
    pub fn random() -> Secret {
        use rand::Rng;
        use rand::distr::Alphanumeric;
        Secret(rand::rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret handed over by another rowfence process.
    pub(crate) fn new(secret: String) -> Secret {
        Secret(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the server listens.
#[derive(Debug, Clone)]
pub enum Host {
    /// TCP on loopback (docker's mapped port).
    Tcp(String),
    /// A Unix socket directory (local clusters: no TCP at all).
    Socket(PathBuf),
}

/// How to reach the server as its superuser.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host or socket directory.
    pub host: Host,
    /// Port (also names the socket file).
    pub port: u16,
    /// The superuser (or, for URLs, the given user).
    pub user: String,
    /// Its password, if the server wants one.
    pub password: Option<Secret>,
    /// The maintenance database to connect to before the scratch one exists.
    pub maintenance_db: String,
}

impl Endpoint {
    /// Connection settings for `user` on `dbname`.
    pub fn config(&self, user: &str, password: Option<&Secret>, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        match &self.host {
            Host::Tcp(h) => config.host(h),
            Host::Socket(dir) => config.host_path(dir),
        };
        config
            .port(self.port)
            .user(user)
            .dbname(dbname)
            .application_name("rowfence")
            .connect_timeout(Duration::from_secs(10));
        if let Some(p) = password {
            config.password(p.expose());
        }
        config
    }

    /// Settings for the superuser on `dbname`.
    pub fn admin_config(&self, dbname: &str) -> tokio_postgres::Config {
        self.config(&self.user, self.password.as_ref(), dbname)
    }
}

/// Why no server could be had.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Neither provider is usable in auto mode.
    #[error(
        "no PostgreSQL available: {docker}; {local}.\n  \
         Start a Docker engine (and make the image available, e.g. `bash scripts/build-image.sh`), \
         install PostgreSQL server binaries (e.g. `apt-get install postgresql`, or set PG_BINDIR), \
         or pass --provider url --database-url postgres://..."
    )]
    NothingAvailable {
        /// Why docker was not used.
        docker: String,
        /// Why local binaries were not used.
        local: String,
    },
    /// The docker provider failed.
    #[error("docker provider: {0}")]
    Docker(String),
    /// The local provider failed.
    #[error("local provider: {0}")]
    Local(String),
    /// The url provider failed.
    #[error("url provider: {0}")]
    Url(String),
}

/// A running server, owned by this run. Dropping it tears everything down.
pub struct Server {
    /// The provider that actually runs it (never `Auto`).
    pub provider: ProviderKind,
    /// How to connect.
    pub endpoint: Endpoint,
    /// Whether the app may log in with a password over TCP (else trust on a socket).
    pub app_needs_password: bool,
    backend: Backend,
}

enum Backend {
    Docker(Box<docker::DockerServer>),
    Local(local::LocalServer),
    Url(Box<url::UrlServer>),
    Lent(Loan),
}

/// A server another process owns and lends to this run over `conn`; closing
/// the connection gives it back, and the owner then tears it down.
struct Loan {
    conn: tokio::net::UnixStream,
}

impl Loan {
    /// Gives the server back and waits (at most `deadline`) until its owner
    /// has torn it down: it closes the connection when done, so nothing of
    /// the run outlives this process.
    async fn give_back(mut self, deadline: Duration) {
        use tokio::io::AsyncWriteExt;
        let _ = self.conn.shutdown().await;
        let _ = tokio::time::timeout(deadline, until_closed(&mut self.conn)).await;
    }
}

/// Returns once the other end of `conn` has closed it (or it failed),
/// discarding whatever it sends: how the two ends of a lent server wait for
/// each other.
pub(crate) async fn until_closed(conn: &mut tokio::net::UnixStream) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 64];
    while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
}

impl Server {
    /// Starts (or, for URLs, reaches) a server according to `opts`.
    pub async fn start(opts: &ProvisionOptions) -> Result<Server, ProvisionError> {
        match opts.kind {
            ProviderKind::Docker => docker::start(opts.image.as_deref(), false, &opts.server_args()).await,
            ProviderKind::Local => local::start(&opts.server_args()).await,
            ProviderKind::Url => {
                let url = opts.database_url.as_deref().ok_or_else(|| {
                    ProvisionError::Url("--provider url needs --database-url (or ROWFENCE_DATABASE_URL)".into())
                })?;
                url::start(url).await
            }
            ProviderKind::Auto => {
                if let Some(url) = opts.database_url.as_deref() {
                    return url::start(url).await;
                }
                let docker_why = match docker::start(opts.image.as_deref(), true, &opts.server_args()).await {
                    Ok(server) => return Ok(server),
                    Err(e) => e.to_string(),
                };
                match local::start(&opts.server_args()).await {
                    Ok(server) => {
                        tracing::info!("docker not used ({docker_why}); using local PostgreSQL binaries");
                        crate::note!("rowfence: docker not used ({docker_why}); using local PostgreSQL binaries");
                        Ok(server)
                    }
                    Err(local) => {
                        Err(ProvisionError::NothingAvailable { docker: docker_why, local: local.to_string() })
                    }
                }
            }
        }
    }

    /// A server of `provider` that another process owns and lends over
    /// `conn` (see [`crate::harness::keeper`]); [`Server::shutdown`] gives it
    /// back and waits until the owner has torn it down.
    pub(crate) fn lent(
        provider: ProviderKind,
        endpoint: Endpoint,
        app_needs_password: bool,
        conn: tokio::net::UnixStream,
    ) -> Server {
        Server { provider, endpoint, app_needs_password, backend: Backend::Lent(Loan { conn }) }
    }

    /// Creates this run's scratch database and connects to it as superuser.
    pub async fn create_scratch(&mut self) -> Result<(Db, String), ProvisionError> {
        self.new_database(None).await
    }

    /// Connects as superuser to `dbname`, a scratch database of this run.
    pub async fn connect_scratch(&self, dbname: &str) -> Result<Db, ProvisionError> {
        Db::connect(&self.endpoint.admin_config(dbname))
            .await
            .map_err(|e| self.error(format!("cannot connect to the scratch database: {e}")))
    }

    /// Copies scratch database `from` (nobody may be connected to it) into a
    /// new one, with its database-level settings, and connects to the copy.
    pub async fn copy_scratch(&mut self, from: &str) -> Result<(Db, String), ProvisionError> {
        self.new_database(Some(from)).await
    }

    /// Drops `name`, a copy made by [`Server::copy_scratch`], closing any
    /// session still on it: a throwaway copy should not hold disk for the
    /// rest of the run.
    pub async fn drop_copy(&mut self, name: &str) -> Result<(), ProvisionError> {
        let maint = Db::connect(&self.endpoint.admin_config(&self.endpoint.maintenance_db))
            .await
            .map_err(|e| self.error(format!("cannot connect to the server: {e}")))?;
        sessions_ended(&maint, name, Duration::from_secs(1)).await;
        maint
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)))
            .await
            .map_err(|e| self.error(format!("cannot drop database {name}: {}", crate::db::describe(&e))))?;
        if let Backend::Url(u) = &mut self.backend {
            u.database_dropped(name);
        }
        Ok(())
    }

    async fn new_database(&mut self, template: Option<&str>) -> Result<(Db, String), ProvisionError> {
        let name = format!("rowfence_{}", Secret::random().expose()[..12].to_ascii_lowercase());
        let maint = Db::connect(&self.endpoint.admin_config(&self.endpoint.maintenance_db))
            .await
            .map_err(|e| self.error(format!("cannot connect to the server: {e}")))?;
        let create = match template {
            None => format!("CREATE DATABASE {name}"),
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {}", ident(t)),
        };
        maint.batch_execute(&create).await.map_err(|e| {
            self.error(format!(
                "cannot create a scratch database (the user needs CREATEDB): {}",
                crate::db::describe(&e)
            ))
        })?;
        let copied = match template {
            Some(t) => copy_database_settings(&maint, t, &name).await,
            None => Ok(()),
        };
        if let Backend::Url(u) = &mut self.backend {
            u.database_created(name.clone(), maint);
        }
        copied.map_err(|e| self.error(format!("cannot copy database settings: {}", crate::db::describe(&e))))?;
        let db = Db::connect(&self.endpoint.admin_config(&name))
            .await
            .map_err(|e| self.error(format!("cannot connect to the scratch database: {e}")))?;
        Ok((db, name))
    }

    /// Remembers roles that exist before the schema runs (url mode drops the new ones).
    pub async fn note_roles_before(&mut self, db: &Db) -> Result<(), tokio_postgres::Error> {
        if let Backend::Url(u) = &mut self.backend {
            u.roles_before = Some(url::role_names(db).await?);
        }
        Ok(())
    }

    /// Whether this run created role `name` (always, except for roles that
    /// already existed on a server given by URL).
    pub fn created_role(&self, name: &str) -> bool {
        match &self.backend {
            Backend::Url(u) => u.roles_before.as_ref().is_some_and(|before| !before.contains(name)),
            _ => true,
        }
    }

    /// Tears the server down now (the same happens on drop, but this waits properly).
    pub async fn shutdown(self) {
        match self.backend {
            Backend::Docker(d) => d.shutdown().await,
            Backend::Local(l) => drop(l),
            Backend::Url(u) => u.shutdown().await,
            Backend::Lent(loan) => loan.give_back(Duration::from_secs(60)).await,
        }
    }

    fn error(&self, msg: String) -> ProvisionError {
        match self.provider {
            ProviderKind::Docker => ProvisionError::Docker(msg),
            ProviderKind::Url => ProvisionError::Url(msg),
            _ => ProvisionError::Local(msg),
        }
    }
}

/// Waits (at most `deadline`) until no session is connected to database
/// `name`. Sessions closed on our side end on the server a moment later, and
/// `DROP DATABASE` that finds one still there sleeps 100 ms before it looks
/// again: about half the cost of each `--per-migration` step's copy.
async fn sessions_ended(maint: &Db, name: &str, deadline: Duration) {
    let start = Instant::now();
    while start.elapsed() < deadline {
        let left = maint
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", &[&name])
            .await
            .map(|row| row.get::<_, i64>(0));
        if !matches!(left, Ok(n) if n > 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Connects repeatedly until the server accepts connections or `deadline` passes.
pub(crate) async fn wait_ready(
    config: &tokio_postgres::Config,
    deadline: Duration,
    mut still_running: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < deadline {
        still_running()?;
        match config.connect(NoTls).await {
            Ok((client, conn)) => {
                let task = tokio::spawn(conn);
                let ok = client.simple_query("SELECT 1").await.is_ok();
                drop(client);
                let _ = task.await;
                if ok {
                    return Ok(());
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("server did not accept connections within {}s (last error: {last})", deadline.as_secs()))
}

/// Whether `ROWFENCE_KEEP=1` asks to keep servers for debugging.
pub(crate) fn keep_requested() -> bool {
    std::env::var("ROWFENCE_KEEP").is_ok_and(|v| v == "1")
}

/// `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET` of
/// `from`, repeated on `to` (a template copy does not carry them).
async fn copy_database_settings(maint: &Db, from: &str, to: &str) -> Result<(), tokio_postgres::Error> {
    let rows = maint
        .query(
            "SELECT coalesce(r.rolname::text, ''), unnest(s.setconfig) FROM pg_db_role_setting s \
             JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole \
             WHERE d.datname = $1",
            &[&from],
        )
        .await?;
    for row in rows {
        let (role, entry): (String, String) = (row.get(0), row.get(1));
        let Some((name, value)) = entry.split_once('=') else { continue };
        let target = if role.is_empty() {
            format!("DATABASE {}", ident(to))
        } else {
            format!("ROLE {} IN DATABASE {}", ident(&role), ident(to))
        };
        let value = setting_value(name, value);
        let name: Vec<String> = name.split('.').map(ident).collect();
        maint.batch_execute(&format!("ALTER {target} SET {} = {value}", name.join("."))).await?;
    }
    Ok(())
}

/// A stored setting value as `ALTER ... SET` takes it back. List settings are
/// stored flattened (`app, "my schema"`) and must be given element by element,
/// as pg_dump does; one literal would become a single element.
fn setting_value(name: &str, value: &str) -> String {
    const LISTS: [&str; 4] =
        ["search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries"];
    if !LISTS.contains(&name.to_ascii_lowercase().as_str()) {
        return literal(value);
    }
    let mut items: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            c if c.is_whitespace() && !quoted => {}
            c => current.push(c),
        }
    }
    items.push(current);
    items.iter().map(|i| literal(i)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::setting_value;

    #[test]
    fn list_settings_are_given_back_element_by_element() {
        assert_eq!(setting_value("search_path", "app, public"), "'app', 'public'");
        assert_eq!(
            setting_value("search_path", "\"my \"\"odd\"\", schema\", public"),
            "'my \"odd\", schema', 'public'"
        );
        assert_eq!(setting_value("app.current_org_id", "a, b"), "'a, b'");
    }
}
