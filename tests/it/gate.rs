//! The `cargo test` gate: a broken schema fails with readable test names, a
//! fixed one passes, `assert_isolated` panics with the findings, and under a
//! process-per-test runner the check runs once.

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
    let organisations = conclusion(&report, Some("public.organisations::select"));
    assert_eq!(organisations.num_failed, 1, "{organisations:?}");
    let verdict = conclusion(&report, Some(rowfence::harness::VERDICT_TEST));
    assert_eq!(verdict.num_failed, 1, "{verdict:?}");
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

/// What cargo-nextest does: list the tests in one process (no probe may run),
/// then run each test in a process of its own, several at once. The check
/// runs once, every process reads the same report, and the listed names are
/// the names the report's tests carry.
#[test]
fn processes_of_one_build_share_one_check_and_list_runs_no_probe() {
    let cache = tempfile::tempdir().unwrap();
    let gate = rowfence::harness::Gate::new(root().join("suites/dexcyjet.toml")).cache_in(cache.path());
    let entries = |suffix: &str| {
        std::fs::read_dir(cache.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
            .count()
    };
    let listed = gate.names();
    assert_eq!(entries(".plan.json"), 1);
    assert_eq!(entries(".check.json"), 0, "--list ran the probes");
    assert!(listed.contains(&"public.organisations::select".to_string()), "{listed:?}");

    let reports: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(|| serde_json::to_string(&gate.report()).unwrap())).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    // Timings differ between two runs: equal reports mean one run.
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "the check ran more than once");
    assert_eq!(entries(".check.json"), 1);
    let report = gate.report();
    let run: Vec<String> = rowfence::harness::trials(&report).iter().map(|t| t.name().to_string()).collect();
    assert_eq!(listed, run, "the listed tests are not the tests the run reports");
    assert_eq!(gate.names(), listed, "a list after the check names other tests");

    // One test in a process of its own, as nextest runs it.
    let args = libtest_mimic::Arguments {
        filter: Some("public.organisations::select".into()),
        exact: true,
        quiet: true,
        logfile: Some(cache.path().join("log").display().to_string()),
        ..Default::default()
    };
    let one = gate.run(&args);
    assert_eq!((one.num_failed, one.num_passed), (1, 0), "{one:?}");
}
