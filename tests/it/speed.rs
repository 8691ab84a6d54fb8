//! Measuring a run: the stage split, the SQL log, and `rowfence bench`.
//! Timings are never compared with thresholds here (the machine is shared);
//! the tests check that the measurements exist and add up.

use std::process::Command;

use rowfence::provision::ProviderKind;
use rowfence::{Suite, Verdict};

use crate::common::{docker_available, options, root};

/// The stages cover the run: each is measured, and together they fit in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_split_the_wall_time_by_stage() {
    let suite = Suite::load(root().join("suites/dexcyjet-fixed.toml")).unwrap();
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(4);
    opts.provision.track_statements = true;
    let report = rowfence::check(&suite, &opts).await.unwrap();
    assert_eq!(report.verdict, Verdict::Isolated);
    let p = report.stats.phases;
    for (stage, ms) in [
        ("provision", p.provision_ms),
        ("schema", p.schema_ms),
        ("catalog", p.catalog_ms),
        ("generate", p.generate_ms),
        ("probe", p.probe_ms),
    ] {
        assert!(ms > 0.0, "{stage} was not measured: {p:?}");
    }
    let sum = p.provision_ms + p.schema_ms + p.catalog_ms + p.generate_ms + p.probe_ms + p.report_ms;
    assert!(sum <= report.stats.duration_ms as f64 + 1.0, "stages {sum} ms exceed the run {:?}", report.stats);
    let exec = report.stats.server_exec_ms.expect("pg_stat_statements measured the probe stage");
    assert!(exec > 0.0 && exec < p.probe_ms, "server plan+exec {exec} ms within the probe stage {} ms", p.probe_ms);
    let busy = report.stats.server_busy_ms.expect("local backends' CPU time is read");
    assert!(busy > 0.0, "the backends did work in the probe stage");
    let ratio = report.stats.overhead_ratio().expect("a ratio");
    assert!(ratio >= 1.0, "the stage cannot be shorter than the server's work in it: {ratio}");

    // Not measured unless asked for: no extension is created in the schema under test.
    let report = rowfence::check(&suite, &options(ProviderKind::Local)).await.unwrap();
    assert_eq!(report.stats.server_exec_ms, None);
    assert!(report.stats.phases.probe_ms > 0.0);
}

/// `--log-sql`: every connection's statements in order, passwords redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_log_holds_every_connection_and_no_password() {
    // Docker logins need a password for the app role; local ones do not.
    let kind = if docker_available().await { ProviderKind::Docker } else { ProviderKind::Local };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.sql");
    let suite = Suite::load(root().join("suites/dexcyjet.toml")).unwrap();
    let mut opts = options(kind);
    opts.cases = Some(2);
    opts.log_sql = Some(path.clone());
    let report = rowfence::check(&suite, &opts).await.unwrap();
    assert_eq!(report.verdict, Verdict::Violated);
    let log = std::fs::read_to_string(&path).unwrap();
    for needle in [
        "-- [admin]",
        "-- [app/main]",
        "-- [app/fresh]",
        "-- [app/generic]",
        "-- [app/lifecycle]",
        "CREATE TABLE organisations",
        "SELECT set_config('app.current_org_id'",
        "ROLLBACK TO SAVEPOINT rowfence_probe",
        "/* prepared */ SELECT",
        "-- $1 = ",
        "COPY (SELECT",
    ] {
        assert!(log.contains(needle), "the SQL log lacks {needle:?}");
    }
    // The schema is applied before the app role probes anything.
    let create = log.find("CREATE TABLE organisations").unwrap();
    let first_probe = log.find("-- [app/main]").unwrap();
    assert!(create < first_probe, "statements are logged in the order they were sent");
    let statements = log.lines().filter(|l| l.trim_end().ends_with(';')).count() as u64;
    assert!(statements >= report.stats.probes, "{statements} logged statements for {} probes", report.stats.probes);
    // rowfence's own throwaway password (the schema file's CREATE ROLE lines are the user's own text).
    for line in log.lines().filter(|l| l.starts_with("ALTER ROLE") && l.contains("PASSWORD")) {
        assert!(line.contains("PASSWORD '<redacted>'"), "a password reached the log: {line}");
    }
    if kind == ProviderKind::Docker {
        assert!(log.contains("PASSWORD '<redacted>'"), "docker logins set a password, shown redacted");
    }
}

/// `rowfence bench` prints the Markdown table the README's figures come from.
#[test]
fn bench_prints_one_row_per_schema_size() {
    let keep = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rowfence"))
        .args(["bench", "--tables", "3,6", "--cases", "2", "--provider", "local", "--keep"])
        .arg(keep.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "header, separator and two rows:\n{stdout}");
    assert!(lines[0].contains("overhead ratio") && lines[0].contains("probes/s"), "{}", lines[0]);
    for (row, tables) in lines[2..].iter().zip(["3", "6"]) {
        let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(cells.len(), 17, "{row}");
        assert_eq!(cells[0], tables);
        assert_eq!(cells[2], "2", "cases: {row}");
        let ratio: f64 = cells[13].parse().unwrap_or_else(|_| panic!("overhead ratio in {row}"));
        assert!(ratio >= 1.0, "{row}");
    }
    // The generated suites stay for inspection and are valid suites.
    assert!(Suite::load(keep.path().join("tables-6/suite.toml")).is_ok());
}
