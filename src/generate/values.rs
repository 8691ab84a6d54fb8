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
/// when rowfence does not know how to make one.
pub fn value(rel: &Relation, col: &Column, n: u64) -> Option<String> {
    let choices = check_choices(rel, &col.name);
    if !choices.is_empty() {
        let pick = &choices[(n as usize) % choices.len()];
        return Some(cast(&literal(pick), col));
    }
    if !col.enum_labels.is_empty() {
        let pick = &col.enum_labels[(n as usize) % col.enum_labels.len()];
        return Some(cast(&literal(pick), col));
    }
    if col.category == "A" {
        return Some(cast("'{}'", col));
    }
    let raw = match col.base_type.as_str() {
        "uuid" => literal(&format!("00000000-0000-4000-8000-{:012x}", n)),
        "text" | "varchar" | "bpchar" | "citext" | "name" => {
            let s = if col.name.contains("email") { format!("u{n}@example.com") } else { format!("v{n}") };
            literal(&fit(s, &col.sql_type))
        }
        "int2" => (n % 30000).to_string(),
        "int4" | "int8" | "oid" | "numeric" | "float4" | "float8" | "money" => n.to_string(),
        "bool" => n.is_multiple_of(2).to_string(),
        "date" => format!("('2024-01-01'::date + {n})"),
        "timestamp" | "timestamptz" => {
            format!("('2024-01-01 00:00:00'::timestamp + {n} * interval '1 minute')")
        }
        "time" | "timetz" => literal("12:00:00"),
        "interval" => literal(&format!("{n} minutes")),
        "json" | "jsonb" => literal(&format!("{{\"n\": {n}}}")),
        "bytea" => literal(&format!("\\x{:02x}", n % 256)),
        "inet" | "cidr" => literal(&format!("127.0.{}.{}/32", (n / 250) % 250, n % 250 + 1)),
        "macaddr" => literal(&format!("08:00:2b:00:{:02x}:{:02x}", (n / 256) % 256, n % 256)),
        "tsvector" => literal(&format!("v{n}")),
        _ => return None,
    };
    Some(cast(&raw, col))
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
    fn varchar_limits_keep_the_distinct_tail() {
        assert_eq!(fit("v12345".into(), "character varying(3)"), "345");
        assert_eq!(fit("v1".into(), "text"), "v1");
    }
}
