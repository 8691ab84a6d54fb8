//! The `cargo test` gate: a broken schema fails with readable test names, a
//! fixed one passes, and `assert_isolated` panics with the findings.

use rowfence::provision::ProviderKind;
use rowfence::{Report, Suite};

use crate::common::{options, root};

async fn check(name: &str) -> Report {
    let suite = Suite::load(root().join("suites").join(name)).unwrap();
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(8);
    rowfence::check(&suite, &opts).await.unwrap()
}

fn conclusion(report: &Report, filter: Option<&str>) -> libtest_mimic::Conclusion {
    // The inner run's own summary goes to a file: its "test result: FAILED"
    // lines are expected here and must not read as this suite's result.
    let log = tempfile::NamedTempFile::new().unwrap();
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        quiet: true,
        filter: filter.map(String::from),
        logfile: Some(log.path().display().to_string()),
        ..Default::default()
    };
    libtest_mimic::run(&args, rowfence::harness::trials(report))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_schema_fails_the_gate_by_relation_operation_and_context() {
    let report = check("dexcyjet.toml").await;
    let all = conclusion(&report, None);
    assert!(all.num_failed > 0 && all.num_passed > 0, "{all:?}");
    // Filters work like `cargo test -- subscribers`: the subscribers tests pass.
    let subscribers = conclusion(&report, Some("public.subscribers::"));
    assert_eq!(subscribers.num_failed, 0, "{subscribers:?}");
    assert!(subscribers.num_passed > 0);
    let organisations = conclusion(&report, Some("public.organisations::select::tenant"));
    assert_eq!(organisations.num_failed, 1, "{organisations:?}");
    let panic = std::panic::catch_unwind(|| report.assert_isolated()).unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(text.contains("public.organisations") && text.contains("reproduction") && text.contains("fix"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_schema_passes_the_gate() {
    let report = check("dexcyjet-fixed.toml").await;
    let all = conclusion(&report, None);
    assert_eq!(all.num_failed, 0, "{all:?}");
    assert!(all.num_passed > 10);
    report.assert_isolated();
}
