//! URL provider: an existing server the user owns (a CI service container).
//!
//! rowfence never touches what it did not create: it makes its own scratch
//! database, remembers which roles existed before the schema ran, and at the
//! end drops the database and only the roles that appeared since.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use super::{Endpoint, Host, ProviderKind, ProvisionError, Secret, Server, wait_ready};
use crate::db::{Db, ident};

/// Bookkeeping of what this run created on someone else's server.
pub struct UrlServer {
    /// Scratch databases this run created (the first, then its lane copies).
    databases: Vec<String>,
    maintenance: Option<Db>,
    pub(super) roles_before: Option<BTreeSet<String>>,
}

/// Reaches the server named by `url`.
pub async fn start(url: &str) -> Result<Server, ProvisionError> {
    let err = ProvisionError::Url;
    let config =
        tokio_postgres::Config::from_str(url).map_err(|e| err(format!("cannot parse the database URL: {e}")))?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => Host::Tcp(h.clone()),
        Some(tokio_postgres::config::Host::Unix(p)) => Host::Socket(p.clone()),
        None => Host::Tcp("127.0.0.1".into()),
    };
    let endpoint = Endpoint {
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        user: config.get_user().unwrap_or("postgres").to_string(),
        password: config.get_password().map(|p| Secret(String::from_utf8_lossy(p).into_owned())),
        maintenance_db: config.get_dbname().unwrap_or("postgres").to_string(),
    };
    wait_ready(&endpoint.admin_config(&endpoint.maintenance_db), Duration::from_secs(10), || Ok(()))
        .await
        .map_err(err)?;
    Ok(Server {
        provider: ProviderKind::Url,
        endpoint,
        app_needs_password: true,
        backend: super::Backend::Url(Box::new(UrlServer {
            databases: Vec::new(),
            maintenance: None,
            roles_before: None,
        })),
    })
}

/// Every role name on the server.
pub async fn role_names(client: &Db) -> Result<BTreeSet<String>, tokio_postgres::Error> {
    let rows = client.query("SELECT rolname::text FROM pg_roles", &[]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

impl UrlServer {
    pub(super) fn database_created(&mut self, name: String, maintenance: Db) {
        self.databases.push(name);
        self.maintenance = Some(maintenance);
    }

    pub(super) fn database_dropped(&mut self, name: &str) {
        self.databases.retain(|d| d != name);
    }

    /// Drops the scratch database and the roles the schema created.
    pub(super) async fn shutdown(mut self) {
        if super::keep_requested() {
            for db in std::mem::take(&mut self.databases) {
                crate::note!("rowfence: ROWFENCE_KEEP=1: database {db} left in place");
            }
            return;
        }
        let Some(maint) = self.maintenance.take() else {
            return;
        };
        for db in std::mem::take(&mut self.databases) {
            if let Err(e) = maint.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&db))).await {
                crate::note!("rowfence: could not drop scratch database {db}: {}", crate::db::describe(&e));
            }
        }
        if let Some(before) = self.roles_before.take()
            && let Ok(now) = role_names(&maint).await
        {
            for role in now.difference(&before) {
                if let Err(e) = maint.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(role))).await {
                    crate::note!(
                        "rowfence: could not drop role {role} created by the schema: {}",
                        crate::db::describe(&e)
                    );
                }
            }
        }
    }
}

impl Drop for UrlServer {
    fn drop(&mut self) {
        if !self.databases.is_empty() && !super::keep_requested() {
            crate::note!(
                "rowfence: scratch database(s) {} were not dropped (interrupted); drop them with DROP DATABASE",
                self.databases.join(", ")
            );
        }
    }
}
