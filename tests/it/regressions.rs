//! One schema per bug found (`tests/regressions/`): each must keep the
//! verdict and rules it had once fixed.

use std::path::PathBuf;

use rowfence::provision::ProviderKind;
use rstest::rstest;

use crate::common::check_against;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression(#[files("tests/regressions/*/suite.toml")] suite: PathBuf) {
    check_against(&suite, &suite.with_file_name("expect.toml"), ProviderKind::Local).await;
}
