//! Column values: deterministic SQL literals for a column and a row number.
//!
//! Values are derived from a per-table row number, so every generated value is
//! unique within its table (UNIQUE constraints hold) and the same plan always
//! yields the same data. Simple CHECK constraints of the form
//! `col IN ('a', 'b')` (stored as `col = ANY (ARRAY[...])`) and enums pick from
//! the allowed values.

use std::sync::LazyLock;

use regex::Regex;

use crate::catalog::{Column, Relation};
use crate::db::literal;

static QUOTED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"'((?:[^']|'')*)'").expect("regex"));
/// `= ANY (ARRAY[` on text, `= ANY ((ARRAY[...])::text[])` on varchar.
static ANY_ARRAY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"= ANY \(+ARRAY\[").expect("regex"));

/// Values a CHECK constraint allows for `column`, when it is a plain IN-list.
pub fn check_choices(rel: &Relation, column: &str) -> Vec<String> {
    for check in &rel.checks {
        if check.columns.len() == 1 && check.columns[0] == column && ANY_ARRAY.is_match(&check.definition) {
            let found: Vec<String> = QUOTED.captures_iter(&check.definition).map(|c| c[1].replace("''", "'")).collect();
            if !found.is_empty() {
                return found;
            }
        }
    }
    Vec::new()
}

/// A SQL expression of the column's type for row number `n` (>= 1), or `None`
/// when rowfence does not know how to make one. The first of [`variant`]'s shapes.
pub fn value(rel: &Relation, col: &Column, n: u64) -> Option<String> {
    variant(rel, col, n, 0)
}

/// How many shapes [`variant`] may offer for a column.
pub const VARIANTS: u8 = 9;

/// Shape `v` of a value for row `n`: other ways to write a value of the same
/// type (an e-mail, a URL, a slug, digits, a later date, a negative or a
/// fractional number, a constant flag), tried when a constraint the catalog
/// cannot explain (a regex, a range, a cross-column CHECK, a domain, an
/// exclusion constraint) rejects the first shape. Shapes that repeat a value
/// across rows are not offered for unique columns. `None`: no such shape.
pub fn variant(rel: &Relation, col: &Column, n: u64, v: u8) -> Option<String> {
    let unique = rel.is_unique_column(&col.name);
    // Allowed values cycle over the rows; shapes after the first hold one of
    // them constant (a conditional CHECK may allow only one).
    let mut choices = check_choices(rel, &col.name);
    if choices.is_empty() {
        choices = col.enum_labels.clone();
    }
    if !choices.is_empty() {
        let pick = match v {
            0 => &choices[n as usize % choices.len()],
            _ if unique => return None,
            _ => choices.get(v as usize - 1)?,
        };
        return Some(cast(&literal(pick), col));
    }
    let constant = |c: &str| (!unique).then(|| c.to_string());
    if col.category == "A" {
        return match v {
            0 => Some(cast("'{}'", col)),
            // One element of the array's element type (numbers or text).
            1 if ["smallint", "integer", "bigint", "numeric", "real", "double precision"]
                .iter()
                .any(|t| col.sql_type.starts_with(t)) =>
            {
                Some(cast(&format!("ARRAY[{n}]"), col))
            }
            1 => Some(cast(&format!("ARRAY[{}]", literal(&format!("v{n}"))), col)),
            _ => None,
        };
    }
    let day = |base: &str| format!("('{base}'::date + {n})");
    let minute = |base: &str| format!("('{base} 00:00:00'::timestamp + {n} * interval '1 minute')");
    let raw = match (col.base_type.as_str(), v) {
        ("uuid", 0) => literal(&format!("00000000-0000-4000-8000-{:012x}", n)),
        ("text" | "varchar" | "bpchar" | "citext" | "name", v) => {
            let s = match v {
                0 if col.name.contains("email") => format!("u{n}@example.com"),
                0 => format!("v{n}"),
                1 => format!("u{n}@example.com"),
                2 => format!("https://example.com/{n}"),
                3 => format!("value-{n:04}"),
                4 => format!("{n:08}"),
                5 => format!("Value {n}"),
                6 => format!("V{n:04}"),
                7 => format!("+1555{n:07}"),
                8 => format!("#{:06x}", n * 4099 % 0xffffff),
                _ => return None,
            };
            literal(&fit(s, &col.sql_type))
        }
        ("int2", 0) => (n % 30000).to_string(),
        ("int2" | "int4" | "int8" | "oid" | "numeric" | "float4" | "float8" | "money", v) => match v {
            0 => n.to_string(),
            1 => (n * 1000).to_string(),
            2 => format!("-{n}"),
            3 => constant("0")?,
            4 => constant("1")?,
            5 if matches!(col.base_type.as_str(), "numeric" | "float4" | "float8") => format!("{n}/1000.0"),
            _ => return None,
        },
        ("bool", 0) => n.is_multiple_of(2).to_string(),
        ("bool", 1) => constant("false")?,
        ("bool", 2) => constant("true")?,
        ("date", v) => match v {
            0 => day("2024-01-01"),
            1 => day("2025-06-01"),
            2 => format!("(current_date + {n} + 1)"),
            3 => day("2000-01-01"),
            4 => format!("(current_date - {n})"),
            _ => return None,
        },
        ("timestamp" | "timestamptz", v) => match v {
            0 => minute("2024-01-01"),
            1 => minute("2025-06-01"),
            2 => format!("(now() + {n} * interval '1 day')"),
            3 => minute("2000-01-01"),
            4 => format!("(now() - {n} * interval '1 day')"),
            // An hour after the first shape: an end a CHECK wants after a start.
            5 => format!("({} + interval '1 hour')", minute("2024-01-01")),
            _ => return None,
        },
        ("time" | "timetz", v) => match v {
            0 => literal("12:00:00"),
            1 => format!("('08:00'::time + {n} * interval '1 minute')"),
            2 => format!("('18:00'::time + {n} * interval '1 minute')"),
            _ => return None,
        },
        ("interval", 0) => literal(&format!("{n} minutes")),
        ("interval", 1) => literal(&format!("{n} days")),
        ("json" | "jsonb", v) => match v {
            0 => literal(&format!("{{\"n\": {n}}}")),
            1 => literal("[]"),
            2 => literal(&format!("\"v{n}\"")),
            _ => return None,
        },
        // Ranges that never overlap from one row to the next (exclusion constraints).
        ("tstzrange" | "tsrange", 0) => format!("{}({}, {} + interval '1 hour')", col.base_type, day_ts(n), day_ts(n)),
        ("daterange", 0) => format!("daterange({}, ('2024-01-01'::date + {n} + 1))", day("2024-01-01")),
        ("int4range" | "int8range" | "numrange", 0) => format!("{}({}, {})", col.base_type, n * 10, n * 10 + 5),
        ("bytea", 0) => literal(&format!("\\x{:02x}", n % 256)),
        ("inet" | "cidr", 0) => literal(&format!("127.0.{}.{}/32", (n / 250) % 250, n % 250 + 1)),
        ("macaddr", 0) => literal(&format!("08:00:2b:00:{:02x}:{:02x}", (n / 256) % 256, n % 256)),
        ("tsvector", 0) => literal(&format!("v{n}")),
        _ => return None,
    };
    Some(cast(&raw, col))
}

/// Midnight of day `n` after 2024-01-01, as a timestamp expression.
fn day_ts(n: u64) -> String {
    format!("('2024-01-01'::timestamp + {n} * interval '1 day')")
}

/// `column ~ 'pattern'` (or `~*`) in a CHECK or domain definition as
/// PostgreSQL prints it: `((code)::text ~ '^[A-Z]{3}$'::text)`, `(VALUE ~ ...)`.
static MATCHES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[^!\w])\(*"?(\w+)"?\)?(?:::[\w ]+\)?)? ~(\*?) '((?:[^']|'')*)'"#).expect("regex")
});

/// The patterns a constraint definition matches columns against:
/// (column or `VALUE`, case-insensitive, pattern).
pub fn patterns(definition: &str) -> Vec<(String, bool, String)> {
    MATCHES.captures_iter(definition).map(|c| (c[1].to_string(), !c[2].is_empty(), c[3].replace("''", "'"))).collect()
}

/// Up to 16 distinct strings matching a PostgreSQL regular expression, drawn
/// with proptest's regex generator from a fixed seed (so every run makes the
/// same ones). Anchors are dropped (generation needs none), and `.`, negated
/// classes and `\s` become plain ASCII so the strings are printable; `None`
/// when the pattern uses what the generator cannot express.
pub fn pattern_pool(pattern: &str, case_insensitive: bool, sql_type: &str) -> Option<Vec<String>> {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rewritten = ascii_pattern(pattern)?;
    let flags = if case_insensitive { "(?i-u)" } else { "(?-u)" };
    let strategy = proptest::string::string_regex(&format!("{flags}{rewritten}")).ok()?;
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let limit = sql_type.split_once('(').and_then(|(_, rest)| rest.trim_end_matches(')').parse::<usize>().ok());
    let mut out: Vec<String> = Vec::new();
    for _ in 0..400 {
        let s = strategy.new_tree(&mut runner).ok()?.current();
        if limit.is_none_or(|l| s.chars().count() <= l) && !s.contains('\0') && !out.contains(&s) {
            out.push(s);
            if out.len() == 16 {
                break;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The pattern with anchors dropped and unbounded classes made ASCII.
fn ascii_pattern(pattern: &str) -> Option<String> {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    let body = match body.strip_suffix('$') {
        Some(b) if !b.ends_with('\\') => b,
        _ => body,
    };
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                's' => out.push(' '),
                'S' => out.push_str("[a-z0-9]"),
                e => {
                    out.push('\\');
                    out.push(e);
                }
            },
            '.' => out.push_str("[a-z0-9]"),
            '^' | '$' => return None, // anchors inside: not for generation
            '[' => {
                // Copy the class; a negated one becomes [a-z0-9].
                let negated = chars.peek() == Some(&'^');
                let mut class = String::from("[");
                let mut first = true;
                loop {
                    let k = chars.next()?;
                    class.push(k);
                    match k {
                        '\\' => class.push(chars.next()?),
                        '[' if chars.peek() == Some(&':') => {
                            // [:alpha:]
                            for k in chars.by_ref() {
                                class.push(k);
                                if k == ']' {
                                    break;
                                }
                            }
                        }
                        ']' if !(first || negated && class == "[^]") => break,
                        _ => {}
                    }
                    first = false;
                }
                out.push_str(if negated { "[a-z0-9]" } else { &class });
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn cast(expr: &str, col: &Column) -> String {
    format!("{expr}::{}", col.sql_type)
}

/// Truncates `s` to a `varchar(n)`/`char(n)` length limit.
fn fit(s: String, sql_type: &str) -> String {
    let limit = sql_type.split_once('(').and_then(|(_, rest)| rest.trim_end_matches(')').parse::<usize>().ok());
    match limit {
        Some(n) if s.chars().count() > n => s.chars().rev().take(n).collect::<Vec<_>>().into_iter().rev().collect(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_read_from_printed_constraints() {
        let found = patterns("CHECK (((code)::text ~ '^[A-Z]{3}$'::text))");
        assert_eq!(found, vec![("code".to_string(), false, "^[A-Z]{3}$".to_string())]);
        let found = patterns("CHECK ((VALUE ~* '^[^@\\s]+@[^@\\s]+$'::text) AND (x !~ 'no'::text))");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "VALUE");
        assert!(found[0].1);
    }

    #[test]
    fn pattern_pools_match_their_patterns() {
        for (pattern, ci) in [
            ("^[A-Z]{3}$", false),
            ("^rf_[a-z0-9]{8}$", false),
            ("^[a-z_]+\\.[a-z_]+$", false),
            ("^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", true),
            ("^[0-9a-f]{64}$", false),
            ("^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$", false),
        ] {
            let pool = pattern_pool(pattern, ci, "text").unwrap_or_else(|| panic!("no pool for {pattern}"));
            let re = Regex::new(&format!("{}{pattern}", if ci { "(?i)" } else { "" })).unwrap();
            assert!(pool.len() >= 8, "{pattern}: {pool:?}");
            assert!(pool.iter().all(|s| re.is_match(s)), "{pattern}: {pool:?}");
        }
        assert!(pattern_pool("^[A-Z]{2}$", false, "character(2)").unwrap().iter().all(|s| s.len() == 2));
    }

    #[test]
    fn varchar_limits_keep_the_distinct_tail() {
        assert_eq!(fit("v12345".into(), "character varying(3)"), "345");
        assert_eq!(fit("v1".into(), "text"), "v1");
    }
}
