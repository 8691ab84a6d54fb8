//! Reading policy expressions (`pg_get_expr` output) for the tenant setting:
//! shared by the static rules and by cause attribution, so both judge a
//! policy the same way.
//!
//! The checks look at each `current_setting('<setting>'...)` call and at what
//! immediately surrounds it, rather than at the whole expression, so that an
//! unrelated `lower(status)` elsewhere in the policy is not mistaken for a
//! case-folded tenant comparison.

use std::collections::BTreeSet;

use crate::catalog::Catalog;

/// Each `current_setting('<setting>' ...)` call in `text` (lowercased): the
/// text before it and the text after its closing parenthesis.
fn calls<'t>(t: &'t str, setting: &str) -> Vec<(&'t str, &'t str)> {
    let needle = format!("current_setting('{}'", setting.to_lowercase());
    let mut out = Vec::new();
    for (i, _) in t.match_indices(&needle) {
        let mut depth = 0usize;
        let mut end = t.len();
        for (j, c) in t[i..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((&t[..i], &t[end..]));
    }
    out
}

/// Strips casts and closing parentheses after a call: `)::text)` -> ``.
fn after_casts(mut s: &str) -> &str {
    loop {
        let trimmed = s.trim_start_matches(')');
        let trimmed = match trimmed.strip_prefix("::") {
            Some(rest) => rest.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'),
            None => trimmed,
        };
        if trimmed.len() == s.len() {
            return s.trim_start();
        }
        s = trimmed;
    }
}

/// The top-level OR branches of an expression (`((a) OR (b))` -> `a`, `b`).
pub fn or_branches(text: &str) -> Vec<&str> {
    let mut t = text.trim();
    // Strip parentheses that enclose the whole expression.
    while t.starts_with('(') && closing(t, 0) == Some(t.len() - 1) {
        t = t[1..t.len() - 1].trim();
    }
    let lower = t.to_lowercase();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let mut out = Vec::new();
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && lower[i..].starts_with(" or ") => {
                out.push(t[start..i].trim());
                start = i + 4;
                i += 3;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(t[start..].trim());
    out
}

/// Index of the parenthesis closing the one at `open`.
fn closing(t: &str, open: usize) -> Option<usize> {
    let (mut depth, mut quoted) = (0i32, false);
    for (i, c) in t.char_indices().skip(open) {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether `text` reads the tenant setting directly.
pub fn reads_setting(text: &str, setting: &str) -> bool {
    !calls(&text.to_lowercase(), setting).is_empty()
}

/// An OR branch that opens when the setting is missing or empty:
/// `current_setting(...) IS NULL`, `= ''`, `COALESCE(current_setting(...), '') = ''`.
pub fn fallback_open(text: &str, setting: &str) -> bool {
    let t = text.to_lowercase();
    if !t.contains(" or ") {
        return false;
    }
    calls(&t, setting).into_iter().any(|(before, after)| {
        let rest = after_casts(after);
        let empty_test = |r: &str| r.starts_with("is null") || r.starts_with("= ''") || r.starts_with("= (''");
        empty_test(rest)
            || before.trim_end().ends_with("coalesce(") && {
                // COALESCE(current_setting(...), '') = ''
                let close = rest.find(')').map(|i| &rest[i..]).unwrap_or("");
                empty_test(after_casts(close))
            }
    })
}

/// A comparison of the setting that can match several tenants: pattern
/// matching, prefixes or case folding applied to the setting's value.
pub fn broad_match(text: &str, setting: &str) -> bool {
    let t = text.to_lowercase();
    const BEFORE: &[&str] =
        &["~~ ", "~~* ", "like ", "starts_with(", "lower(", "upper(", "left(", "strpos(", "position(", "~ ", "~* "];
    const AFTER: &[&str] = &["||", "~~", "like", "ilike", "similar to", "~*"];
    calls(&t, setting).into_iter().any(|(before, after)| {
        let near_before = &before[before.len().saturating_sub(24)..];
        let rest = after_casts(after);
        let near_after = &rest[..rest.len().min(12)];
        BEFORE.iter().any(|b| near_before.contains(b)) || AFTER.iter().any(|a| near_after.starts_with(a))
    })
}

/// Custom settings other than the tenant setting that `text` reads.
pub fn other_settings(text: &str, setting: &str) -> Vec<String> {
    let t = text.to_lowercase();
    let own = setting.to_lowercase();
    t.match_indices("current_setting('")
        .filter_map(|(i, _)| t[i + 17..].split('\'').next())
        .filter(|name| name.contains('.') && *name != own)
        .map(str::to_string)
        .collect()
}

/// Functions that read the setting, directly or through other functions
/// that do (helpers calling helpers).
pub fn setting_readers(catalog: &Catalog, setting: &str) -> BTreeSet<u32> {
    let mut readers: BTreeSet<u32> =
        catalog.functions.iter().filter(|f| reads_setting(&f.source, setting)).map(|f| f.oid).collect();
    loop {
        let before = readers.len();
        for f in &catalog.functions {
            let src = f.source.to_lowercase();
            if !readers.contains(&f.oid)
                && catalog
                    .functions
                    .iter()
                    .filter(|g| readers.contains(&g.oid))
                    .any(|g| super::word_in(&src, &g.name.to_lowercase()))
            {
                readers.insert(f.oid);
            }
        }
        if readers.len() == before {
            return readers;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "app.current_org_id";

    #[test]
    fn fallbacks_are_branches_on_a_missing_setting() {
        assert!(fallback_open(
            "((current_setting('app.current_org_id'::text, true) IS NULL) OR (org_id = (current_setting('app.current_org_id'::text, true))::uuid))",
            S
        ));
        assert!(fallback_open(
            "((COALESCE(current_setting('app.current_org_id'::text, true), ''::text) = ''::text) OR (org_id = x))",
            S
        ));
        assert!(!fallback_open(
            "(org_id = (NULLIF(current_setting('app.current_org_id'::text, true), ''::text))::uuid)",
            S
        ));
        assert!(!fallback_open(
            "((org_id = (current_setting('app.current_org_id'::text))::uuid) OR (org_id IS NULL))",
            S
        ));
    }

    #[test]
    fn broad_matching_is_judged_at_the_setting() {
        assert!(broad_match("(org_id ~~ (current_setting('app.current_org_id'::text) || '%'::text))", S));
        assert!(broad_match("starts_with(org_id, current_setting('app.current_org_id'::text, true))", S));
        assert!(broad_match("(lower(org_id) = lower(current_setting('app.current_org_id'::text)))", S));
        assert!(!broad_match(
            "((org_id = current_setting('app.current_org_id'::text)) AND (lower(status) <> 'deleted'::text))",
            S
        ));
    }

    #[test]
    fn or_branches_split_at_the_top_level() {
        assert_eq!(or_branches("((org_id = x) OR is_public)"), vec!["(org_id = x)", "is_public"]);
        assert_eq!(or_branches("(org_id = f(a OR b))"), vec!["org_id = f(a OR b)"]);
        assert_eq!(or_branches("((a) AND (b))"), vec!["(a) AND (b)"]);
        assert_eq!(or_branches("(x = 'a or b')"), vec!["x = 'a or b'"]);
    }

    #[test]
    fn other_settings_are_listed() {
        assert_eq!(
            other_settings(
                "current_setting('app.bypass_rls'::text, true) = 'on' OR current_setting('app.current_org_id')",
                S
            ),
            vec!["app.bypass_rls"]
        );
    }
}
