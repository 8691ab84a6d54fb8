//! `--per-migration`: the report names the migration that broke isolation.

use rowfence::Suite;
use rowfence::provision::ProviderKind;

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
