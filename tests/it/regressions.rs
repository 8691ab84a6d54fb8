//! One schema per bug found (`tests/regressions/`): each must keep the
//! verdict and rules it had once fixed.

use std::path::PathBuf;

use rowfence::provision::ProviderKind;
use rstest::rstest;

use crate::common::check_against;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression(#[files("tests/regressions/*/suite.toml")] suite: PathBuf) {
    check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
}

/// A probe's follow-up count may fail (here: INSERT without SELECT on a table
/// with a trigger); the probe's own success must still be judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_follow_up_count_does_not_hide_a_foreign_insert() {
    let suite = crate::common::root().join("tests/regressions/insert-only-with-trigger/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    assert!(
        report.findings.iter().any(|f| f.kind == rowfence::report::FindingKind::Dynamic
            && f.probes.iter().any(|p| p.probe == "insert-foreign")
            && f.relation.as_deref() == Some("public.audit_log")),
        "the foreign insert into public.audit_log was not seen by the probes"
    );
}
