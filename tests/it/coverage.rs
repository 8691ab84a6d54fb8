//! Coverage, said honestly (`fixtures/coverage/`): a fail-closed policy, a
//! policy that errors on every probe, and constraint shapes the generator
//! must satisfy. Untested relations make the run "could not judge", never
//! isolated; each leaking or untested fixture has a control that stays quiet.

use std::path::PathBuf;

use rowfence::provision::ProviderKind;
use rowfence::report::CellState;
use rstest::rstest;

use crate::common::{check_against, root};

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_fixture(#[files("fixtures/coverage/*/suite.toml")] suite: PathBuf) {
    check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
}

/// Untested cells carry their reason in the matrix, and the summary counts datasets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untested_cells_say_why_and_the_datasets_are_counted() {
    let suite = root().join("fixtures/coverage/fail-closed/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    let row = report.isolation.iter().find(|r| r.relation == "public.projects").expect("projects in the matrix");
    let select = row.cells.iter().find(|c| c.operation.as_str() == "select").expect("select cell");
    assert_eq!(select.states[0], CellState::Untested, "{:?}", select);
    assert!(select.untested.iter().any(|u| u.reason.contains("never saw their own rows")), "{:?}", select.untested);
    assert!(!report.isolation.iter().flat_map(|r| &r.cells).flat_map(|c| &c.states).any(|s| *s == CellState::Pass));
    assert_eq!(report.stats.loaded, report.stats.cases, "every dataset of this schema loads");
    assert!(report.error.as_deref().is_some_and(|e| e.contains("public.projects")), "{:?}", report.error);
}

/// The twin's leak is seen by the probes, so its data loaded despite the constraints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_constraint_twin_leaks_dynamically() {
    let suite = root().join("fixtures/coverage/real-constraints-leak/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == rowfence::report::FindingKind::Dynamic
                && f.relation.as_deref() == Some("public.memberships")),
        "no probe reached public.memberships"
    );
    assert_eq!(report.stats.loaded, report.stats.cases);
}

/// Plain, expression and partial unique indexes are all named as oracles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_indexes_of_every_kind_are_oracles() {
    let suite = root().join("fixtures/coverage/unique-index-oracle/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    let oracles: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "unique_constraint_oracle")
        .map(|f| f.message.as_str())
        .collect();
    for needle in ["UNIQUE (number)", "contacts_email_idx", "contacts_one_primary"] {
        assert!(oracles.iter().any(|m| m.contains(needle)), "{needle} not named: {oracles:#?}");
    }
}

/// A schema using every constraint kind the generator must satisfy: every
/// dataset loads, and every probed table holds rows in at least 90 % of them
/// (the report's `stats.populated` says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_constraint_kind_loads_and_every_table_gets_rows() {
    let suite = root().join("fixtures/coverage/all-constraints/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    assert_eq!(report.stats.loaded, report.stats.cases, "every dataset loads");
    assert!(report.stats.populated.len() >= 20, "{:?}", report.stats.populated);
    for (relation, n) in &report.stats.populated {
        assert!(n * 10 >= report.stats.loaded * 9, "{relation} held rows in {n} of {} datasets", report.stats.loaded);
    }
}

/// Its twin's open read policies are each seen by a probe: the constrained
/// tables really held rows of two tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_constrained_tables_leak_dynamically_in_the_twin() {
    let suite = root().join("fixtures/coverage/all-constraints-leak/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    for relation in
        ["payment_methods", "bookings", "api_keys", "time_entries", "comments", "invoice_lines", "audit_events"]
    {
        let relation = format!("public.{relation}");
        assert!(
            report.findings.iter().any(|f| f.kind == rowfence::report::FindingKind::Dynamic
                && f.relation.as_deref() == Some(relation.as_str())),
            "no probe saw the leak on {relation}"
        );
    }
}

/// Shared rows (NULL tenant) are generated where the tenant column allows
/// them, and a policy that lets tenants write them is named for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_rows_are_written_only_where_the_policy_lets_tenants() {
    let suite = root().join("fixtures/coverage/shared-rows/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    let probes: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "shared_rows_writable" && f.kind == rowfence::report::FindingKind::Dynamic)
        .flat_map(|f| f.probes.iter().map(|p| p.probe.as_str()))
        .collect();
    for probe in ["shared-update", "shared-delete", "insert-shared"] {
        assert!(probes.contains(&probe), "{probe} not among {probes:?}");
    }
}

/// With memberships and an anonymous role the matrix names its contexts for
/// the model, and the member of two tenants is probed (and passes) on notes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberships_name_their_contexts_and_probe_the_member_of_two() {
    let suite = root().join("fixtures/coverage/membership/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    let names: Vec<&str> = report.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["member", "anon-fresh", "anon", "non-member", "member-of-two"]);
    let row = report.isolation.iter().find(|r| r.relation == "public.notes").expect("notes in the matrix");
    let select = row.cells.iter().find(|c| c.operation.as_str() == "select").expect("select cell");
    assert_eq!(select.states.len(), 5, "{select:?}");
    assert_eq!(select.states[4], CellState::Pass, "the member of two tenants read notes: {select:?}");
    let junit = rowfence::report::junit::render(&report).unwrap();
    assert!(junit.contains("public.notes / select / member-of-two"), "{junit}");
}

/// The membership twin: the join is proven by the probe, not only by the catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_joins_another_tenant_is_caught_by_the_join_probe() {
    let suite = root().join("fixtures/coverage/membership-self-join/suite.toml");
    let report = check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
    let dynamic = report.findings.iter().find(|f| {
        f.rule.as_str() == "policy_lookup_table_unprotected" && f.probes.iter().any(|p| p.probe == "join-tenant")
    });
    assert!(dynamic.is_some(), "{:#?}", report.findings);
}
