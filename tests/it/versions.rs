//! Several PostgreSQL versions (`--pg`): every repo suite on 13, 15, 17 and
//! 18, the JSON shape of a version matrix, and the errors of the flag.
//!
//! Images: `ROWFENCE_PG_IMAGE` (a template with `{major}`) when set, else
//! what `--pg` picks by itself (`postgres:<v>`, or `rowfence/postgres:<v>`
//! when only that is present). Missing images skip these tests, or fail them
//! under `ROWFENCE_REQUIRE_DOCKER=1`.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rowfence::provision::ProviderKind;
use rowfence::provision::docker as docker_mod;
use rowfence::{Suite, Verdict};

use crate::common::{Expect, docker_available, fixture_expect, options, root, run_containers};

/// The versions CI runs every suite on.
const MAJORS: [u32; 4] = [13, 15, 17, 18];

/// Cases per suite and version in the all-suites test (the fixture tests use
/// 32 on one version); every planted flaw is still found with this many.
const MATRIX_CASES: u32 = 4;

/// Suites whose schema needs a newer PostgreSQL than some of [`MAJORS`]: on
/// those versions the schema does not apply, and the honest result is
/// "could not judge" naming the schema file. (suite, major, file, why)
const NEEDS_NEWER: &[(&str, u32, &str, &str)] = &[
    ("path-matview-control", 13, "path-matview-control/schema.sql:48", "security_invoker views need 15"),
    ("path-view-definer-control", 13, "path-view-definer-control/schema.sql:47", "security_invoker views need 15"),
    (
        "path-view-no-tenant-column-control",
        13,
        "path-view-no-tenant-column-control/schema.sql:43",
        "security_invoker views need 15",
    ),
];

fn template() -> Option<String> {
    std::env::var("ROWFENCE_PG_IMAGE").ok().filter(|v| !v.is_empty())
}

/// Whether images for `majors` are there; panics under `ROWFENCE_REQUIRE_DOCKER=1` when not.
async fn images_available(majors: &[u32]) -> bool {
    if !docker_available().await {
        return false;
    }
    let mut missing = Vec::new();
    for &major in majors {
        let candidates = match template() {
            Some(t) => vec![t.replace("{major}", &major.to_string())],
            None => vec![docker_mod::default_image(major), docker_mod::offline_image(major)],
        };
        let mut found = false;
        for image in &candidates {
            found |= docker_mod::image_present(image).await;
        }
        if !found {
            missing.push(candidates.join(" or "));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("no image for {} (build them with `bash scripts/build-image.sh MAJOR`)", missing.join(", "));
    if std::env::var("ROWFENCE_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
        panic!("ROWFENCE_REQUIRE_DOCKER=1 but {why}");
    }
    eprintln!("skipping version test: {why}");
    false
}

fn suites() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(root().join("suites"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    all.sort();
    all
}

/// Every suite in `suites/` on 13, 15, 17 and 18: each version reaches the
/// suite's expected verdict, except where [`NEEDS_NEWER`] says the schema
/// cannot apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_suite_on_every_version() {
    if !images_available(&MAJORS).await {
        return;
    }
    let mut opts = options(ProviderKind::Docker);
    opts.provision.image = template();
    opts.cases = Some(MATRIX_CASES);
    opts.quiet = true;
    let mut failures = Vec::new();
    for path in suites() {
        let suite = Suite::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let expect = Expect::load(&fixture_expect(&path));
        let m =
            rowfence::versions::check(&suite, &opts, &MAJORS).await.unwrap_or_else(|e| panic!("{}: {e}", suite.name));
        let mut line = format!("{:<44}", suite.name);
        for (v, report) in m.versions.iter().zip(&m.matrix) {
            line.push_str(&format!(" {}:{:<8}", v.major, format!("{:?}", v.verdict).to_lowercase()));
            let exception = NEEDS_NEWER.iter().find(|(s, major, _, _)| *s == suite.name && *major == v.major);
            match exception {
                Some((_, _, file, why)) => {
                    let error = report.error.as_deref().unwrap_or("");
                    if v.verdict != Verdict::Error || !error.contains(file) {
                        failures.push(format!(
                            "{} on {}: expected could-not-judge naming {file} ({why}), got {:?}: {error}",
                            suite.name, v.major, v.verdict
                        ));
                    }
                }
                None => {
                    let want = if expect.verdict == "isolated" { Verdict::Isolated } else { Verdict::Violated };
                    if v.verdict != want {
                        let findings: Vec<String> = report
                            .failing()
                            .map(|f| format!("{} {}", f.rule, f.relation.as_deref().unwrap_or("-")))
                            .collect();
                        failures.push(format!(
                            "{} on {} ({}): expected {want:?}, got {:?} {} [{}]",
                            suite.name,
                            v.major,
                            v.server_version.as_deref().unwrap_or("-"),
                            v.verdict,
                            report.error.as_deref().unwrap_or(""),
                            findings.join(", ")
                        ));
                    }
                }
            }
        }
        eprintln!("{line}");
    }
    assert!(failures.is_empty(), "{} mismatch(es):\n{}", failures.len(), failures.join("\n"));
}

fn rowfence(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowfence"));
    cmd.args(args)
        .current_dir(root())
        .env_remove("ROWFENCE_PROVIDER")
        .env_remove("ROWFENCE_IMAGE")
        .env_remove("ROWFENCE_DATABASE_URL");
    if let Some(t) = template() {
        cmd.env("ROWFENCE_IMAGE", t);
    }
    cmd.output().expect("run rowfence")
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A migration that turns `security_invoker` on where the server has it and
/// swallows the error where it does not (13, 14): there the view keeps its
/// owner's rights and shows every tenant's rows. A real difference between
/// versions, from one schema.
const GUARDED_INVOKER: &str = "
CREATE ROLE app LOGIN;
CREATE TABLE orgs (id uuid PRIMARY KEY);
CREATE TABLE notes (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs, body text);
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON orgs TO app USING (id = current_setting('app.org')::uuid);
CREATE POLICY own ON notes TO app USING (org_id = current_setting('app.org')::uuid);
CREATE VIEW note_list AS SELECT id, org_id, body FROM notes;
DO $$ BEGIN
  EXECUTE 'ALTER VIEW note_list SET (security_invoker = true)';
EXCEPTION WHEN others THEN
  RAISE NOTICE 'security_invoker needs PostgreSQL 15: %', SQLERRM;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, notes TO app;
GRANT SELECT ON note_list TO app;
";

fn guarded_suite() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.sql"), GUARDED_INVOKER).unwrap();
    std::fs::write(
        dir.path().join("suite.toml"),
        "name = \"guarded-invoker\"\nschema = [\"schema.sql\"]\n[app]\nrole = \"app\"\n\
         [tenant]\ncolumn = \"org_id\"\nsetting = \"app.org\"\nroot = \"orgs\"\n",
    )
    .unwrap();
    dir
}

/// `--pg 13,15 --json`: the overall verdict beside one report per version,
/// and the finding only 13 has listed as a difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_has_a_report_per_version_and_the_differences() {
    if !images_available(&[13, 15]).await {
        return;
    }
    let dir = guarded_suite();
    let suite = dir.path().join("suite.toml");
    let json = dir.path().join("m.json");
    let out = tokio::task::spawn_blocking(move || {
        rowfence(&["check", suite.to_str().unwrap(), "--pg", "15,13", "--cases", "8", "--json", json.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("VIOLATED: guarded-invoker"), "{stdout}");
    assert!(stdout.contains("Findings that differ between versions"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    assert_eq!(v["tool"], "rowfence");
    assert_eq!(v["suite"], "guarded-invoker");
    assert_eq!(v["verdict"], "violated");
    let matrix = v["matrix"].as_array().expect("matrix is the list of per-version reports");
    assert_eq!(matrix.len(), 2);
    let majors: Vec<u64> = v["versions"].as_array().unwrap().iter().map(|x| x["major"].as_u64().unwrap()).collect();
    assert_eq!(majors, [13, 15], "versions in ascending order");
    assert!(matrix[0]["postgres"]["version"].as_str().unwrap().starts_with("13."), "{}", matrix[0]["postgres"]);
    assert!(matrix[1]["postgres"]["version"].as_str().unwrap().starts_with("15."), "{}", matrix[1]["postgres"]);
    assert_eq!(matrix[0]["verdict"], "violated");
    assert_eq!(matrix[1]["verdict"], "isolated");
    assert!(
        matrix[1]["isolation"].as_array().is_some_and(|rows| !rows.is_empty()),
        "the isolation matrix is `isolation`"
    );
    assert!(matrix[1].get("matrix").is_none());
    let diffs = v["differences"].as_array().unwrap();
    assert!(
        diffs.iter().any(|d| d["relation"] == "public.note_list"
            && d["present_on"] == serde_json::json!([13])
            && d["absent_on"] == serde_json::json!([15])),
        "{diffs:#?}"
    );

    // The saved matrix re-renders.
    let (html, junit, sarif) = (dir.path().join("m.html"), dir.path().join("m.xml"), dir.path().join("m.sarif"));
    let saved = dir.path().join("m.json");
    let args: Vec<String> = ["report", saved.to_str().unwrap(), "--html", html.to_str().unwrap(), "--junit"]
        .iter()
        .map(|s| s.to_string())
        .chain([junit.display().to_string(), "--sarif".into(), sarif.display().to_string()])
        .collect();
    let out = rowfence(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    for needle in ["PostgreSQL 13", "PostgreSQL 15", "Findings that differ", "public.note_list", "Isolation matrix"] {
        assert!(page.contains(needle), "HTML lacks {needle}");
    }
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"pg13 / guarded-invoker\"") && xml.contains("name=\"pg15 / guarded-invoker\""),
        "{xml}"
    );
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["automationDetails"]["id"], "rowfence/pg13/");
}

#[test]
fn pg_rejects_other_providers_and_bad_lists() {
    let cases: [(&[&str], &str); 5] = [
        (&["check", "suites/dexcyjet.toml", "--pg", "13,15", "--provider", "local"], "--provider local"),
        (
            &[
                "lint",
                "suites/dexcyjet.toml",
                "--pg",
                "13",
                "--provider",
                "url",
                "--database-url",
                "postgres://x@127.0.0.1/y",
            ],
            "--provider url",
        ),
        (&["check", "suites/dexcyjet.toml", "--pg", "12x"], "`12x` is not a PostgreSQL major version"),
        (&["check", "suites/dexcyjet.toml", "--pg", "15,15"], "twice"),
        (&["check", "suites/dexcyjet.toml", "--pg", "15,17", "--image", "rowfence/postgres:17"], "{major}"),
    ];
    for (args, needle) in cases {
        let out = rowfence(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}: {}", text(&out));
    }
}

/// Ctrl-C during a `--pg` run: exit 2, and every version's container is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_removes_every_container() {
    if !images_available(&[15, 17]).await {
        return;
    }
    let mut child = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowfence"));
        cmd.args(["check", "suites/dexcyjet-fixed.toml", "--pg", "15,17", "--cases", "100000"])
            .current_dir(root())
            .env_remove("ROWFENCE_IMAGE")
            .env_remove("ROWFENCE_PROVIDER")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(t) = template() {
            cmd.env("ROWFENCE_IMAGE", t);
        }
        cmd.spawn().unwrap()
    };
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    while run_containers(pid).await < 2 {
        assert!(child.try_wait().unwrap().is_none(), "rowfence ended before both containers ran");
        assert!(Instant::now() < deadline, "two containers never ran at once");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let both runs get past start-up into the schema and probes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert_eq!(status.code(), Some(2));
    assert_eq!(run_containers(pid).await, 0, "container(s) left behind after Ctrl-C");
}
