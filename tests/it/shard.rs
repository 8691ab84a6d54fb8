//! Sharding: `check --shard K/N` on every shard, then `merge`, gives the
//! findings, isolation matrix and verdict of one unsharded run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use rowfence::provision::ProviderKind;
use rowfence::report::{MatrixRow, Report};
use rowfence::shard::{MergeError, Shard};
use rowfence::{Suite, Verdict};

use crate::common::{options, root};

/// One run of `suite`, whole (`None`) or one shard of it.
async fn run(suite: &Suite, cases: u32, shard: Option<Shard>) -> Report {
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(cases);
    opts.shard = shard;
    opts.quiet = true;
    rowfence::check(suite, &opts).await.unwrap_or_else(|e| panic!("{} shard {shard:?}: {e}", suite.name))
}

/// The shards' reports as `merge` reads them: through JSON, as CI hands them over.
async fn shards(suite: &Suite, cases: u32, count: u32) -> Vec<(String, Report)> {
    let mut out = Vec::new();
    for k in 1..=count {
        let report = run(suite, cases, Some(Shard::new(k, count).unwrap())).await;
        let json = serde_json::to_string(&report).unwrap();
        out.push((format!("shard-{k}.json"), serde_json::from_str(&json).unwrap()));
    }
    out
}

/// What must be equal: each cause with its severity, kind and agreement.
fn causes(r: &Report) -> BTreeSet<String> {
    r.findings
        .iter()
        .map(|f| {
            format!(
                "{:?} {} {:?} {:?} waived={}",
                f.key(),
                f.severity.as_str(),
                f.kind,
                f.agreement,
                f.waived.is_some()
            )
        })
        .collect()
}

fn cells(r: &Report) -> Vec<String> {
    let row = |m: &MatrixRow| {
        let states: Vec<String> = m
            .cells
            .iter()
            .map(|c| format!("{}={:?} untested={}", c.operation.as_str(), c.states, c.untested.len()))
            .collect();
        format!("{}: {}", m.relation, states.join(" "))
    };
    r.isolation.iter().map(row).collect()
}

/// Asserts `merged` says what `whole` says, and that the shards split the relations.
fn assert_same_run(whole: &Report, parts: &[(String, Report)], merged: &Report) {
    assert_eq!(causes(merged), causes(whole), "merged causes differ from one run's");
    assert_eq!(merged.verdict, whole.verdict, "merged error: {:?}; whole: {:?}", merged.error, whole.error);
    assert_eq!(cells(merged), cells(whole));
    assert_eq!(merged.stats.cases, whole.stats.cases);
    assert_eq!(merged.stats.populated, whole.stats.populated);
    // Every relation is one shard's; each shard probed only its own.
    let mut owned = BTreeSet::new();
    for (file, r) in parts {
        let s = r.shard.as_ref().unwrap_or_else(|| panic!("{file} records no shard"));
        for rel in &s.relations {
            assert!(owned.insert(rel.clone()), "{rel} belongs to two shards");
        }
        for row in &r.isolation {
            assert!(s.relations.contains(&row.relation), "{file} probed {}, another shard's", row.relation);
        }
        assert!(
            !r.unjudged
                .iter()
                .any(|u| !s.relations.iter().any(|rel| u.starts_with(rel.as_str())) && !u.starts_with("the schema")),
            "{file} judged another shard's relation: {:?}",
            r.unjudged
        );
    }
    let all: BTreeSet<String> = whole.posture.iter().map(|p| p.relation.clone()).collect();
    assert!(all.is_subset(&owned), "relations no shard owns: {:?}", all.difference(&owned).collect::<Vec<_>>());
}

/// The bench generator's schema with four broken tables, so causes land on
/// different shards: RLS off, an open read policy, TRUNCATE, a WITH CHECK (true).
fn bench_suite(dir: &Path) -> PathBuf {
    let suite = rowfence::bench::schema::write(dir, 20, 4, 1).unwrap();
    let broken = "
ALTER TABLE t003 DISABLE ROW LEVEL SECURITY;
CREATE POLICY open_read ON t008 TO bench_app USING (true);
GRANT TRUNCATE ON t012 TO bench_app;
DROP POLICY tenant_isolation ON t017;
CREATE POLICY tenant_isolation ON t017 TO bench_app
  USING (org_id = current_setting('app.current_org_id')::uuid) WITH CHECK (true);
";
    let schema = dir.join("schema.sql");
    std::fs::write(&schema, std::fs::read_to_string(&schema).unwrap() + broken).unwrap();
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_and_merge_on_the_bench_schema_give_one_runs_findings() {
    let dir = tempfile::tempdir().unwrap();
    let suite = Suite::load(bench_suite(dir.path())).unwrap();
    let whole = run(&suite, 4, None).await;
    assert_eq!(whole.verdict, Verdict::Violated);
    let parts = shards(&suite, 4, 3).await;
    assert!(parts.iter().all(|(_, r)| !r.isolation.is_empty()), "every shard probes something");
    let merged = rowfence::shard::merge(parts.clone()).unwrap();
    assert_same_run(&whole, &parts, &merged);
    // The shards are not the run: each lacks some of its matrix.
    assert!(parts.iter().all(|(_, r)| r.isolation.len() < whole.isolation.len()));
}

/// The isolated bench schema: no shard may call it "could not judge" for
/// relations another shard probes, and the merge is isolated too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_of_an_isolated_schema_are_each_isolated_and_merge_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let suite = Suite::load(rowfence::bench::schema::write(dir.path(), 20, 4, 1).unwrap()).unwrap();
    let whole = run(&suite, 4, None).await;
    assert_eq!(whole.verdict, Verdict::Isolated, "{:?}", whole.error);
    let parts = shards(&suite, 4, 3).await;
    for (file, r) in &parts {
        assert_eq!(r.verdict, Verdict::Isolated, "{file}: {:?}", r.error);
    }
    assert_same_run(&whole, &parts, &rowfence::shard::merge(parts.clone()).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_of_dexcyjet_give_one_runs_violations() {
    let suite = Suite::load(root().join("suites/dexcyjet.toml")).unwrap();
    let whole = run(&suite, 16, None).await;
    assert_eq!(whole.verdict, Verdict::Violated);
    let parts = shards(&suite, 16, 2).await;
    let merged = rowfence::shard::merge(parts.clone()).unwrap();
    assert!(!merged.findings.is_empty());
    assert_same_run(&whole, &parts, &merged);
}

/// A shard report as CI would hand it over, without running anything.
fn fake_shard(index: u32, count: u32, fingerprint: &str) -> Report {
    let mut r = Report::new("s", None, Vec::new(), Default::default());
    r.shard = Some(rowfence::shard::ShardInfo {
        index,
        count,
        relations: vec![format!("public.t{index}")],
        fingerprint: fingerprint.into(),
    });
    r
}

#[test]
fn merging_refuses_a_missing_repeated_or_foreign_shard_naming_the_files() {
    let part = |f: &str, k, n, fp: &str| (f.to_string(), fake_shard(k, n, fp));
    let missing = rowfence::shard::merge(vec![part("a.json", 1, 3, "x"), part("c.json", 3, 3, "x")]).unwrap_err();
    assert!(matches!(&missing, MergeError::Missing { missing, .. } if missing == &["2/3"]), "{missing}");
    let text = missing.to_string();
    assert!(text.contains("2/3") && text.contains("a.json (1/3)") && text.contains("c.json (3/3)"), "{text}");

    let twice = rowfence::shard::merge(vec![part("a.json", 1, 2, "x"), part("b.json", 1, 2, "x")]).unwrap_err();
    assert!(twice.to_string().contains("a.json") && twice.to_string().contains("b.json"), "{twice}");
    let foreign = rowfence::shard::merge(vec![part("a.json", 1, 2, "x"), part("b.json", 2, 2, "y")]).unwrap_err();
    assert_eq!(foreign, MergeError::OtherRun { file: "b.json".into(), first: "a.json".into() });
    let whole = rowfence::shard::merge(vec![("w.json".into(), Report::error("s", "no PostgreSQL".into()))]);
    assert!(whole.unwrap_err().to_string().contains("no PostgreSQL"), "a failed shard says why");
    assert!(rowfence::shard::merge(vec![part("b.json", 2, 2, "x"), part("a.json", 1, 2, "x")]).is_ok());
}

/// On the command line: exit 2 and the files named, for a missing shard.
#[test]
fn merge_command_exits_2_on_a_missing_shard() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shard-1.json");
    std::fs::write(&file, serde_json::to_string(&fake_shard(1, 2, "x")).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rowfence")).arg("merge").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("2/2") && stderr.contains("shard-1.json"), "{stderr}");
    let bad =
        Command::new(env!("CARGO_BIN_EXE_rowfence")).args(["check", "x.toml", "--shard", "3/2"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("between 1 and N"));
}
