//! Partition-aware key values: rows of a partitioned table are spread over
//! its partitions (including a DEFAULT one), so probes that read or write a
//! partition by name find rows in it.

use crate::catalog::{Catalog, Relation};

/// For each direct partition of `parent`, literal values of the partition key
/// that route a row into it (`None` where any value will do, or none is known).
pub fn targets(catalog: &Catalog, parent: &Relation) -> Vec<Vec<Option<String>>> {
    if parent.partition_key.is_empty() {
        return Vec::new();
    }
    let bounds: Vec<&str> = catalog
        .relations
        .iter()
        .filter(|r| r.is_partition && r.parent == Some(parent.oid))
        .filter_map(|r| r.partition_bound.as_deref())
        .collect();
    let ranges: Vec<(Vec<String>, Vec<String>)> = bounds.iter().filter_map(|b| range(b)).collect();
    let width = parent.partition_key.len();
    bounds
        .iter()
        .map(|b| {
            if let Some((from, _)) = range(b) {
                from.into_iter().map(|v| literal(&v)).collect()
            } else if let Some(inner) = b.strip_prefix("FOR VALUES IN (").and_then(|r| r.strip_suffix(')')) {
                let first = split_list(inner).into_iter().next();
                vec![first.and_then(|v| literal(&v))]
            } else if *b == "DEFAULT" {
                // An upper edge of some range that no other range starts at lies
                // outside every range partition, so it routes to DEFAULT.
                let edge = ranges.iter().map(|(_, to)| to).find(|to| !ranges.iter().any(|(from, _)| from == *to));
                match edge {
                    Some(to) => to.iter().map(|v| literal(v)).collect(),
                    None => vec![None; width],
                }
            } else {
                vec![None; width] // hash partitions: generated values spread by themselves
            }
        })
        .collect()
}

/// `FOR VALUES FROM (a, b) TO (c, d)` -> (`[a, b]`, `[c, d]`).
fn range(bound: &str) -> Option<(Vec<String>, Vec<String>)> {
    let rest = bound.strip_prefix("FOR VALUES FROM (")?;
    let (from, to) = rest.split_once(") TO (")?;
    Some((split_list(from), split_list(to.strip_suffix(')')?)))
}

/// Splits a bound list at commas outside quotes.
fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// A bound element usable as a value (`MINVALUE`/`MAXVALUE` are not).
fn literal(v: &str) -> Option<String> {
    (!matches!(v, "MINVALUE" | "MAXVALUE" | "NULL")).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse() {
        assert_eq!(
            range("FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00')"),
            Some((vec!["'2024-01-01 00:00:00+00'".into()], vec!["'2025-01-01 00:00:00+00'".into()]))
        );
        assert_eq!(split_list("'a, b', 'c'"), vec!["'a, b'", "'c'"]);
        assert_eq!(literal("MINVALUE"), None);
    }
}
