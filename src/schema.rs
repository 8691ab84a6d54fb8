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
    if suite.app.create {
        let sql = format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS",
            ident(&suite.app.role)
        );
        db.client
            .batch_execute(&sql)
            .await
            .map_err(|e| SchemaError::CreateRole {
                role: suite.app.role.clone(),
                error: describe(&e),
            })?;
    }
    for file in &suite.schema_files {
        apply_file(db, file).await?;
    }
    Ok(())
}

async fn apply_file(db: &Db, file: &SchemaFile) -> Result<(), SchemaError> {
    let sql = std::fs::read_to_string(&file.path).map_err(|source| SchemaError::Read {
        file: file.display.clone(),
        source,
    })?;
    tracing::debug!(file = %file.display, "applying schema file");
    match db.client.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let position = e
                .as_db_error()
                .and_then(|d| d.position())
                .and_then(|p| match p {
                    ErrorPosition::Original(pos) => Some(*pos as usize),
                    ErrorPosition::Internal { .. } => None,
                });
            let (line, column) = position.map_or((1, 1), |p| line_column(&sql, p));
            let snippet = sql
                .lines()
                .nth(line - 1)
                .unwrap_or("")
                .trim_end()
                .to_string();
            let where_ = e
                .as_db_error()
                .and_then(|d| d.where_())
                .map(|w| format!(" (context: {w})"))
                .unwrap_or_default();
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
    use super::line_column;

    #[test]
    fn positions_are_characters_not_bytes() {
        let sql = "select 'é';\nselect nope;";
        // "nope" starts at character 20 (1-based).
        assert_eq!(line_column(sql, 20), (2, 8));
        assert_eq!(line_column(sql, 1), (1, 1));
    }
}
