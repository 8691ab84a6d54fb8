//! Every static rule has a fixture that fires it and a negative control that
//! stays quiet (`fixtures/lint/RULE.fires.sql`, `RULE.quiet.sql`, each applied
//! on top of `fixtures/lint/base.sql`), checked with `rowfence lint` on real
//! PostgreSQL.

use std::path::{Path, PathBuf};

use rowfence::provision::ProviderKind;
use rowfence::{Report, Suite};
use rstest::rstest;

use crate::common::{options, root};

pub(crate) async fn lint_with(delta: &Path) -> Report {
    lint_files(&[delta]).await.unwrap_or_else(|e| panic!("{}: {e}", delta.display()))
}

/// `rowfence lint` of `base.sql` followed by `files`, in order, each applied
/// by the superuser like a migration; an error applying one is returned.
pub(crate) async fn lint_files(files: &[&Path]) -> Result<Report, rowfence::Error> {
    let dir = tempfile::tempdir().unwrap();
    let base = root().join("fixtures/lint/base.sql");
    let schema: Vec<String> = std::iter::once(base.as_path())
        .chain(files.iter().copied())
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    let suite = format!(
        "name = \"{}\"\nschema = [{}]\n[app]\nrole = \"lint_app\"\nanon_role = \"lint_anon\"\n[tenant]\ncolumn = \"org_id\"\nsetting = \"app.current_org_id\"\nroot = \"organisations\"\n",
        files.first().map_or("base".into(), |f| f.file_name().unwrap().to_string_lossy()),
        schema.join(", "),
    );
    let path = dir.path().join("suite.toml");
    std::fs::write(&path, suite).unwrap();
    let suite = Suite::load(&path).unwrap();
    rowfence::lint(&suite, &options(ProviderKind::Local)).await
}

pub(crate) fn rule_of(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy();
    name.split('.').next().unwrap().to_string()
}

pub(crate) fn summary(report: &Report) -> String {
    report
        .findings
        .iter()
        .map(|f| format!("{} {} {}", f.severity.as_str(), f.rule, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires(#[files("fixtures/lint/*.fires.sql")] delta: PathBuf) {
    let rule = rule_of(&delta);
    let report = lint_with(&delta).await;
    let hit = report.findings.iter().find(|f| f.rule.as_str() == rule);
    assert!(hit.is_some(), "{rule} did not fire on {}:\n{}", delta.display(), summary(&report));
    let hit = hit.unwrap();
    assert!(!hit.remediation.contains('{'), "{rule}: unfilled remediation {}", hit.remediation);
    // A fix names the policy, function, role, owner or sequence it acts on:
    // no placeholder such as `<migration role>` (an SQL `<>` is no placeholder).
    let placeholder = regex::Regex::new(r"<[A-Za-z][A-Za-z _-]*>").unwrap();
    for f in report.findings.iter().filter(|f| f.rule.as_str() == rule) {
        assert!(!placeholder.is_match(&f.remediation), "{rule}: remediation with a placeholder {}", f.remediation);
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stays_quiet(#[files("fixtures/lint/*.quiet.sql")] delta: PathBuf) {
    let rule = rule_of(&delta);
    let report = lint_with(&delta).await;
    assert!(
        report.findings.iter().all(|f| f.rule.as_str() != rule),
        "{rule} fired on its negative control {}:\n{}",
        delta.display(),
        summary(&report)
    );
}

/// The clean base schema produces no finding of severity medium or above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_is_clean() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let report = lint_with(empty.path()).await;
    assert!(
        report.findings.iter().all(|f| f.severity < rowfence::rules::Severity::Medium),
        "base.sql is not clean:\n{}",
        summary(&report)
    );
}

/// Static findings point at the schema file and line that created the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_point_at_the_create_statement() {
    let delta = root().join("fixtures/lint/rls_not_enabled.fires.sql");
    let report = lint_with(&delta).await;
    let f = report.findings.iter().find(|f| f.rule.as_str() == "rls_not_enabled").expect("fires");
    let loc = f.location.as_ref().expect("a location");
    assert!(loc.file.ends_with("rls_not_enabled.fires.sql"), "{loc:?}");
    let text = std::fs::read_to_string(&delta).unwrap();
    assert!(text.lines().nth(loc.line - 1).unwrap().starts_with("CREATE TABLE comments"), "{loc:?}");
}

/// Without a foreign key on the tenant column and without `tenant.root`, the
/// tenants table cannot be recognised: say so. With the foreign key, stay quiet.
#[rstest]
#[case("CREATE TABLE orgs (id uuid PRIMARY KEY);\nCREATE TABLE t (id uuid PRIMARY KEY, org_id uuid NOT NULL);\n", true)]
#[case(
    "CREATE TABLE orgs (id uuid PRIMARY KEY);\nCREATE TABLE t (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id));\n",
    false
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_root_unknown(#[case] schema: &str, #[case] fires: bool) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.sql"), schema).unwrap();
    let path = dir.path().join("suite.toml");
    std::fs::write(&path, "schema = [\"s.sql\"]\n[app]\nrole = \"r_app\"\ncreate = true\n[tenant]\ncolumn = \"org_id\"\nsetting = \"app.org\"\n").unwrap();
    let suite = Suite::load(&path).unwrap();
    let report = rowfence::lint(&suite, &options(ProviderKind::Local)).await.unwrap();
    assert_eq!(report.findings.iter().any(|f| f.rule.as_str() == "tenant_root_unknown"), fires, "{}", summary(&report));
}

/// `force_missing` matters only where the app can become the owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_missing_is_medium_only_where_the_app_can_become_the_owner() {
    let severity = |r: &Report| r.findings.iter().find(|f| f.rule.as_str() == "force_missing").map(|f| f.severity);
    let unreachable = lint_with(&root().join("fixtures/lint/force_missing.fires.sql")).await;
    assert_eq!(severity(&unreachable), Some(rowfence::rules::Severity::Info), "{}", summary(&unreachable));
    let settable = lint_with(&root().join("fixtures/lint/force_missing.settable.fires.sql")).await;
    assert_eq!(severity(&settable), Some(rowfence::rules::Severity::Medium), "{}", summary(&settable));
}

/// A policy of its own that honours a settable flag is named for the flag, not as a widening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_policy_of_its_own_is_a_bypass_flag_not_a_widening() {
    let report = lint_with(&root().join("fixtures/lint/guc_bypass_flag.policy.fires.sql")).await;
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    assert!(rules.contains(&"guc_bypass_flag") && !rules.contains(&"permissive_or_widening"), "{}", summary(&report));
}
