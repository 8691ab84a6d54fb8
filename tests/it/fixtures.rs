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
