//! Applying the suite's schema: file by file, as the cluster's superuser.
//!
//! Each file is sent as one simple-protocol query (so it runs the way `psql -1`
//! would: one implicit transaction). On failure the error position PostgreSQL
//! reports is turned into `file:line:column`.

use tokio_postgres::error::ErrorPosition;

use crate::db::{Db, describe, ident};
use crate::suite::{SchemaFile, Suite};

/// Why the schema did not apply.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
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
    /// Creating the application role failed.
    #[error("cannot create the app role {role}: {error}")]
    CreateRole {
        /// The role.
        role: String,
        /// The database error.
        error: String,
    },
}

/// Creates the app role when the suite asks for it, then applies every schema file.
pub async fn apply(db: &Db, suite: &Suite) -> Result<(), SchemaError> {
    create_app_role(db, suite).await?;
    for file in &suite.schema_files {
        apply_file(db, file).await?;
    }
    Ok(())
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

/// Applies one schema file (one implicit transaction).
pub async fn apply_file(db: &Db, file: &SchemaFile) -> Result<(), SchemaError> {
    let sql = std::fs::read_to_string(&file.path)
        .map_err(|source| SchemaError::Read { file: file.display.clone(), source })?;
    tracing::debug!(file = %file.display, "applying schema file");
    match db.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let position = e.as_db_error().and_then(|d| d.position()).and_then(|p| match p {
                ErrorPosition::Original(pos) => Some(*pos as usize),
                ErrorPosition::Internal { .. } => None,
            });
            let (line, column) = match position {
                Some(p) => line_column(&sql, p),
                // Errors such as a missing referenced table carry no position:
                // replay the file statement by statement to find the culprit.
                None => match locate_failing_statement(db, &sql).await {
                    Some(offset) => line_column(&sql, sql[..offset].chars().count() + 1),
                    None => (1, 1),
                },
            };
            let snippet = sql.lines().nth(line - 1).unwrap_or("").trim_end().to_string();
            let where_ =
                e.as_db_error().and_then(|d| d.where_()).map(|w| format!(" (context: {w})")).unwrap_or_default();
            Err(SchemaError::Apply {
                file: file.display.clone(),
                line,
                column,
                error: format!("{}{where_}", describe(&e)),
                snippet,
            })
        }
    }
}

/// Byte offset of the first statement that fails when the file is replayed one
/// statement at a time inside a transaction that is rolled back afterwards.
async fn locate_failing_statement(db: &Db, sql: &str) -> Option<usize> {
    db.batch_execute("BEGIN").await.ok()?;
    let mut found = None;
    let committed = split_statements(sql).iter().any(|(_, s)| {
        let w = s.split_whitespace().next().unwrap_or("").trim_end_matches(';').to_ascii_uppercase();
        w == "COMMIT" || w == "END"
    });
    for (offset, stmt) in split_statements(sql) {
        let word = stmt.split_whitespace().next().unwrap_or("").trim_end_matches(';').to_ascii_uppercase();
        if matches!(word.as_str(), "BEGIN" | "COMMIT" | "ROLLBACK" | "END" | "START") {
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

/// Splits SQL into statements at top-level semicolons, skipping quotes,
/// dollar quotes and comments. Yields each statement's byte offset (of its
/// first significant character) and text.
pub fn split_statements(sql: &str) -> Vec<(usize, &str)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut start) = (0, None::<usize>);
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() && start.is_none() {
            start = Some(i);
        }
        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += 1;
                }
            }
            b'$' => {
                // $tag$ ... $tag$ (a tag is empty or an identifier)
                let tag_end = sql[i + 1..].find('$').map(|j| i + 1 + j);
                if let Some(end) = tag_end
                    && sql[i + 1..end].chars().all(|ch| ch.is_alphanumeric() || ch == '_')
                    && !sql[i + 1..end].starts_with(|ch: char| ch.is_ascii_digit())
                {
                    let tag = &sql[i..=end];
                    match sql[end + 1..].find(tag) {
                        Some(j) => i = end + 1 + j + tag.len() - 1,
                        None => i = b.len(),
                    }
                }
            }
            b';' => {
                if let Some(s) = start.take() {
                    out.push((s, &sql[s..=i]));
                }
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push((s, &sql[s..]));
    }
    out
}

/// 1-based line and column of a 1-based character position.
fn line_column(text: &str, position: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in text.chars().take(position.saturating_sub(1)) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::{line_column, split_statements};

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let sql = "create table a (x text default ';');\n-- c; d\ncreate function f() returns int as $$ select 1; $$ language sql;\n/* x; */ select 2";
        let parts: Vec<&str> = split_statements(sql).into_iter().map(|(_, s)| s).collect();
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[1].starts_with("create function") && parts[1].ends_with("sql;"));
        assert_eq!(parts[2], "select 2");
    }

    #[test]
    fn positions_are_characters_not_bytes() {
        let sql = "select 'é';\nselect nope;";
        // "nope" starts at character 20 (1-based).
        assert_eq!(line_column(sql, 20), (2, 8));
        assert_eq!(line_column(sql, 1), (1, 1));
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
                // The first CREATE wins: later ones are usually CREATE OR REPLACE.
                if map.locate(kind, &name).is_none() {
                    map.entries.push((kind.to_string(), name, loc));
                }
            }
        }
        map
    }

    /// The file and line that created object `name` of `kind`
    /// (`relation`, `policy` as `table.policy`, `function`, `role`, `trigger`).
    pub fn locate(&self, kind: &str, name: &str) -> Option<crate::report::Location> {
        self.entries.iter().find(|(k, n, _)| k == kind && n == name).map(|(_, _, l)| l.clone())
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
