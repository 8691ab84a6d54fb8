//! The command line: exit codes and the messages that tell users what to do.

use std::process::{Command, Output};

use crate::common::root;

fn rowfence(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rowfence"));
    cmd.args(args).current_dir(root()).env_remove("ROWFENCE_PROVIDER").env_remove("ROWFENCE_IMAGE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run rowfence")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A suite in a temp dir with the given schema text.
fn temp_suite(schema: &str, app_role: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.sql"), schema).unwrap();
    std::fs::write(
        dir.path().join("suite.toml"),
        format!("schema = [\"schema.sql\"]\n[app]\nrole = \"{app_role}\"\n[tenant]\ncolumn = \"org_id\"\nsetting = \"app.org\"\n"),
    )
    .unwrap();
    dir
}

fn suite_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("suite.toml").display().to_string()
}

#[test]
fn dexcyjet_as_published_exits_1_and_names_organisations() {
    let out = rowfence(&["check", "suites/dexcyjet.toml", "--provider", "local", "--cases", "16"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("public.organisations"), "{stdout}");
    assert!(stdout.contains("rls_not_enabled"), "{stdout}");
    assert!(stdout.contains("VIOLATED"), "{stdout}");
}

#[test]
fn dexcyjet_fixed_exits_0_and_writes_the_json_contract() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = rowfence(
        &[
            "check",
            "suites/dexcyjet-fixed.toml",
            "--provider",
            "local",
            "--cases",
            "16",
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["tool"], "rowfence");
    assert_eq!(v["verdict"], "isolated");
    assert_eq!(v["suite"], "dexcyjet-fixed");
    assert_eq!(v["postgres"]["provider"], "local");
    assert!(v["postgres"]["version"].as_str().unwrap().starts_with(|c: char| c.is_ascii_digit()));
    assert_eq!(v["stats"]["cases"], 16);
    assert!(v["stats"]["probes"].as_u64().unwrap() > 100);
    assert!(v["findings"].as_array().unwrap().iter().all(|f| f["severity"] != "critical" && f["severity"] != "high"));
}

#[test]
fn quiet_prints_only_the_verdict_line() {
    let out = rowfence(&["check", "suites/dexcyjet.toml", "--provider", "local", "--cases", "8", "--quiet"], &[]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("VIOLATED"), "{stdout}");
}

#[test]
fn missing_schema_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("s.toml");
    std::fs::write(&suite, "schema = [\"nowhere/schema.sql\"]\n[app]\nrole = \"a\"\n[tenant]\ncolumn = \"org_id\"\nsetting = \"app.org\"\n").unwrap();
    for provider in ["local", "docker"] {
        let out = rowfence(&["check", suite.to_str().unwrap(), "--provider", provider], &[]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("nowhere/schema.sql"), "{stderr}");
        assert!(stderr.contains("s.toml:1"), "{stderr}");
    }
}

#[test]
fn unknown_suite_key_exits_2_with_its_line() {
    let dir = temp_suite("select 1;", "app");
    let path = dir.path().join("suite.toml");
    let text_ = std::fs::read_to_string(&path).unwrap() + "[probes]\ncasez = 3\n";
    std::fs::write(&path, text_).unwrap();
    let out = rowfence(&["check", path.to_str().unwrap(), "--provider", "local"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("line 8") && stderr.contains("casez"), "{stderr}");
}

#[test]
fn schema_error_exits_2_with_file_line_column_and_sql_error() {
    let dir = temp_suite("CREATE TABLE a (id int);\n\nCREATE TABLE b (id int REFERENCES nope(id));\n", "app");
    let out = rowfence(&["check", &suite_arg(&dir), "--provider", "local"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("schema.sql:3:"), "{stderr}");
    assert!(stderr.contains("42P01") && stderr.contains("nope"), "{stderr}");
}

#[test]
fn missing_app_role_exits_2_and_says_how_to_fix() {
    let dir = temp_suite("CREATE TABLE t (org_id int);\n", "ghost_app");
    let out = rowfence(&["check", &suite_arg(&dir), "--provider", "local"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ghost_app") && stderr.contains("create = true"), "{stderr}");
}

/// A tenant-owned table cannot also be shared by all: the suite is refused,
/// never silently half-applied (found on a real schema whose root doubled as
/// a public directory).
#[test]
fn a_tenant_owned_table_listed_as_shared_exits_2_saying_why() {
    let dir = temp_suite(
        "CREATE ROLE sh_app LOGIN;\nCREATE TABLE orgs (id int PRIMARY KEY);\n\
         CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs (id));\n",
        "sh_app",
    );
    let suite = dir.path().join("suite.toml");
    let text_before = std::fs::read_to_string(&suite).unwrap();
    std::fs::write(&suite, format!("{text_before}shared = [\"orgs\"]\n")).unwrap();
    let out = rowfence(&["check", &suite_arg(&dir), "--provider", "local"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("\"orgs\"") && stderr.contains("tenant root"), "{stderr}");
}

/// A login that cannot switch to `[app] set_role` stops the run, saying what to grant.
#[test]
fn a_set_role_the_login_cannot_switch_to_exits_2_saying_what_to_grant() {
    let dir = temp_suite(
        "CREATE ROLE sr_login LOGIN;\nCREATE ROLE sr_user NOLOGIN;\nCREATE TABLE orgs (id int PRIMARY KEY);\n\
         CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs (id));\n\
         GRANT SELECT ON notes TO sr_user;\n",
        "sr_login",
    );
    let suite = dir.path().join("suite.toml");
    let text_before = std::fs::read_to_string(&suite).unwrap();
    std::fs::write(&suite, text_before.replace("role = \"sr_login\"", "role = \"sr_login\"\nset_role = \"sr_user\""))
        .unwrap();
    let out = rowfence(&["check", &suite_arg(&dir), "--provider", "local", "--cases", "2"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("set_role") && stderr.contains("GRANT \"sr_user\" TO \"sr_login\""), "{stderr}");
}

#[test]
fn no_docker_and_no_binaries_exits_2_explaining_both() {
    let out = rowfence(
        &["check", "suites/dexcyjet.toml"],
        &[("PG_BINDIR", "/nonexistent"), ("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no PostgreSQL available"), "{stderr}");
    assert!(stderr.contains("Docker") && stderr.contains("PG_BINDIR"), "{stderr}");
}

#[test]
fn created_app_role_and_no_leftovers() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_suite(
        "CREATE TABLE orgs (id int PRIMARY KEY);\nCREATE TABLE t (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs(id));\n\
         ALTER TABLE t ENABLE ROW LEVEL SECURITY; ALTER TABLE t FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY p ON t USING (org_id = current_setting('app.org')::int);\nGRANT SELECT ON t TO made_app;\n",
        "made_app",
    );
    let path = dir.path().join("suite.toml");
    let t =
        std::fs::read_to_string(&path).unwrap().replace("role = \"made_app\"", "role = \"made_app\"\ncreate = true");
    std::fs::write(&path, t).unwrap();
    // A private TMPDIR and cluster dir (traversable by the postgres user) show what the run leaves behind.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = rowfence(
        &["check", path.to_str().unwrap(), "--provider", "local", "--cases", "8"],
        &[("TMPDIR", tmp.path().to_str().unwrap()), ("ROWFENCE_CLUSTER_DIR", tmp.path().to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn rules_lists_every_rule_and_explain_documents_one() {
    let out = rowfence(&["rules"], &[]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout.lines().count(), rowfence::rules::RULES.len());
    assert!(stdout.lines().any(|l| l.starts_with("rls_not_enabled") && l.contains("critical")), "{stdout}");
    let out = rowfence(&["explain", "view_owner_rights"], &[]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("security_invoker") && stdout.contains("Remediation"), "{stdout}");
    let out = rowfence(&["explain", "no_such_rule"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lint_exits_1_on_a_static_problem_with_static_findings_only() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("lint.json");
    let out = rowfence(
        &["lint", "suites/broken-truncate.toml", "--provider", "local", "--json", json.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["kind"] == "static"));
    assert!(findings.iter().any(|f| f["rule"] == "truncate_privilege" && f["location"]["line"].as_u64().is_some()));
    assert_eq!(v["stats"]["probes"], 0);
    let out = rowfence(&["lint", "suites/dexcyjet-fixed.toml", "--provider", "local"], &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// DexcyJet has one mistake (organisations has no RLS): one critical cause,
/// explained by the catalog and confirmed by every probe that showed it.
#[test]
fn check_reports_one_cause_with_its_confirming_probes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = rowfence(
        &["check", "suites/dexcyjet.toml", "--provider", "local", "--cases", "8", "--json", json.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let failing: Vec<_> =
        findings.iter().filter(|f| matches!(f["severity"].as_str(), Some("critical" | "high"))).collect();
    assert_eq!(failing.len(), 1, "{failing:#?}");
    let cause = failing[0];
    assert_eq!(
        (cause["rule"].as_str(), cause["relation"].as_str()),
        (Some("rls_not_enabled"), Some("public.organisations"))
    );
    assert_eq!((cause["kind"].as_str(), cause["agreement"].as_str()), (Some("dynamic"), Some("confirmed")));
    assert!(cause["location"]["line"].as_u64().is_some(), "the catalog's explanation and its place stay");
    // JSON keeps every probe result under the cause, and one reproduction.
    let probes = cause["probes"].as_array().unwrap();
    let names: Vec<&str> = probes.iter().filter_map(|p| p["probe"].as_str()).collect();
    for probe in ["select", "prepared-select", "copy", "insert-foreign", "keyed-update", "after-commit"] {
        assert!(names.contains(&probe), "{probe} not among {names:?}");
    }
    assert!(probes.iter().all(|p| p["sql"].as_str().is_some() && p["observed"].as_str().is_some()));
    assert!(cause["evidence"]["reproduction"].as_str().is_some_and(|r| r.contains("-- observed")));
    // The console: the cause, its explanation, its probes in one line.
    let (stdout, stderr) = text(&out);
    let console = format!("{stdout}{stderr}");
    assert_eq!(console.matches("rls_not_enabled").count(), 1, "{console}");
    assert!(console.contains(&format!("shown by {} probes: select", probes.len())), "{console}");
}

#[test]
fn auto_falls_back_to_local_binaries_without_docker_and_says_why() {
    let out = rowfence(
        &["check", "suites/dexcyjet.toml", "--cases", "8"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("docker not used") && stderr.contains("local PostgreSQL binaries"), "{stderr}");
    assert!(stdout.contains("(local)"), "{stdout}");
}

#[test]
fn json_on_stdout_is_one_parseable_document_and_the_summary_goes_to_stderr() {
    let out = rowfence(&["check", "suites/dexcyjet.toml", "--provider", "local", "--cases", "4", "--json", "-"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    assert_eq!(report["verdict"], "violated");
    assert!(stderr.contains("VIOLATED"), "the summary belongs on stderr:\n{stderr}");
}

#[test]
fn a_run_that_cannot_judge_still_writes_a_json_report_to_stdout() {
    let dir = temp_suite("CREATE TABLE t (org_id uuid);\nSELEC 1;\n", "app_json_err");
    let out = rowfence(&["check", &suite_arg(&dir), "--provider", "local", "--json", "-"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document on stdout");
    assert_eq!(report["verdict"], "error");
    assert!(stderr.contains("schema.sql:2"), "{stderr}");
}
