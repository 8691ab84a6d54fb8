//! Functions that read the tenant setting. Their bodies are source text
//! (SQL or PL/pgSQL, not stored as trees), so this one judgement stays textual.

use std::collections::BTreeSet;

use crate::catalog::Catalog;

/// Functions that read the setting, directly or through other functions
/// that do (helpers calling helpers).
pub fn setting_readers(catalog: &Catalog, setting: &str) -> BTreeSet<u32> {
    let needle = format!("current_setting('{}'", setting.to_lowercase());
    let mut readers: BTreeSet<u32> =
        catalog.functions.iter().filter(|f| f.source.to_lowercase().contains(&needle)).map(|f| f.oid).collect();
    loop {
        let before = readers.len();
        for f in &catalog.functions {
            let src = f.source.to_lowercase();
            if !readers.contains(&f.oid)
                && catalog
                    .functions
                    .iter()
                    .filter(|g| readers.contains(&g.oid))
                    .any(|g| word_in(&src, &g.name.to_lowercase()))
            {
                readers.insert(f.oid);
            }
        }
        if readers.len() == before {
            return readers;
        }
    }
}

/// Whether SQL source text (a view definition, a function body) reads the
/// setting directly or calls one of `readers` by name.
pub fn source_reads_setting(catalog: &Catalog, text: &str, setting: &str, readers: &BTreeSet<u32>) -> bool {
    let t = text.to_lowercase();
    t.contains(&format!("current_setting('{}'", setting.to_lowercase()))
        || readers.iter().filter_map(|f| catalog.function(*f)).any(|f| word_in(&t, &f.name.to_lowercase()))
}

/// Whether `text` (lowercased) contains `word` as a whole identifier.
pub fn word_in(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        text[..i].chars().next_back().is_none_or(|c| !ident(c))
            && text[i + word.len()..].chars().next().is_none_or(|c| !ident(c))
    })
}

#[cfg(test)]
mod tests {
    use super::word_in;

    #[test]
    fn words_are_whole_identifiers() {
        assert!(word_in("select app.tenant_id()", "tenant_id"));
        assert!(!word_in("select app.tenant_id_of(x)", "tenant_id"));
    }
}
