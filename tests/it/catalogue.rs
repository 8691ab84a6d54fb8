//! Every rule `rowfence rules` lists is the name of a cause in some fixture:
//! a lint fixture that fires it, or a suite whose expectations name it on its
//! own (`findings`, or a one-rule `rules`). The fixture tests themselves
//! check that the name really comes out; this test checks none is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rowfence::rules::RuleId;

use crate::common::{Expect, root};

/// Rules no suite can show on this machine, each with the test that names
/// them instead: (rule prefix, file, test function).
const ELSEWHERE: &[(&str, &str, &str)] = &[
    // Test clusters run current minor releases: the version gate is tested on version numbers.
    ("cve_", "src/lint/version.rs", "fn fixed_minors_and_older_majors"),
    // Fires only without `[tenant] root`, which every fixture suite sets.
    ("tenant_root_unknown", "tests/it/lint.rs", "async fn tenant_root_unknown"),
];

fn expectations(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            expectations(&path, out);
        } else if path.file_name().is_some_and(|n| n == "expect.toml") {
            out.push(path);
        }
    }
}

#[test]
fn every_rule_is_the_name_of_a_cause_in_some_fixture() {
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("fixtures/lint")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".fires.sql") {
            let rule = name.split('.').next().unwrap().to_string();
            named.entry(rule).or_insert(name);
        }
    }
    let mut files = Vec::new();
    expectations(&root().join("fixtures"), &mut files);
    expectations(&root().join("tests"), &mut files);
    for file in &files {
        let expect = Expect::load(file);
        let alone = if expect.rules.len() == 1 { expect.rules.clone() } else { Vec::new() };
        for rule in expect.findings.iter().chain(&alone) {
            named.entry(rule.clone()).or_insert_with(|| file.display().to_string());
        }
    }
    let mut missing = Vec::new();
    for rule in RuleId::ALL.iter().map(|r| r.as_str()) {
        if named.contains_key(rule) {
            continue;
        }
        match ELSEWHERE.iter().find(|(prefix, _, _)| rule.starts_with(prefix)) {
            Some((_, file, test)) => {
                let text = std::fs::read_to_string(root().join(file)).unwrap();
                assert!(text.contains(test), "{rule}: {file} has no `{test}`");
            }
            None => missing.push(rule),
        }
    }
    assert!(missing.is_empty(), "rules no fixture names as a cause: {missing:?}");
}
