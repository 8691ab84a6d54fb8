//! Remediation round trip: the remediation of every lint fixture's finding,
//! applied to a copy of its schema as a later migration, removes the finding.
//!
//! A remediation is SQL unless its rule is listed in [`PROSE`] (see
//! `rowfence::remediation`): it runs as it stands, `--` comments and all.
//! For each `fixtures/lint/R.fires.sql` the test lints `base.sql` + the
//! fixture, writes the remediations of R's findings to a third schema file,
//! lints `base.sql` + the fixture + that file, and asserts that the file
//! applied without error and that no finding of R is left on the relation
//! (or, for findings on no relation, at all).

use std::path::{Path, PathBuf};

use rowfence::Report;
use rstest::rstest;

use crate::common::root;
use crate::lint::{lint_files, lint_with, rule_of, summary};

/// Rules whose remediation is prose, and why no statement can fix them.
/// Every other rule's remediation must be SQL that removes its finding.
pub const PROSE: &[(&str, &str)] = &[
    (
        "policy_unclassified",
        "rowfence cannot tell what the policy means; only its author can say whether it pins the tenant",
    ),
    (
        "user_editable_claim",
        "the tenant must move to a claim only the server writes (app_metadata, an auth hook): the sign-up flow changes with the policy, and the schema alone cannot say where",
    ),
    ("tenant_root_unknown", "a setting of the suite ([tenant] root), not of the schema"),
    ("policy_predicate_too_broad", "no lint fixture: only the probes show it (which key matches which)"),
    ("guc_empty_string", "dynamic only: how the app sets and reads the setting is code, not schema"),
    ("on_conflict_oracle", "dynamic only: the key to change is the one the app's ON CONFLICT names"),
    ("cross_tenant_read", "dynamic only, with no cause identified: the policies need review"),
    ("cross_tenant_write", "dynamic only, with no cause identified: the policies need review"),
    ("probe_inconclusive", "says the probe could not judge, not what is wrong"),
    (
        "own_rows_invisible",
        "the context the app sets must be described to rowfence (the suite), or the app must not read the table",
    ),
    ("unpopulated_relation", "a limit of rowfence's data generation, not of the schema"),
    ("cve_2023_2455", "a server upgrade"),
    ("cve_2023_39418", "a server upgrade"),
    ("cve_2024_4317", "a server upgrade and the release's fix script"),
    ("cve_2024_10976", "a server upgrade"),
    ("cve_2025_8713", "a server upgrade"),
];

/// The listed rules exist.
#[test]
fn prose_rules_exist() {
    for (rule, why) in PROSE {
        assert!(rowfence::rules::rule(rule).is_some(), "{rule} ({why}) is no rule");
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip(#[files("fixtures/lint/*.fires.sql")] delta: PathBuf) {
    let rule = rule_of(&delta);
    if let Some((_, why)) = PROSE.iter().find(|(r, _)| *r == rule) {
        eprintln!("{rule}: prose remediation, not applied ({why})");
        return;
    }
    fixes_remove(&delta, &rule).await;
}

/// Where the app owns the table, REVOKE binds nothing: the fix hands the
/// table to another role first, and then the finding is gone too.
#[rstest]
#[case("truncate_privilege")]
#[case("trigger_privilege_exfil")]
#[case("references_privilege_oracle")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_cases_change_the_owner(#[case] rule: &str) {
    let delta = root().join("fixtures/lint/app_owns_table.forced.fires.sql");
    let before = fixes_remove(&delta, rule).await;
    for f in before.findings.iter().filter(|f| f.rule.as_str() == rule) {
        assert!(
            f.remediation.contains("OWNER TO"),
            "{rule}: the app owns the table, yet the fix does not change the owner:\n{}",
            f.remediation
        );
    }
}

/// Lints `delta`, applies the remediations of `rule`'s findings as a third
/// schema file, lints again and asserts each finding is gone. Returns the first report.
async fn fixes_remove(delta: &Path, rule: &str) -> Report {
    let before = lint_with(delta).await;
    let found: Vec<&rowfence::Finding> = before.findings.iter().filter(|f| f.rule.as_str() == rule).collect();
    assert!(!found.is_empty(), "{rule} did not fire on {}:\n{}", delta.display(), summary(&before));
    let mut fixes: Vec<&str> = Vec::new();
    for f in &found {
        if !fixes.contains(&f.remediation.as_str()) {
            fixes.push(&f.remediation);
        }
    }
    let script = fixes.join("\n");
    let dir = tempfile::tempdir().unwrap();
    let fix = dir.path().join(format!("{rule}.fix.sql"));
    std::fs::write(&fix, format!("{script}\n")).unwrap();
    let after = match lint_files(&[delta, &fix]).await {
        Ok(report) => report,
        Err(e) => {
            panic!("{rule}: the remediation does not apply on {}: {e}\n--- remediation:\n{script}", delta.display())
        }
    };
    for f in &found {
        let left = after.findings.iter().find(|g| g.rule == f.rule && g.relation == f.relation);
        assert!(
            left.is_none(),
            "{rule}: the remediation did not remove the finding on {} ({})\n--- remediation:\n{}\n--- findings after it:\n{}",
            f.relation.as_deref().unwrap_or("no relation"),
            delta.display(),
            f.remediation,
            summary(&after)
        );
    }
    before
}
