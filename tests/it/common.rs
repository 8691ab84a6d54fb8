//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};

use rowfence::provision::{ProviderKind, ProvisionOptions};
use rowfence::{Report, RunOptions, Suite, Verdict};
use serde::Deserialize;

/// Cases per fixture run: enough to find every planted flaw, few enough to be quick.
pub const CASES: u32 = 32;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a fixture's `expect.toml` promises.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub verdict: String,
    /// At least one must appear among high/critical findings.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Each must be named by a high/critical finding.
    #[serde(default)]
    pub relations: Vec<String>,
    /// Each must appear at any severity.
    #[serde(default)]
    pub findings: Vec<String>,
    /// None may appear at all.
    #[serde(default)]
    pub absent: Vec<String>,
    #[allow(dead_code)]
    pub description: String,
}

impl Expect {
    pub fn load(path: &Path) -> Expect {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Run options for a provider.
pub fn options(kind: ProviderKind) -> RunOptions {
    RunOptions {
        provision: ProvisionOptions { kind, image: std::env::var("ROWFENCE_IMAGE").ok(), ..Default::default() },
        cases: Some(CASES),
        ..Default::default()
    }
}

/// Whether Docker tests should run; panics when CI requires Docker and none answers.
pub async fn docker_available() -> bool {
    match rowfence::provision::docker::engine_available().await {
        Ok(()) => true,
        Err(why) if std::env::var("ROWFENCE_REQUIRE_DOCKER").is_ok_and(|v| v == "1") => {
            panic!("ROWFENCE_REQUIRE_DOCKER=1 but {why}")
        }
        Err(why) => {
            eprintln!("skipping docker test: {why}");
            false
        }
    }
}

/// Checks `suite` and asserts the report matches `expect`.
pub async fn check_against(suite: &Path, expect: &Path, kind: ProviderKind) -> Report {
    let suite = Suite::load(suite).unwrap_or_else(|e| panic!("{e}"));
    let expect = Expect::load(expect);
    let report = rowfence::check(&suite, &options(kind)).await.unwrap_or_else(|e| panic!("{}: {e}", suite.name));
    assert_matches(&report, &expect);
    report
}

/// Asserts verdict, rules and relations.
pub fn assert_matches(report: &Report, expect: &Expect) {
    let summary: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} {} {} {}", f.severity.as_str(), f.rule, f.relation.as_deref().unwrap_or("-"), f.message))
        .collect();
    let want = match expect.verdict.as_str() {
        "isolated" => Verdict::Isolated,
        "violated" => Verdict::Violated,
        "error" => Verdict::Error,
        other => panic!("bad expected verdict {other}"),
    };
    assert_eq!(report.verdict, want, "suite {}: findings:\n{}", report.suite, summary.join("\n"));
    let failing: Vec<_> = report.failing().collect();
    if !expect.rules.is_empty() {
        assert!(
            failing.iter().any(|f| expect.rules.iter().any(|r| r == f.rule.as_str())),
            "suite {}: none of {:?} among high/critical findings:\n{}",
            report.suite,
            expect.rules,
            summary.join("\n")
        );
    }
    for rel in &expect.relations {
        assert!(
            failing.iter().any(|f| f.relation.as_deref() == Some(rel.as_str())),
            "suite {}: no high/critical finding names {rel}:\n{}",
            report.suite,
            summary.join("\n")
        );
    }
    for rule in &expect.findings {
        assert!(
            report.findings.iter().any(|f| f.rule.as_str() == rule),
            "suite {}: {rule} not among the findings:\n{}",
            report.suite,
            summary.join("\n")
        );
    }
    for rule in &expect.absent {
        assert!(
            report.findings.iter().all(|f| f.rule.as_str() != rule),
            "suite {}: {rule} must not be reported:\n{}",
            report.suite,
            summary.join("\n")
        );
    }
    // Every dynamic violation carries a reproduction that names its statement.
    for f in &failing {
        if let Some(ev) = &f.evidence {
            assert!(ev.reproduction.contains("-- observed"), "{}: reproduction does not say what to observe", f.rule);
            assert!(!ev.observed.is_empty());
        }
    }
}

/// The expectation file beside a repo suite (`suites/NAME.toml` -> `fixtures/NAME/expect.toml`).
pub fn fixture_expect(suite: &Path) -> PathBuf {
    let name = suite.file_stem().expect("suite file").to_string_lossy().into_owned();
    root().join("fixtures").join(name).join("expect.toml")
}

/// Containers labelled as belonging to the rowfence process `pid`.
pub async fn run_containers(pid: u32) -> usize {
    run_container_list(pid).await.len()
}

/// The tmpfs mount points of the containers of run `pid`.
pub async fn run_container_tmpfs(pid: u32) -> Vec<String> {
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let mut out = Vec::new();
    for c in run_container_list(pid).await {
        let info = docker.inspect_container(c.id.as_deref().unwrap(), None).await.unwrap();
        let mounts = info.host_config.and_then(|h| h.mounts).unwrap_or_default();
        out.extend(
            mounts
                .into_iter()
                .filter(|m| m.typ == Some(bollard::models::MountTypeEnum::TMPFS))
                .filter_map(|m| m.target),
        );
    }
    out
}

async fn run_container_list(pid: u32) -> Vec<bollard::models::ContainerSummary> {
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let label =
        format!("{}={}", rowfence::provision::docker::RUN_LABEL, rowfence::provision::docker::run_label_value(pid));
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&std::collections::HashMap::from([("label", vec![label.as_str()])]))
        .build();
    docker.list_containers(Some(options)).await.unwrap()
}
