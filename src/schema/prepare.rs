//! Turning a schema file into what is sent to the server, line for line.
//!
//! What a migration tool or psql would not send is blanked (replaced by spaces,
//! newlines kept) rather than removed, so every position PostgreSQL reports
//! still maps to the same line and column of the file on disk: down sections
//! (dbmate, goose), psql meta-commands (`\restrict`, `\connect`, `\set`) and
//! `COPY ... FROM stdin` data, which rowfence does not need (it generates its
//! own rows). What a dump needs from the server (owner roles, settings the
//! server may not know) is collected here and settled in [`super::apply_file`].

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::lex::{Piece, line_end, line_of, scan};
use crate::formats::Format;

/// A file ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The text to send: the original with skipped parts blanked.
    pub sql: String,
    /// What was skipped, one sentence each (shown as `rowfence: FILE: NOTE`).
    pub notes: Vec<String>,
    /// Byte ranges to keep whole when the file is cut into statements
    /// (goose `StatementBegin` / `StatementEnd` blocks).
    pub whole: Vec<Range<usize>>,
    /// Run each statement on its own, outside a transaction block (goose
    /// `NO TRANSACTION`, dbmate `transaction:false`), as the tool would.
    pub no_transaction: bool,
    /// Roles named by `OWNER TO` that the file does not create itself.
    pub owners: Vec<String>,
    /// Top-level `SET name ...` statements: the setting and the statement's range.
    pub settings: Vec<(String, Range<usize>)>,
}

/// A file that cannot be applied as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

static OWNER_TO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)\bowner\s+to\s+("(?:[^"]|"")+"|[a-z_][\w$]*)"#).expect("regex"));
static CREATE_ROLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\bcreate\s+(?:role|user|group)\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[a-z_][\w$]*)"#)
        .expect("regex")
});
static SET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^set\s+(?:session\s+)?([a-z_][\w.]*)\s*(?:=|\bto\b)").expect("regex"));

/// Prepares `text`, a file of `format`.
pub fn prepare(text: &str, format: Format) -> Result<Prepared, Unsupported> {
    let mut p = Prepared {
        sql: text.to_string(),
        notes: Vec::new(),
        whole: Vec::new(),
        no_transaction: false,
        owners: Vec::new(),
        settings: Vec::new(),
    };
    match format {
        Format::Dbmate => sections(&mut p, text, &DBMATE),
        Format::Goose => sections(&mut p, text, &GOOSE),
        _ => {}
    }
    let sent = p.sql.clone();
    let mut metas = Vec::new();
    let mut copies = Vec::new();
    let mut created = Vec::new();
    for piece in scan(&sent) {
        match piece {
            Piece::Meta { offset, text: line } => {
                let command = line[1..].split_whitespace().next().unwrap_or("");
                if matches!(command, "i" | "ir" | "include" | "include_relative" | "include_if_exists") {
                    return Err(Unsupported {
                        line: line_of(&sent, offset),
                        message: format!(
                            "psql `\\{command}` includes another file; list that file in the suite's `schema` instead"
                        ),
                    });
                }
                metas.push(format!("`\\{command}` (line {})", line_of(&sent, offset)));
                p.blank(offset..offset + line.len());
            }
            Piece::Copy { offset, text: block } => {
                let table = block.split_whitespace().nth(1).unwrap_or("?");
                copies.push(format!("`{table}` (line {})", line_of(&sent, offset)));
                p.blank(offset..offset + block.len());
            }
            Piece::Statement { offset, text: stmt } => {
                for c in CREATE_ROLE.captures_iter(stmt) {
                    created.push(role_name(&c[1]));
                }
                for c in OWNER_TO.captures_iter(stmt) {
                    let role = role_name(&c[1]);
                    let special = !c[1].starts_with('"')
                        && matches!(role.as_str(), "current_user" | "current_role" | "session_user" | "public");
                    if !special && !p.owners.contains(&role) && !created.contains(&role) {
                        p.owners.push(role);
                    }
                }
                if let Some(c) = SET.captures(stmt) {
                    p.settings.push((c[1].to_string(), offset..offset + stmt.len()));
                }
            }
        }
    }
    if !metas.is_empty() {
        p.notes.push(format!("skipped psql meta-command(s) {}", listing(&metas)));
    }
    if !copies.is_empty() {
        p.notes.push(format!(
            "skipped COPY ... FROM stdin data for {} (rowfence generates its own rows)",
            listing(&copies)
        ));
    }
    Ok(p)
}

impl Prepared {
    /// Replaces `range` by spaces, keeping line breaks (and so every position after it).
    pub fn blank(&mut self, range: Range<usize>) {
        // A multi-byte character becomes as many spaces as it had bytes, so
        // byte ranges found earlier stay valid; lines stay where they were.
        let blanked: String = self.sql[range.clone()]
            .chars()
            .flat_map(|c| match c {
                '\n' | '\r' => vec![c],
                _ => vec![' '; c.len_utf8()],
            })
            .collect();
        self.sql.replace_range(range, &blanked);
    }
}

/// First items of a list with its line numbers, then how many more.
fn listing(items: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut out = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        out.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    out
}

/// A role name as written (`"Admin"` or `admin`) as the catalog spells it.
fn role_name(written: &str) -> String {
    match written.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => written.to_lowercase(),
    }
}

/// The section markers of a tool that keeps up and down in one file.
struct Markers {
    tool: &'static str,
    up: LazyLock<Regex>,
    down: LazyLock<Regex>,
    /// A marker that runs the section outside a transaction.
    no_transaction: LazyLock<Regex>,
    /// Block markers (begin, end) whose content is one statement.
    block: Option<(&'static str, &'static str)>,
}

static DBMATE: Markers = Markers {
    tool: "dbmate",
    up: LazyLock::new(|| Regex::new(r"^--\s*migrate:up\b").expect("regex")),
    down: LazyLock::new(|| Regex::new(r"^--\s*migrate:down\b").expect("regex")),
    no_transaction: LazyLock::new(|| Regex::new(r"^--\s*migrate:up\b.*\btransaction:false\b").expect("regex")),
    block: None,
};

static GOOSE: Markers = Markers {
    tool: "goose",
    up: LazyLock::new(|| Regex::new(r"(?i)^--\s*\+goose\s+up\b").expect("regex")),
    down: LazyLock::new(|| Regex::new(r"(?i)^--\s*\+goose\s+down\b").expect("regex")),
    no_transaction: LazyLock::new(|| Regex::new(r"(?i)^--\s*\+goose\s+no\s+transaction\b").expect("regex")),
    block: Some(("+goose statementbegin", "+goose statementend")),
};

/// Blanks the down sections and records blocks and transaction markers.
fn sections(p: &mut Prepared, text: &str, m: &Markers) {
    let mut down: Option<usize> = None;
    let mut downs = Vec::new();
    let mut block_start = None;
    let mut at = 0;
    while at < text.len() {
        let end = line_end(text, at);
        let line = text[at..end].trim();
        let squashed = line.trim_start_matches('-').trim().to_ascii_lowercase();
        if m.no_transaction.is_match(line) {
            p.no_transaction = true;
        }
        if m.down.is_match(line) {
            down.get_or_insert(at);
        } else if m.up.is_match(line) {
            if let Some(start) = down.take() {
                downs.push(start..at);
            }
        } else if let Some((begin, finish)) = m.block {
            if squashed == begin {
                block_start = Some((end + 1).min(text.len()));
            } else if squashed == finish
                && let Some(start) = block_start.take()
            {
                p.whole.push(start..at);
            }
        }
        at = end + 1;
    }
    if let Some(start) = down {
        downs.push(start..text.len());
    }
    for r in &downs {
        p.blank(r.clone());
    }
    // Blocks inside a down section are gone with it.
    p.whole.retain(|w| !downs.iter().any(|d| d.contains(&w.start)));
    if !downs.is_empty() {
        let lines: Vec<String> = downs.iter().map(|r| format!("line {}", line_of(text, r.start))).collect();
        p.notes.push(format!("applied the up section only ({} down section at {})", m.tool, lines.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::lex::split_statements;

    /// Every line of `a` and `b` lines up, so positions map one to one.
    fn same_shape(a: &str, b: &str) {
        assert_eq!(a.len(), b.len());
        assert_eq!(a.lines().count(), b.lines().count());
        for (x, y) in a.lines().zip(b.lines()) {
            assert!(y.trim().is_empty() || x == y, "{x:?} vs {y:?}");
        }
    }

    #[test]
    fn dump_meta_commands_and_copy_are_blanked_with_notes() {
        let dump = "\\restrict Xy9\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\
                    CREATE TABLE public.t (id int);\nALTER TABLE public.t OWNER TO \"Dump Owner\";\n\
                    COPY public.t (id) FROM stdin;\n1\n\\.\n\n\\unrestrict Xy9\n";
        let p = prepare(dump, Format::Plain).unwrap();
        same_shape(dump, &p.sql);
        assert!(!p.sql.contains('\\'), "{}", p.sql);
        assert!(p.sql.contains("CREATE TABLE public.t"));
        assert_eq!(p.owners, ["Dump Owner"]);
        assert_eq!(p.settings.len(), 1);
        assert_eq!(p.settings[0].0, "statement_timeout");
        assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
        assert!(p.notes[0].contains("`\\restrict` (line 1), `\\unrestrict` (line 11)"), "{:?}", p.notes);
        assert!(p.notes[1].contains("`public.t` (line 7)"), "{:?}", p.notes);
    }

    #[test]
    fn owners_created_in_the_file_or_special_are_not_collected() {
        let sql = "CREATE ROLE admin;\nALTER TABLE t OWNER TO admin;\nALTER TABLE u OWNER TO CURRENT_USER;\nALTER TABLE v OWNER TO Other;";
        assert_eq!(prepare(sql, Format::Plain).unwrap().owners, ["other"]);
    }

    #[test]
    fn includes_are_refused_with_their_line() {
        let err = prepare("select 1;\n\\i other.sql\n", Format::Plain).unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn dbmate_down_section_is_blanked() {
        let sql = "-- migrate:up\ncreate table a ();\n\n-- migrate:down\ndrop table a;\n";
        let p = prepare(sql, Format::Dbmate).unwrap();
        same_shape(sql, &p.sql);
        assert_eq!(split_statements(&p.sql), [(14, "create table a ();")]);
        assert!(!p.no_transaction);
        assert!(p.notes[0].contains("line 4"), "{:?}", p.notes);
        let p = prepare("-- migrate:up transaction:false\ncreate index concurrently i on a (x);\n", Format::Dbmate)
            .unwrap();
        assert!(p.no_transaction);
    }

    #[test]
    fn goose_keeps_statement_blocks_and_drops_down() {
        let sql = "-- +goose Up\n-- +goose StatementBegin\ncreate function f() returns int begin atomic; select 1; end;\n\
                   -- +goose StatementEnd\ncreate table a ();\n-- +goose Down\n-- +goose StatementBegin\ndrop function f;\n-- +goose StatementEnd\n";
        let p = prepare(sql, Format::Goose).unwrap();
        same_shape(sql, &p.sql);
        assert!(!p.sql.contains("drop"));
        assert_eq!(p.whole.len(), 1);
        assert!(sql[p.whole[0].clone()].starts_with("create function") && sql[p.whole[0].clone()].ends_with("end;\n"));
        assert!(prepare("-- +goose NO TRANSACTION\n-- +goose Up\nselect 1;", Format::Goose).unwrap().no_transaction);
    }

    #[test]
    fn blanking_keeps_byte_offsets_of_multibyte_text() {
        let mut p = prepare("\\set x 'é'\nselect 1;", Format::Plain).unwrap();
        assert_eq!(p.sql.len(), "\\set x 'é'\nselect 1;".len());
        p.blank(0..1);
        assert!(p.sql.ends_with("\nselect 1;"));
    }
}
