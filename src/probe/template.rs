//! Probe statements as templates: the same probe of the same relation
//! differs between cases and contexts only in its constants (keys, values),
//! so its constants become parameters and the statement is parsed, analysed
//! and rewritten (where row-level security is applied) once per session,
//! then bound with each case's values.

/// A statement with its constants taken out as `$1`, `$2`, ... and the
/// constants as text (bound as untyped text parameters, so the server infers
/// each one's type from its place, exactly as it does for a quoted literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The statement with parameters.
    pub sql: String,
    /// The constants, in parameter order.
    pub values: Vec<String>,
}

/// Splits `sql` into a template and its constants: quoted string literals
/// (`'...'`, quotes doubled) and numbers that stand alone. Quoted
/// identifiers, dollar-quoted text and comments are left alone; a statement
/// that already has parameters is returned unchanged.
pub fn parametrize(sql: &str) -> Template {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut values = Vec::new();
    let mut i = 0;
    let mut last = 0;
    let push = |out: &mut String, values: &mut Vec<String>, from: usize, to: usize, value: String| {
        out.push_str(&sql[from..to]);
        values.push(value);
        out.push('$');
        out.push_str(&values.len().to_string());
    };
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let start = i;
                let mut value = String::new();
                i += 1;
                let mut seg = i;
                loop {
                    match b.get(i) {
                        None => return unchanged(sql),
                        Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                            value.push_str(&sql[seg..=i]);
                            i += 2;
                            seg = i;
                        }
                        Some(b'\'') => break,
                        Some(_) => i += 1,
                    }
                }
                value.push_str(&sql[seg..i]);
                i += 1;
                // E'...', B'...', X'...', U&'...': prefixed literals keep their text.
                if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'&') {
                    continue;
                }
                push(&mut out, &mut values, last, start, value);
                last = i;
            }
            b'"' => {
                i += 1;
                while i < b.len() && !(b[i] == b'"' && b.get(i + 1) != Some(&b'"')) {
                    i += if b[i] == b'"' { 2 } else { 1 };
                }
                i += 1;
            }
            b'$' => {
                // A parameter already, or dollar-quoted text: leave the statement as it is.
                return unchanged(sql);
            }
            b'-' if b.get(i + 1) == Some(&b'-') => return unchanged(sql),
            b'/' if b.get(i + 1) == Some(&b'*') => return unchanged(sql),
            c if c.is_ascii_digit() && (i == 0 || !is_word(b[i - 1])) => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                if i < b.len() && (is_word(b[i]) || b[i] == b'e' || b[i] == b'E') {
                    // 1e5, 0x1F, 1_000: rare in probes; keep the number in the text.
                    continue;
                }
                push(&mut out, &mut values, last, start, sql[start..i].to_string());
                last = i;
            }
            c if is_word(c) => {
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[last..]);
    Template { sql: out, values }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn unchanged(sql: &str) -> Template {
    Template { sql: sql.to_string(), values: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_become_parameters_and_names_stay() {
        let t = parametrize(r#"UPDATE "s"."t1" SET "v2" = 'it''s', "n" = 42 WHERE "id" = '7b'::uuid AND "x9" = -1.5"#);
        assert_eq!(t.sql, r#"UPDATE "s"."t1" SET "v2" = $1, "n" = $2 WHERE "id" = $3::uuid AND "x9" = -$4"#);
        assert_eq!(t.values, ["it's", "42", "7b", "1.5"]);
    }

    #[test]
    fn quoted_identifiers_with_digits_and_quotes_are_not_constants() {
        let t = parametrize(r#"SELECT "a""1'" FROM "2t" WHERE c = '1'"#);
        assert_eq!(t.sql, r#"SELECT "a""1'" FROM "2t" WHERE c = $1"#);
        assert_eq!(t.values, ["1"]);
    }

    #[test]
    fn statements_it_cannot_read_safely_are_left_whole() {
        for sql in ["SELECT $1", "SELECT $$x$$", "SELECT 1 -- c", "SELECT 'open", "SELECT /* 1 */ 2"] {
            assert_eq!(parametrize(sql), unchanged(sql), "{sql}");
        }
        let e = parametrize(r"SELECT E'a\n', 1e5, ARRAY['v1']::text[]");
        assert_eq!(e.sql, r"SELECT E'a\n', 1e5, ARRAY[$1]::text[]");
    }
}
