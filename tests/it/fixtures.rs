//! Every repo suite reaches the verdict and names the rules its fixture expects,
//! on local binaries and (when an engine answers) on Docker.

use std::path::PathBuf;

use rowfence::provision::ProviderKind;
use rstest::rstest;

use crate::common::{check_against, docker_available, fixture_expect};

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local(#[files("suites/*.toml")] suite: PathBuf) {
    check_against(&suite, &fixture_expect(&suite), ProviderKind::Local).await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker(#[files("suites/*.toml")] suite: PathBuf) {
    if !docker_available().await {
        return;
    }
    let report = check_against(&suite, &fixture_expect(&suite), ProviderKind::Docker).await;
    assert_eq!(report.postgres.as_ref().map(|p| p.provider.as_str()), Some("docker"));
}

/// Prepared templates (the default) and simple queries find the same: the
/// same causes with the same severities, the same isolation cells and the
/// same verdict, on every repo suite.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_and_simple_protocols_agree(#[files("suites/*.toml")] suite: PathBuf) {
    use rowfence::probe::Protocol;
    let loaded = rowfence::Suite::load(&suite).unwrap();
    let mut reports = Vec::new();
    for protocol in [Protocol::Simple, Protocol::Prepared] {
        let mut opts = crate::common::options(ProviderKind::Local);
        opts.cases = Some(8);
        opts.protocol = protocol;
        reports.push(rowfence::check(&loaded, &opts).await.unwrap());
    }
    let causes = |r: &rowfence::Report| {
        let mut v: Vec<String> = r
            .findings
            .iter()
            .map(|f| format!("{:?} {:?} {:?} {:?} {:?}", f.rule, f.relation, f.object, f.severity, f.kind))
            .collect();
        v.sort();
        v
    };
    let (simple, prepared) = (&reports[0], &reports[1]);
    assert_eq!(causes(simple), causes(prepared), "{}", suite.display());
    assert_eq!(simple.verdict, prepared.verdict, "{}", suite.display());
    assert_eq!(simple.stats.probes, prepared.stats.probes, "{}", suite.display());
    assert_eq!(
        serde_json::to_value(&simple.isolation).unwrap(),
        serde_json::to_value(&prepared.isolation).unwrap(),
        "{}",
        suite.display()
    );
}
