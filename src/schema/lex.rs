//! Reading SQL the way psql does, just enough to cut it up: statements end at
//! top-level semicolons (not inside quotes, dollar quotes or comments), a
//! backslash at the start of a statement is a psql meta-command that runs to
//! the end of its line, and `COPY ... FROM stdin;` is followed by data lines up
//! to `\.`. Offsets are bytes into the text.

use std::sync::LazyLock;

use regex::Regex;

/// One piece of a SQL script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A statement, from its first significant character to its semicolon
    /// (or the end of the text).
    Statement {
        /// Byte offset of the statement.
        offset: usize,
        /// Its text.
        text: &'a str,
    },
    /// A psql meta-command line (`\restrict key`, `\connect db`), without its newline.
    Meta {
        /// Byte offset of the backslash.
        offset: usize,
        /// The line.
        text: &'a str,
    },
    /// `COPY ... FROM stdin;` and its data, through the `\.` line.
    Copy {
        /// Byte offset of the COPY statement.
        offset: usize,
        /// The statement and its data.
        text: &'a str,
    },
}

static COPY_FROM_STDIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^copy\b.*\bfrom\s+stdin\b").expect("regex"));

/// Cuts `sql` into statements, psql meta-commands and COPY data blocks.
pub fn scan(sql: &str) -> Vec<Piece<'_>> {
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
            // psql reads a backslash between statements as a meta-command
            // running to the end of the line; PostgreSQL would reject it.
            b'\\' if start.is_none() => {
                let end = line_end(sql, i);
                out.push(Piece::Meta { offset: i, text: sql[i..end].trim_end_matches('\r') });
                i = end;
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
                    let stmt = &sql[s..=i];
                    if COPY_FROM_STDIN.is_match(stmt) {
                        let end = copy_data_end(sql, i + 1);
                        out.push(Piece::Copy { offset: s, text: &sql[s..end] });
                        i = end;
                        continue;
                    }
                    out.push(Piece::Statement { offset: s, text: stmt });
                }
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(s) = start {
        out.push(Piece::Statement { offset: s, text: &sql[s..] });
    }
    out
}

/// Splits SQL into statements at top-level semicolons, skipping quotes,
/// dollar quotes and comments. Yields each statement's byte offset (of its
/// first significant character) and text. Meta-commands and COPY data are left out.
pub fn split_statements(sql: &str) -> Vec<(usize, &str)> {
    scan(sql)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Statement { offset, text } => Some((offset, text)),
            _ => None,
        })
        .collect()
}

/// Offset of the end of the line holding `from` (its `\n`, or the end of the text).
pub fn line_end(text: &str, from: usize) -> usize {
    text[from..].find('\n').map_or(text.len(), |j| from + j)
}

/// Where COPY data that starts after the statement ending at `after` stops:
/// just past the `\.` line (or the end of the text, as psql would read it).
fn copy_data_end(sql: &str, after: usize) -> usize {
    // Data starts on the line after the statement.
    let mut at = match sql[after..].find('\n') {
        Some(j) => after + j + 1,
        None => return sql.len(),
    };
    while at < sql.len() {
        let end = line_end(sql, at);
        if sql[at..end].trim_end_matches('\r') == "\\." {
            return end;
        }
        at = end + 1;
    }
    sql.len()
}

/// 1-based line and column of a 1-based character position.
pub fn line_column(text: &str, position: usize) -> (usize, usize) {
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

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn meta_commands_are_lines_between_statements() {
        let sql = "\\restrict abc\nSET x = 1;\n\\connect db\r\nselect '\\not meta';\n\\unrestrict abc";
        let pieces = scan(sql);
        assert_eq!(pieces.len(), 5, "{pieces:?}");
        assert_eq!(pieces[0], Piece::Meta { offset: 0, text: "\\restrict abc" });
        assert_eq!(pieces[2], Piece::Meta { offset: 25, text: "\\connect db" });
        assert!(matches!(pieces[3], Piece::Statement { text: "select '\\not meta';", .. }));
        assert!(matches!(pieces[4], Piece::Meta { text: "\\unrestrict abc", .. }));
    }

    #[test]
    fn copy_from_stdin_takes_its_data_through_the_terminator() {
        let sql = "COPY public.t (a, b) FROM stdin;\n1\tit's; odd\n2\t$$\n\\.\ncreate table u ();\n";
        let pieces = scan(sql);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        let Piece::Copy { text, .. } = &pieces[0] else { panic!("{pieces:?}") };
        assert!(text.ends_with("\\."), "{text}");
        assert!(matches!(pieces[1], Piece::Statement { text: "create table u ();", .. }));
        // COPY to a file is an ordinary statement.
        assert!(matches!(scan("COPY t TO stdout;")[0], Piece::Statement { .. }));
    }
}
