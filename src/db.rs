//! A thin layer over tokio-postgres: connections that own their driver task,
//! SQL quoting, and readable database errors.

use std::fmt::Write as _;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A connected client whose connection task ends when it is dropped.
pub struct Db {
    /// The client.
    pub client: Client,
    task: JoinHandle<()>,
}

impl Db {
    /// Connects with `config`.
    pub async fn connect(config: &tokio_postgres::Config) -> Result<Db, tokio_postgres::Error> {
        let (client, conn) = config.connect(NoTls).await?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Db { client, task })
    }

    /// Runs one statement (simple protocol) and returns the text rows and the
    /// affected-row count.
    pub async fn simple(&self, sql: &str) -> Result<Outcome, tokio_postgres::Error> {
        let messages = self.client.simple_query(sql).await?;
        Ok(Outcome::from_messages(messages))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one simple-protocol statement returned.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Rows, each column as text (`None` for NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// The command tag's row count.
    pub count: u64,
    /// The result of the probe's follow-up count, when it has one.
    pub check: Option<u64>,
}

impl Outcome {
    pub(crate) fn from_messages(messages: Vec<SimpleQueryMessage>) -> Outcome {
        let mut out = Outcome::default();
        for m in messages {
            match m {
                SimpleQueryMessage::Row(row) => {
                    out.rows.push((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect());
                }
                SimpleQueryMessage::CommandComplete(n) => out.count = n,
                _ => {}
            }
        }
        out
    }
}

/// `"name"` with embedded quotes doubled, as `quote_ident` would (always quoted).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// SQLSTATE of a database error, if it is one.
pub fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.as_db_error().map(|d| d.code().code())
}

/// A one-line description of an error: `ERROR 42501: permission denied ...`.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut s = format!("{} {}: {}", d.severity(), d.code().code(), d.message());
            if let Some(detail) = d.detail() {
                let _ = write!(s, " (detail: {detail})");
            }
            if let Some(hint) = d.hint() {
                let _ = write!(s, " (hint: {hint})");
            }
            s
        }
        None => e.to_string(),
    }
}
