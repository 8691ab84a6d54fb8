//! A thin layer over tokio-postgres: connections that own their driver task,
//! an optional log of every statement sent (`--log-sql`), SQL quoting, and
//! readable database errors.

use std::fmt::Write as _;
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use std::collections::HashMap;

use futures::future::join_all;
use tokio::task::JoinHandle;

use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage, Statement};

/// Where every statement of a run is written, in the order it was sent, so a
/// run can be replayed and inspected. Shared by all of a run's connections;
/// a comment line names the connection whenever it changes.
#[derive(Clone)]
pub struct SqlLog(Arc<Mutex<LogState>>);

struct LogState {
    out: std::io::BufWriter<std::fs::File>,
    last: String,
}

impl std::fmt::Debug for SqlLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqlLog")
    }
}

impl SqlLog {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> std::io::Result<SqlLog> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(
            out,
            "-- rowfence SQL log: every statement in the order it was sent.\n\
             -- A `-- [name]` line names the connection that sent what follows:\n\
             -- admin (superuser, the scratch database), app/main, app/fresh, app/generic, app/lifecycle\n\
             -- (the app role); a suffix /2, /3 ... names the copy of the database a parallel lane uses.\n\
             -- Passwords are replaced by '<redacted>'."
        )?;
        Ok(SqlLog(Arc::new(Mutex::new(LogState { out, last: String::new() }))))
    }

    fn write(&self, conn: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) {
        let Ok(mut s) = self.0.lock() else { return };
        let mut text = String::new();
        if s.last != conn {
            let _ = write!(text, "\n-- [{conn}]\n");
            s.last = conn.to_string();
        }
        for (i, p) in params.iter().enumerate() {
            let _ = writeln!(text, "-- ${} = {p:?}", i + 1);
        }
        text.push_str(sql.trim_end());
        if !sql.trim_end().ends_with(';') {
            text.push(';');
        }
        text.push('\n');
        let _ = s.out.write_all(text.as_bytes());
    }

    /// Writes buffered statements out.
    pub fn flush(&self) {
        if let Ok(mut s) = self.0.lock() {
            let _ = s.out.flush();
        }
    }
}

impl Drop for LogState {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// A connected client whose connection task ends when it is dropped. Every
/// statement goes through its methods, so `--log-sql` sees all of them.
pub struct Db {
    client: Client,
    task: JoinHandle<()>,
    log: Option<(SqlLog, String)>,
    /// Statements prepared on this connection by their text; `None` for a
    /// text that cannot be prepared or read back (run it as a simple query).
    statements: Mutex<HashMap<String, Option<Statement>>>,
}

impl Db {
    /// Connects with `config`.
    pub async fn connect(config: &tokio_postgres::Config) -> Result<Db, tokio_postgres::Error> {
        let (client, conn) = config.connect(NoTls).await?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Db { client, task, log: None, statements: Mutex::new(HashMap::new()) })
    }

    /// Logs this connection's statements to `log` (if any) under `name`.
    pub fn logged(mut self, log: Option<&SqlLog>, name: impl Into<String>) -> Db {
        self.log = log.map(|l| (l.clone(), name.into()));
        self
    }

    fn note(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) {
        if let Some((log, name)) = &self.log {
            log.write(name, sql, params);
        }
    }

    /// Runs one statement (simple protocol) and returns the text rows and the
    /// affected-row count.
    pub async fn simple(&self, sql: &str) -> Result<Outcome, tokio_postgres::Error> {
        Ok(Outcome::from_messages(self.simple_query(sql).await?))
    }

    /// Sends `sql` (simple protocol). The statement is logged when this is
    /// called, so futures created in order and polled together (a pipeline)
    /// are logged in the order they are sent.
    pub fn simple_query<'a>(
        &'a self,
        sql: &'a str,
    ) -> impl Future<Output = Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>> + 'a {
        self.note(sql, &[]);
        self.client.simple_query(sql)
    }

    /// Runs statements (simple protocol), discarding rows.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.note(sql, &[]);
        self.client.batch_execute(sql).await
    }

    /// Like [`Db::batch_execute`], but the log shows `shown` instead (for
    /// statements carrying a password).
    pub async fn batch_execute_redacted(&self, sql: &str, shown: &str) -> Result<(), tokio_postgres::Error> {
        self.note(shown, &[]);
        self.client.batch_execute(sql).await
    }

    /// Runs a parameterised query (extended protocol).
    pub async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.note(sql, params);
        self.client.query(sql, params).await
    }

    /// Runs a parameterised query that returns exactly one row.
    pub async fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, tokio_postgres::Error> {
        self.note(sql, params);
        self.client.query_one(sql, params).await
    }

    /// Runs a parameterised query that returns at most one row.
    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        self.note(sql, params);
        self.client.query_opt(sql, params).await
    }

    /// The statement for `sql`, prepared on this connection the first time it
    /// is asked for (inside the caller's transaction: preparing needs the
    /// role and search path the statement runs under). `None` when it cannot
    /// be prepared or returns a column whose text form cannot be read back
    /// from binary; the caller then sends `sql` as a simple query.
    pub async fn prepare_cached(&self, sql: &str) -> Option<Statement> {
        if let Some(known) = self.statements.lock().ok()?.get(sql) {
            return known.clone();
        }
        let stmt =
            self.client.prepare(sql).await.ok().filter(|s| s.columns().iter().all(|c| TextOut::readable(c.type_())));
        self.statements.lock().ok()?.insert(sql.to_string(), stmt.clone());
        stmt
    }

    /// [`Db::prepare_cached`] for each of `sqls`, in order: the ones this
    /// connection has not seen are prepared together, pipelined.
    pub async fn prepare_all(&self, sqls: &[&str]) -> Vec<Option<Statement>> {
        let mut fresh: Vec<&str> = {
            let Ok(known) = self.statements.lock() else { return vec![None; sqls.len()] };
            sqls.iter().copied().filter(|sql| !known.contains_key(*sql)).collect()
        };
        fresh.sort_unstable();
        fresh.dedup();
        join_all(fresh.iter().map(|sql| self.prepare_cached(sql))).await;
        let known = self.statements.lock();
        sqls.iter().map(|sql| known.as_ref().ok().and_then(|m| m.get(*sql).cloned().flatten())).collect()
    }

    /// Runs a prepared statement with text parameters (typed by the server,
    /// as literals would be) and returns its rows as text, like a simple query.
    pub fn execute_text<'a>(
        &'a self,
        stmt: &'a Statement,
        sql: &'a str,
        values: &'a [String],
    ) -> impl Future<Output = Result<Outcome, tokio_postgres::Error>> + 'a {
        if let Some((log, name)) = &self.log {
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            log.write(name, &format!("/* prepared */ {sql}"), &params);
        }
        let call = self.client.query_raw(stmt, values.iter().map(|v| TextParam(v)));
        async move {
            use futures::TryStreamExt;
            let stream = call.await?;
            futures::pin_mut!(stream);
            let mut out = Outcome::default();
            while let Some(row) = stream.try_next().await? {
                out.rows.push(
                    (0..row.len()).map(|i| row.try_get::<_, Option<TextOut>>(i).ok().flatten().map(|t| t.0)).collect(),
                );
            }
            out.count = stream.rows_affected().unwrap_or(out.rows.len() as u64);
            Ok(out)
        }
    }

    /// Runs a prepared `COPY (...) TO STDOUT` and returns the text lines; the
    /// request is sent when the future is first polled, so copies polled
    /// together are pipelined in order.
    pub fn copy_out_prepared<'a>(
        &'a self,
        stmt: &'a Statement,
        sql: &'a str,
    ) -> impl Future<Output = Result<Vec<String>, tokio_postgres::Error>> + 'a {
        use futures::TryStreamExt;
        self.note(&format!("/* prepared */ {sql}"), &[]);
        let call = self.client.copy_out(stmt);
        async move {
            let chunks: Vec<bytes::Bytes> = call.await?.try_collect().await?;
            let text: String = chunks.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
            Ok(text.lines().map(str::to_owned).collect())
        }
    }

    /// Runs `COPY (...) TO STDOUT` and returns the text lines.
    pub async fn copy_out_lines(&self, sql: &str) -> Result<Vec<String>, tokio_postgres::Error> {
        use futures::TryStreamExt;
        self.note(sql, &[]);
        let chunks: Vec<bytes::Bytes> = self.client.copy_out(sql).await?.try_collect().await?;
        let text: String = chunks.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        Ok(text.lines().map(str::to_owned).collect())
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

/// A parameter sent as text whatever its type: the server reads it as it
/// would read the same quoted literal.
#[derive(Debug)]
struct TextParam<'a>(&'a str);

impl ToSql for TextParam<'_> {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A column value in PostgreSQL's text form, decoded from the binary form
/// of the types probes return (keys, row ids, counts), so that prepared and
/// simple queries yield the same strings.
struct TextOut(String);

impl TextOut {
    fn readable(ty: &Type) -> bool {
        matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::INT2 | Type::INT4 | Type::INT8)
            || matches!(*ty, Type::OID | Type::UUID | Type::BOOL)
            || matches!(ty.kind(), Kind::Enum(_))
    }
}

impl<'a> FromSql<'a> for TextOut {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let int = |n: usize| -> Result<i64, Box<dyn std::error::Error + Sync + Send>> {
            let bytes: [u8; 8] = {
                let mut b = [0u8; 8];
                let src = raw.get(..n).ok_or("short integer")?;
                let fill = if src.first().is_some_and(|x| x & 0x80 != 0) { 0xff } else { 0 };
                b[..8 - n].fill(fill);
                b[8 - n..].copy_from_slice(src);
                b
            };
            Ok(i64::from_be_bytes(bytes))
        };
        let text = match *ty {
            Type::INT2 => int(2)?.to_string(),
            Type::INT4 => int(4)?.to_string(),
            Type::INT8 => int(8)?.to_string(),
            Type::OID => u32::from_be_bytes(raw.try_into()?).to_string(),
            Type::BOOL => if raw.first() == Some(&1) { "t" } else { "f" }.to_string(),
            Type::UUID => {
                let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                if hex.len() != 32 {
                    return Err("bad uuid".into());
                }
                format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
            }
            _ => std::str::from_utf8(raw)?.to_string(),
        };
        Ok(TextOut(text))
    }

    fn accepts(ty: &Type) -> bool {
        TextOut::readable(ty)
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
