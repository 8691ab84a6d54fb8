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
fn gate(dir: &Path, suite: &str, provider: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowfence"));
    cmd.arg("gate").arg(format!("suites/{suite}")).args(args).current_dir(root());
    gate_env(&mut cmd, dir, provider);
    cmd
}

fn gate_env(cmd: &mut Command, dir: &Path, provider: &str) {
    cmd.env("ROWFENCE_PROVIDER", provider)
        .env("ROWFENCE_GATE_CACHE", dir.join("cache"))
        .env("ROWFENCE_CLUSTER_DIR", dir.join("tmp"))
        .env("TMPDIR", dir.join("tmp"))
        .env_remove("ROWFENCE_GATE_REUSE");
}

fn gate_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    dir
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

/// Lists the gate of `suite` and returns the keeper's pid, asserting that
/// the keeper holds one server.
async fn list_and_keep(dir: &Path, suite: &str, provider: &str) -> u32 {
    let list = gate(dir, suite, provider, &["--list", "--format", "terse"]).output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(String::from_utf8_lossy(&list.stdout).contains("public.organisations::select: test"));
    let kept = keepers(dir);
    assert_eq!(kept.len(), 1, "the listing should leave one keeper while its runner (this test) runs");
    if provider == "docker" {
        assert_eq!(run_containers(kept[0]).await, 1, "the keeper should hold the listing's container");
    } else {
        assert_eq!(leftovers(dir).iter().filter(|n| n.starts_with("rowfence-pg-")).count(), 1);
    }
    kept[0]
}

/// The parts of a stored check that must not depend on where its server
/// came from. (Which foreign row a finding's evidence names depends on which
/// lane saw it first, in any run.)
fn outcome(report: &serde_json::Value) -> (String, Vec<String>, String, u64) {
    let probes = report["stats"]["probes"].as_u64().unwrap();
    let findings = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let probes: Vec<String> = f["probes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{}{}", p["probe"], p["contexts"]))
                .collect();
            format!("{} {} {} {} {} {probes:?}", f["rule"], f["relation"], f["severity"], f["kind"], f["operation"])
        })
        .collect();
    (report["verdict"].to_string(), findings, report["isolation"].to_string(), probes)
}

/// Under nextest the listing and the check are different processes: the
/// listing's server, schema applied, is lent to the check, which finds what
/// a check on its own server finds; and the run leaves no server, container
/// or temp dir once the check's process has ended.
async fn listing_lends_its_server_to_the_check(provider: &str) {
    let dir = gate_dir();
    let keeper = list_and_keep(dir.path(), "dexcyjet.toml", provider).await;
    let run =
        gate(dir.path(), "dexcyjet.toml", provider, &["--exact", rowfence::harness::VERDICT_TEST]).output().unwrap();
    assert!(!run.status.success(), "the leaking schema's verdict test should fail");
    let lent = stored_check(dir.path()).expect("the check's report is stored");
    assert_eq!(lent["stats"]["server_from_listing"], true, "the check did not use the listing's server");
    // The check's process waits for the teardown: nothing is left when it ends.
    if provider == "docker" {
        assert_eq!(run_containers(keeper).await, 0, "container left behind after the check");
    }
    assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "left behind after the check");
    wait_until("the keeper exits", || keepers(dir.path()).is_empty());

    let own = gate_dir();
    let mut cmd = gate(own.path(), "dexcyjet.toml", provider, &["--exact", rowfence::harness::VERDICT_TEST]);
    assert!(!cmd.env("ROWFENCE_GATE_REUSE", "off").output().unwrap().status.success());
    let own = stored_check(own.path()).unwrap();
    assert!(own["stats"].get("server_from_listing").is_none());
    let (verdict, findings, isolation, probes) = outcome(&lent);
    assert_eq!(verdict, "\"violated\"");
    assert!(probes > 1000, "{probes} probes");
    assert_eq!((verdict, findings, isolation, probes), outcome(&own), "a lent server changed the findings");
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
    let dir = gate_dir();
    // The shell is the runner: it lists, then waits until this test closes its stdin.
    let mut runner = Command::new("sh");
    runner
        .arg("-c")
        .arg("\"$0\" gate suites/dexcyjet-fixed.toml --list >/dev/null || exit 1; read _; exit 0")
        .arg(env!("CARGO_BIN_EXE_rowfence"))
        .current_dir(root())
        .stdin(std::process::Stdio::piped());
    gate_env(&mut runner, dir.path(), "local");
    let mut runner = runner.spawn().unwrap();
    wait_until("the listing leaves a keeper", || keepers(dir.path()).len() == 1);
    drop(runner.stdin.take());
    assert!(runner.wait().unwrap().success(), "the listing failed");
    wait_until("the keeper ends with its runner", || keepers(dir.path()).is_empty());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "left behind after the runner ended");

    let run = gate(dir.path(), "dexcyjet-fixed.toml", "local", &["--exact", rowfence::harness::VERDICT_TEST])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report = stored_check(dir.path()).unwrap();
    assert!(report["stats"].get("server_from_listing").is_none(), "a gone keeper cannot lend its server");
    assert!(report["stats"]["probes"].as_u64().unwrap() > 1000);
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

/// SIGTERM (as from a CI job's timeout) ends a keeper and its server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_keeper_tears_its_server_down() {
    let dir = gate_dir();
    let keeper = list_and_keep(dir.path(), "dexcyjet-fixed.toml", "local").await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(keeper as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_until("the keeper exits", || keepers(dir.path()).is_empty());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "left behind after SIGTERM");
}
