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

/// A delete that fails a foreign key reached the row it names: deleting
/// another tenant's row by its key is a violation even when a reference
/// stops it, and the same error on the tenant's own rows is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_delete_stopped_by_a_foreign_key_still_reached_the_row() {
    use rowfence::report::CellState;
    let delete_cell = |report: &rowfence::Report| {
        let row = report.isolation.iter().find(|r| r.relation == "public.projects").expect("projects in the matrix");
        row.cells.iter().find(|c| c.operation == rowfence::vocab::Operation::Delete).unwrap().states.clone()
    };
    let stopped = |report: &rowfence::Report| {
        report
            .findings
            .iter()
            .flat_map(|f| &f.probes)
            .any(|p| p.probe == "keyed-delete" && p.observed.contains("only a foreign key stopped it"))
    };
    let root = crate::common::root().join("tests/regressions");
    let suite = root.join("keyed-delete-blocked-by-foreign-key/suite.toml");
    let leak = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    assert!(delete_cell(&leak).iter().all(|s| *s == CellState::Violation), "{:?}", delete_cell(&leak));
    assert!(stopped(&leak), "no keyed-delete finding says a foreign key stopped it");

    let suite = root.join("keyed-delete-blocked-by-foreign-key-control/suite.toml");
    let control = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    assert!(delete_cell(&control).iter().all(|s| *s == CellState::Pass), "{:?}", delete_cell(&control));
    assert!(!stopped(&control));
}
