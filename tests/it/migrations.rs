//! `--per-migration`: the report names the migration that broke isolation.

use rowfence::finding::{Agreement, Introduced};
use rowfence::provision::ProviderKind;
use rowfence::{Suite, Verdict};

use crate::common::{options, root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_migration_names_the_breaking_file() {
    let suite = Suite::load(root().join("suites/migrations-broken-third.toml")).unwrap();
    // The .down.sql of the first migration is not applied.
    assert_eq!(suite.schema_files.len(), 4);
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(16);
    opts.per_migration = true;
    let report = rowfence::check(&suite, &opts).await.unwrap();
    let projects: Vec<_> = report.failing().filter(|f| f.relation.as_deref() == Some("public.projects")).collect();
    assert!(!projects.is_empty());
    for f in &projects {
        assert_eq!(f.introduced_by.as_deref(), Some("0003_public_projects.up.sql"), "{} {}", f.rule, f.message);
    }
    // The unsafe foreign key arrived with the fourth migration.
    let fk = report
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "fk_cross_tenant_reference" && f.location.is_some())
        .unwrap();
    assert_eq!(fk.introduced_by.as_deref(), Some("0004_tasks.up.sql"));
}

/// Probe statements of `--per-migration` (the steps before the last and the
/// full run after it) over those of a single run of the same folder.
fn cost_ratio(per_migration: &rowfence::Report, single: &rowfence::Report) -> f64 {
    (per_migration.stats.probes + per_migration.stats.step_probes) as f64 / single.stats.probes as f64
}

/// The sixth of ten migrations leaks notes through a definer helper the
/// catalog takes for a tenant filter: only probes see it, and the probes run
/// after the sixth step are the first to fail. Probing after every step
/// costs at most half a run more in probe statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_migration_probes_name_the_step_a_leak_only_probes_see() {
    let suite = Suite::load(root().join("suites/migrations-leak-sixth.toml")).unwrap();
    assert_eq!(suite.schema_files.len(), 10);
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(16);
    let single = rowfence::check(&suite, &opts).await.unwrap();
    opts.per_migration = true;
    let report = rowfence::check(&suite, &opts).await.unwrap();
    let leaks: Vec<_> = report
        .failing()
        .filter(|f| f.relation.as_deref() == Some("public.notes") && f.agreement == Some(Agreement::DynamicOnly))
        .collect();
    assert!(leaks.iter().any(|f| f.rule.as_str() == "cross_tenant_read"), "{:#?}", report.findings);
    for f in &leaks {
        // Inferred from the file that created notes, this would be 0001_init.sql.
        assert_eq!(f.introduced_by.as_deref(), Some("0006_org_aliases.sql"), "{} {}", f.rule, f.message);
        assert_eq!(f.introduced_how, Some(Introduced::Probed), "{} {}", f.rule, f.message);
    }
    assert_eq!(report.verdict, single.verdict);
    assert!(report.stats.step_probes > 0);
    let ratio = cost_ratio(&report, &single);
    assert!(ratio <= 1.5, "probing after every step cost {ratio:.2}x a single run's probe statements");
}

/// The same ten steps with a correct helper: nothing leaks after any step,
/// and the steps are probed all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_migration_control_is_isolated_after_every_step() {
    let suite = Suite::load(root().join("suites/migrations-leak-sixth-control.toml")).unwrap();
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(16);
    let single = rowfence::check(&suite, &opts).await.unwrap();
    opts.per_migration = true;
    let report = rowfence::check(&suite, &opts).await.unwrap();
    assert_eq!(report.verdict, Verdict::Isolated, "{:#?}", report.findings);
    assert_eq!(report.failing().count(), 0);
    assert!(report.stats.step_probes > 0);
    let ratio = cost_ratio(&report, &single);
    assert!(ratio <= 1.5, "probing after every step cost {ratio:.2}x a single run's probe statements");
}
