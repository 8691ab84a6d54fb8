//! Applying the suite's schema: file by file, as the cluster's superuser.
//!
//! Each file is sent as one simple-protocol query (so it runs the way `psql -1`
//! would: one implicit transaction), after [`prepare`] blanked what psql or the
//! migration tool would not send. On failure the error position PostgreSQL
//! reports is turned into `file:line:column` of the file on disk. Every file
//! starts from a clean session: what one file `SET`s does not reach the next.

pub mod lex;
pub mod prepare;

use tokio_postgres::error::ErrorPosition;

use crate::db::{Db, describe, ident};
use crate::suite::{SchemaFile, Suite};

pub use lex::split_statements;
use lex::{line_column, line_of};
use prepare::Prepared;

/// Why the schema did not apply.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The preset could not be created (a role or schema it creates exists already).
    #[error("cannot create what preset \"{name}\" stubs: {error}")]
    Preset {
        /// The preset.
        name: &'static str,
        /// The database error.
        error: String,
    },
    /// A file could not be read.
    #[error("cannot read schema file {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// PostgreSQL rejected a statement.
    #[error(
        "{file}:{line}:{column}: schema failed to apply: {error}\n  {snippet}\n  fix the SQL (it must apply to an empty database as a superuser) and run again"
    )]
    Apply {
        /// The file.
        file: String,
        /// 1-based line of the error position (or of the file start).
        line: usize,
        /// 1-based column.
        column: usize,
        /// `ERROR 42P01: relation "x" does not exist`.
        error: String,
        /// The offending line.
        snippet: String,
    },
    /// The file uses something rowfence cannot apply (a psql `\i`).
    #[error("{file}:{line}: {message}")]
    Unsupported {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What and what to do instead.
        message: String,
    },
    /// Creating the application role (or a role a dump names as owner) failed.
    #[error("cannot create the app role {role}: {error}")]
    CreateRole {
        /// The role.
        role: String,
        /// The database error.
        error: String,
    },
}

/// Creates the app role when the suite asks for it, applies the suite's
/// preset, then every schema file.
pub async fn apply(db: &Db, suite: &Suite) -> Result<(), SchemaError> {
    apply_preset(db, suite).await?;
    create_app_role(db, suite).await?;
    for file in &suite.schema_files {
        apply_file(db, file).await?;
    }
    Ok(())
}

/// What a Supabase database has before a project's migrations (see the file).
const SUPABASE: &str = include_str!("presets/supabase.sql");

/// Creates what the suite's platform preset stubs.
pub async fn apply_preset(db: &Db, suite: &Suite) -> Result<(), SchemaError> {
    let Some(preset) = suite.preset else { return Ok(()) };
    let (name, sql) = match preset {
        crate::suite::Preset::Supabase => ("supabase", SUPABASE),
    };
    db.batch_execute(sql).await.map_err(|e| SchemaError::Preset { name, error: describe(&e) })?;
    db.batch_execute(RESET_SESSION).await.map_err(|e| SchemaError::Preset { name, error: describe(&e) })
}

/// Creates the app role when the suite asks for it (`create = true`).
pub async fn create_app_role(db: &Db, suite: &Suite) -> Result<(), SchemaError> {
    if suite.app.create {
        let sql = format!("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS", ident(&suite.app.role));
        db.batch_execute(&sql)
            .await
            .map_err(|e| SchemaError::CreateRole { role: suite.app.role.clone(), error: describe(&e) })?;
    }
    Ok(())
}

/// Session state a file may leave behind (`SET search_path`, pg_dump's
/// `set_config('search_path', '', false)`, `SET ROLE`): cleared after every
/// file, as if each ran in its own `psql -f`.
const RESET_SESSION: &str = "RESET ROLE; SET SESSION AUTHORIZATION DEFAULT; RESET ALL";

/// Applies one schema file (one implicit transaction), then resets the session.
pub async fn apply_file(db: &Db, file: &SchemaFile) -> Result<(), SchemaError> {
    let text = std::fs::read_to_string(&file.path)
        .map_err(|source| SchemaError::Read { file: file.display.clone(), source })?;
    let mut prepared = prepare::prepare(&text, file.format).map_err(|u| SchemaError::Unsupported {
        file: file.display.clone(),
        line: u.line,
        message: u.message,
    })?;
    skip_unknown_settings(db, &mut prepared).await;
    create_missing_owners(db, &mut prepared).await?;
    for note in &prepared.notes {
        crate::note!("rowfence: {}: {note}", file.display);
    }
    tracing::debug!(file = %file.display, "applying schema file");
    let failed = match prepared.no_transaction {
        false => db.batch_execute(&prepared.sql).await.err().map(|e| (e, None)),
        true => run_one_by_one(db, &prepared).await,
    };
    let Some((e, base)) = failed else {
        return db.batch_execute(RESET_SESSION).await.map_err(|e| apply_error(file, &text, 1, 1, &e));
    };
    let position = e.as_db_error().and_then(|d| d.position()).and_then(|p| match p {
        ErrorPosition::Original(pos) => Some(*pos as usize),
        ErrorPosition::Internal { .. } => None,
    });
    let sql = &prepared.sql;
    let (line, column) = match (position, base) {
        (Some(p), _) => line_column(sql, sql[..base.unwrap_or(0)].chars().count() + p),
        // Run one by one, the failing statement is known.
        (None, Some(base)) => line_column(sql, sql[..base].chars().count() + 1),
        // Errors such as a missing referenced table carry no position:
        // replay the file statement by statement to find the culprit.
        (None, None) => match locate_failing_statement(db, &prepared).await {
            Some(offset) => line_column(sql, sql[..offset].chars().count() + 1),
            None => (1, 1),
        },
    };
    Err(apply_error(file, &text, line, column, &e))
}

fn apply_error(file: &SchemaFile, text: &str, line: usize, column: usize, e: &tokio_postgres::Error) -> SchemaError {
    // The snippet comes from the file on disk: the sent text has the same lines.
    let snippet = redact(text.lines().nth(line - 1).unwrap_or("").trim_end());
    let where_ = e.as_db_error().and_then(|d| d.where_()).map(|w| format!(" (context: {w})")).unwrap_or_default();
    SchemaError::Apply {
        file: file.display.clone(),
        line,
        column,
        error: redact(&format!("{}{where_}", describe(e))),
        snippet,
    }
}

/// Statements of the prepared text, goose `StatementBegin`/`End` blocks kept whole.
fn units(prepared: &Prepared) -> Vec<(usize, &str)> {
    let sql = &prepared.sql;
    let mut out: Vec<(usize, &str)> = Vec::new();
    let mut open: Option<(usize, usize)> = None; // a block being joined: start, end
    for (offset, stmt) in split_statements(sql) {
        let end = offset + stmt.len();
        match prepared.whole.iter().find(|w| w.contains(&offset)) {
            Some(w) => match open {
                Some((s, _)) if w.contains(&s) => open = Some((s, end)),
                _ => {
                    if let Some((s, e)) = open.take() {
                        out.push((s, &sql[s..e]));
                    }
                    open = Some((offset, end));
                }
            },
            None => {
                if let Some((s, e)) = open.take() {
                    out.push((s, &sql[s..e]));
                }
                out.push((offset, stmt));
            }
        }
    }
    if let Some((s, e)) = open {
        out.push((s, &sql[s..e]));
    }
    out
}

/// Runs each statement on its own (a file that must not run in a
/// transaction block); returns the error and the failing statement's offset.
async fn run_one_by_one(db: &Db, prepared: &Prepared) -> Option<(tokio_postgres::Error, Option<usize>)> {
    for (offset, stmt) in units(prepared) {
        if let Err(e) = db.batch_execute(stmt).await {
            return Some((e, Some(offset)));
        }
    }
    None
}

/// Dumps of a newer release set parameters an older server does not have
/// (pg_dump 17 writes `SET transaction_timeout = 0;`): they only tune the
/// restore session, so they are skipped with a note instead of failing.
async fn skip_unknown_settings(db: &Db, prepared: &mut Prepared) {
    let names: Vec<String> =
        prepared.settings.iter().map(|(n, _)| n.to_lowercase()).filter(|n| !n.contains('.')).collect();
    if names.is_empty() {
        return;
    }
    let sql = "SELECT n FROM unnest($1::text[]) n WHERE NOT EXISTS (SELECT 1 FROM pg_settings s WHERE s.name = n)";
    let Ok(rows) = db.query(sql, &[&names]).await else { return };
    let unknown: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut skipped = Vec::new();
    for (name, range) in prepared.settings.clone() {
        if unknown.contains(&name.to_lowercase()) {
            skipped.push(format!("`SET {name}` (line {})", line_of(&prepared.sql, range.start)));
            prepared.blank(range);
        }
    }
    if !skipped.is_empty() {
        prepared.notes.push(format!(
            "skipped {}: this server does not know the setting (the dump comes from a newer PostgreSQL)",
            skipped.join(", ")
        ));
    }
}

/// A dump names its owners (`ALTER TABLE ... OWNER TO admin`) without creating
/// them. They are created as NOLOGIN roles, not skipped: who owns a table or a
/// SECURITY DEFINER function decides whether RLS applies to it, so dropping
/// the `OWNER TO` would leave everything owned by the superuser and hide
/// exactly what rowfence looks for.
async fn create_missing_owners(db: &Db, prepared: &mut Prepared) -> Result<(), SchemaError> {
    if prepared.owners.is_empty() {
        return Ok(());
    }
    let sql = "SELECT r FROM unnest($1::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)";
    let missing: Vec<String> = match db.query(sql, &[&prepared.owners]).await {
        Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
        Err(_) => return Ok(()),
    };
    for role in &missing {
        db.batch_execute(&format!("CREATE ROLE {} NOLOGIN", ident(role)))
            .await
            .map_err(|e| SchemaError::CreateRole { role: role.clone(), error: describe(&e) })?;
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|r| format!("`{r}`")).collect();
        prepared.notes.push(format!(
            "created role(s) {} (NOLOGIN): named by OWNER TO but not created by the schema",
            names.join(", ")
        ));
    }
    Ok(())
}

/// Byte offset of the first statement that fails when the file is replayed one
/// statement at a time inside a transaction that is rolled back afterwards.
async fn locate_failing_statement(db: &Db, prepared: &Prepared) -> Option<usize> {
    db.batch_execute("BEGIN").await.ok()?;
    let mut found = None;
    let statements = units(prepared);
    let first_word = |s: &str| s.split_whitespace().next().unwrap_or("").trim_end_matches(';').to_ascii_uppercase();
    let committed = statements.iter().any(|(_, s)| matches!(first_word(s).as_str(), "COMMIT" | "END"));
    for (offset, stmt) in statements {
        if matches!(first_word(stmt).as_str(), "BEGIN" | "COMMIT" | "ROLLBACK" | "END" | "START") {
            continue; // transaction control would end the replay's own transaction
        }
        if let Err(e) = db.batch_execute(stmt).await {
            // Statements before a COMMIT in the file were kept: meeting them
            // again ("already exists") is not the failure we are looking for.
            let replayed = matches!(crate::db::sqlstate(&e), Some("42P07" | "42710" | "42P06" | "42723" | "42P04"));
            if committed && replayed {
                let _ = db.batch_execute("ROLLBACK; BEGIN").await;
                continue;
            }
            found = Some(offset);
            break;
        }
    }
    let _ = db.batch_execute("ROLLBACK").await;
    found
}

#[cfg(test)]
mod tests {
    use super::prepare::prepare;
    use super::units;
    use crate::formats::Format;

    #[test]
    fn goose_blocks_stay_one_statement() {
        let sql = "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; SELECT 2; END;\n-- +goose StatementEnd\nSELECT 3;\n";
        let p = prepare(sql, Format::Goose).unwrap();
        let u: Vec<&str> = units(&p).into_iter().map(|(_, s)| s).collect();
        assert_eq!(u, ["CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; SELECT 2; END;", "SELECT 3;"]);
    }
}

/// Where objects were created in the suite's schema files, found by scanning
/// the `CREATE ...` statements (the catalog does not remember files).
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    entries: Vec<(String, String, crate::report::Location)>,
}

static CREATE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r#"(?i)\bcreate\s+(?:or\s+replace\s+)?(?:(?:unlogged|temp|temporary)\s+)?(table|view|materialized\s+view|function|procedure|policy|role|sequence|trigger)\s+(?:if\s+not\s+exists\s+)?((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)(?:\s+on\s+((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?))?"#,
    )
    .expect("regex")
});

impl SourceMap {
    /// Scans every schema file of `suite`.
    pub fn build(suite: &Suite) -> SourceMap {
        let mut map = SourceMap::default();
        for file in &suite.schema_files {
            let Ok(text) = std::fs::read_to_string(&file.path) else {
                continue;
            };
            // Down sections and COPY data create nothing; lines stay where they are.
            let text = prepare::prepare(&text, file.format).map(|p| p.sql).unwrap_or(text);
            for m in CREATE.captures_iter(&text) {
                let kind = m[1].to_lowercase();
                let kind = match kind.as_str() {
                    "table" | "view" | "sequence" => "relation",
                    k if k.starts_with("materialized") => "relation",
                    "procedure" => "function",
                    other => other,
                };
                let name = last_part(&m[2]);
                let name = match (kind, m.get(3)) {
                    ("policy", Some(on)) => format!("{}.{name}", last_part(on.as_str())),
                    _ => name,
                };
                let line = crate::suite::line_of(&text, m.get(0).expect("match").start());
                let loc = crate::report::Location { file: file.display.clone(), line };
                // Every CREATE is kept: `locate` picks the one that says where the object is.
                map.entries.push((kind.to_string(), name, loc));
            }
        }
        map
    }

    /// The file and line that created object `name` of `kind`
    /// (`relation`, `policy` as `table.policy`, `function`, `role`, `trigger`).
    pub fn locate(&self, kind: &str, name: &str) -> Option<crate::report::Location> {
        let mut matching = self.entries.iter().filter(|(k, n, _)| k == kind && n == name);
        // A table is where it was created; a policy or function is what its
        // last definition (a later DROP and CREATE, CREATE OR REPLACE) says.
        let entry = if kind == "relation" { matching.next() } else { matching.next_back() };
        entry.map(|(_, _, l)| l.clone())
    }
}

/// `schema."Name"` -> `Name`; unquoted names fold to lower case, as PostgreSQL does.
fn last_part(qualified: &str) -> String {
    if let Some(inner) = qualified.strip_suffix('"') {
        let start = inner.rfind('"').map_or(0, |i| i + 1);
        return inner[start..].to_string();
    }
    qualified.rsplit('.').next().unwrap_or(qualified).to_lowercase()
}

/// `text` with secrets a schema file may hold masked: passwords in role
/// statements, JSON Web Tokens (a committed service key), and API keys with
/// the usual secret prefixes. Error messages echo the failing line; they must
/// not carry a credential into a CI log.
pub(crate) fn redact(text: &str) -> String {
    static SECRET: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)(password\s+)'(?:[^']|'')*'|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|\b(?:sb_secret_|sk_live_|sk_test_)[A-Za-z0-9_-]{8,}"#,
        )
        .expect("valid")
    });
    SECRET
        .replace_all(text, |c: &regex::Captures<'_>| match c.get(1) {
            Some(p) => format!("{}'<redacted>'", p.as_str()),
            None => "<redacted>".to_string(),
        })
        .into_owned()
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_tokens_and_keys_are_masked_and_the_rest_kept() {
        let line = "ALTER ROLE app PASSWORD 'hunter''2'; select 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZSJ9.c2lnbmF0dXJl', 'sb_secret_abcdef123456';";
        let out = super::redact(line);
        assert_eq!(out, "ALTER ROLE app PASSWORD '<redacted>'; select '<redacted>', '<redacted>';");
        assert_eq!(super::redact("create table t (id int);"), "create table t (id int);");
    }
}
