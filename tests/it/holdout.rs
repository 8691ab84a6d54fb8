//! Schemas written separately from rowfence's development (`tests/holdout/`):
//! the verdict, rules and relations must come out right on schemas the tool
//! was not tuned on.

use std::path::PathBuf;

use rowfence::provision::ProviderKind;
use rstest::rstest;

use crate::common::check_against;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holdout(#[files("tests/holdout/*/suite.toml")] suite: PathBuf) {
    let expect = suite.with_file_name("expect.toml");
    check_against(&suite, &expect, ProviderKind::Local).await;
}
