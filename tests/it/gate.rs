//! The `cargo test` gate: a broken schema fails with readable test names, a
//! fixed one passes, `assert_isolated` panics with the findings, and under a
//! process-per-test runner the check runs once.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rowfence::provision::ProviderKind;
use rowfence::{Report, Suite};

use crate::common::{docker_available, options, root, run_containers};

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

/// `rowfence gate SUITE ARGS...`: the gate as a test binary runs it, with its
/// result cache, clusters and temp files in `dir`.
fn gate(dir: &Path, provider: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowfence"));
    cmd.arg("gate")
        .arg("suites/dexcyjet-fixed.toml")
        .args(args)
        .current_dir(root())
        .env("ROWFENCE_PROVIDER", provider)
        .env("ROWFENCE_GATE_CACHE", dir.join("cache"))
        .env("ROWFENCE_CLUSTER_DIR", dir.join("tmp"))
        .env("TMPDIR", dir.join("tmp"))
        .env_remove("ROWFENCE_GATE_REUSE");
    cmd
}

/// Live processes started as keepers by a gate whose cache is in `dir`.
fn keepers(dir: &Path) -> Vec<u32> {
    let cache = format!("ROWFENCE_GATE_CACHE={}", dir.join("cache").display());
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        // Its servers' processes inherit its environment.
        let exe = std::fs::read_link(entry.path().join("exe"));
        if !exe.is_ok_and(|e| e == Path::new(env!("CARGO_BIN_EXE_rowfence"))) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        if vars.iter().any(|v| v.starts_with(b"__ROWFENCE_GATE_KEEPER=")) && vars.contains(&cache.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// What is left in the gate's temp dir (clusters, the keeper's socket dir).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stored_check(dir: &Path) -> Option<serde_json::Value> {
    let entry = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".check.json"))?;
    Some(serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap())
}

/// Under nextest the listing and the check are different processes: the
/// listing's server, schema applied, is lent to the check, and the run leaves
/// no server, container or temp dir once the check's process has ended.
async fn listing_lends_its_server_to_the_check(provider: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let list = gate(dir.path(), provider, &["--list", "--format", "terse"]).output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(String::from_utf8_lossy(&list.stdout).contains("public.organisations::select: test"));
    let kept = keepers(dir.path());
    assert_eq!(kept.len(), 1, "the listing should leave one keeper while its runner (this test) runs");
    if provider == "docker" {
        assert_eq!(run_containers(kept[0]).await, 1, "the keeper should hold the listing's container");
    } else {
        assert_eq!(leftovers(dir.path()).iter().filter(|n| n.starts_with("rowfence-pg-")).count(), 1);
    }

    let run = gate(dir.path(), provider, &["--exact", rowfence::harness::VERDICT_TEST]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report = stored_check(dir.path()).expect("the check's report is stored");
    assert_eq!(report["stats"]["server_from_listing"], true, "the check did not use the listing's server");
    assert_eq!(report["verdict"], "isolated");
    // The check's process waits for the teardown: nothing is left when it ends.
    if provider == "docker" {
        assert_eq!(run_containers(kept[0]).await, 0, "container left behind after the check");
    }
    assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "left behind after the check");
    wait_until("the keeper exits", || keepers(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_lends_its_local_server_to_the_check() {
    listing_lends_its_server_to_the_check("local").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_lends_its_container_to_the_check() {
    if !docker_available().await {
        return;
    }
    listing_lends_its_server_to_the_check("docker").await;
}

/// `cargo nextest list` (or `cargo test -- --list`) alone: the kept server
/// ends with the runner that listed, and a later check starts its own.
#[test]
fn a_kept_server_ends_with_the_runner_that_listed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    // The shell is the runner: `; true` keeps it from exec'ing the listing.
    let runner = gate(dir.path(), "local", &["--list"]);
    let program = runner.get_program().to_owned();
    let args: Vec<_> = runner.get_args().map(|a| a.to_owned()).collect();
    let listed = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$@\" >/dev/null; true")
        .arg(program)
        .args(args)
        .current_dir(root())
        .envs(runner.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))))
        .status()
        .unwrap();
    assert!(listed.success());
    wait_until("the keeper ends with its runner", || keepers(dir.path()).is_empty());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "left behind after the runner ended");

    let run = gate(dir.path(), "local", &["--exact", rowfence::harness::VERDICT_TEST]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report = stored_check(dir.path()).unwrap();
    assert!(report["stats"].get("server_from_listing").is_none(), "a gone keeper cannot lend its server");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}
