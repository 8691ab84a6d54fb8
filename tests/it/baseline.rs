//! Baselines and waivers: a recorded run, checked again unchanged, passes; a
//! widened schema fails and names what is new; waived findings stay visible
//! with their reason and do not fail.

use std::process::Command;

use rowfence::provision::ProviderKind;
use rowfence::{Suite, Verdict};

use crate::common::{options, root};

fn rowfence(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rowfence")).args(args).current_dir(root()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Records DexcyJet's baseline at `out` (8 cases, local binaries).
fn record_dexcyjet(out: &str) {
    let (code, text) =
        rowfence(&["baseline", "suites/dexcyjet.toml", "--provider", "local", "--cases", "8", "--out", out, "-q"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn baseline_round_trip_passes_and_a_widened_schema_fails() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("baseline.json");
    let b = b.to_str().unwrap();
    record_dexcyjet(b);
    // Nothing changed: the known violations are accepted.
    let (code, out) =
        rowfence(&["check", "suites/dexcyjet.toml", "--provider", "local", "--cases", "8", "--baseline", b]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 new, 0 widened, 0 resolved"), "{out}");
    assert!(out.contains("[in baseline]"), "{out}");

    // A later migration adds a table without RLS: new, so exit 1, and named.
    let extra = dir.path().join("0002_notes.sql");
    std::fs::write(
        &extra,
        "CREATE TABLE notes (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organisations(id), body text NOT NULL);\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO dexcyjet_app;\n",
    )
    .unwrap();
    let suite = dir.path().join("widened.toml");
    let text = std::fs::read_to_string(root().join("suites/dexcyjet.toml")).unwrap().replace(
        "schema = [\"../fixtures/dexcyjet/schema.sql\"]",
        &format!(
            "schema = [{:?}, {:?}]",
            root().join("fixtures/dexcyjet/schema.sql").display().to_string(),
            extra.display().to_string()
        ),
    );
    std::fs::write(&suite, text).unwrap();
    let (code, out) =
        rowfence(&["check", suite.to_str().unwrap(), "--provider", "local", "--cases", "8", "--baseline", b]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("new: rls_not_enabled public.notes"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waived_findings_show_their_reason_and_do_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("waived.toml");
    let text = std::fs::read_to_string(root().join("suites/dexcyjet.toml")).unwrap().replace(
        "schema = [\"../fixtures/dexcyjet/schema.sql\"]",
        &format!("schema = [{:?}]", root().join("fixtures/dexcyjet/schema.sql").display().to_string()),
    ) + "\n[[waive]]\nrule = \"rls_not_enabled\"\nrelation = \"public.organisations\"\nreason = \"organisation names are public by design (ticket SEC-12)\"\n";
    std::fs::write(&path, text).unwrap();
    let suite = Suite::load(&path).unwrap();
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(8);
    let report = rowfence::check(&suite, &opts).await.unwrap();
    let waived: Vec<_> = report.findings.iter().filter(|f| f.waived.is_some()).collect();
    assert!(!waived.is_empty());
    assert!(
        waived.iter().all(|f| f.waived.as_deref() == Some("organisation names are public by design (ticket SEC-12)"))
    );
    assert_eq!(report.verdict, Verdict::Isolated, "only waived findings remain");
    let html = rowfence::report::html::render(&report).unwrap();
    assert!(html.contains("ticket SEC-12"));
}

/// A baseline written before findings were causes lists one finding per
/// probe and context, without `object` or `probes`: it still loads, and the
/// causes it stands for count as known.
#[test]
fn a_per_probe_baseline_from_before_causes_still_matches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.json");
    let b = path.to_str().unwrap();
    record_dexcyjet(b);
    // Rewrite it the way the old format had it: each probe its own finding.
    let mut report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut old = Vec::new();
    for f in report["findings"].as_array().unwrap() {
        let mut bare = f.clone();
        let probes = bare.as_object_mut().unwrap().remove("probes");
        bare.as_object_mut().unwrap().remove("object");
        for p in probes.as_ref().and_then(|p| p.as_array()).cloned().unwrap_or_default() {
            let mut one = bare.clone();
            one["probe"] = p["probe"].clone();
            one["operation"] = p["operation"].clone();
            one["context"] = p["contexts"][0].clone();
            one["kind"] = "dynamic".into();
            old.push(one);
        }
        bare["kind"] = "static".into();
        old.push(bare);
    }
    assert!(old.len() > 5, "the old format had many entries for one cause: {}", old.len());
    report["findings"] = serde_json::Value::Array(old);
    std::fs::write(&path, serde_json::to_string(&report).unwrap()).unwrap();
    let (code, out) =
        rowfence(&["check", "suites/dexcyjet.toml", "--provider", "local", "--cases", "8", "--baseline", b]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 new, 0 widened, 0 resolved"), "{out}");
}
