//! Suite parsing and validation.

use super::*;

fn parse(text: &str) -> Result<Suite, SuiteError> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("s.sql"), "select 1;").unwrap();
    Suite::parse(text, &dir.path().join("x.toml"))
}

const MINIMAL: &str = r#"schema = ["s.sql"]
[app]
role = "app"
[tenant]
column = "org_id"
setting = "app.org"
"#;

#[test]
fn minimal_suite_gets_defaults() {
    let s = parse(MINIMAL).unwrap();
    assert_eq!(s.name, "x");
    assert_eq!(s.probes.cases, DEFAULT_CASES);
    assert!(!s.app.create);
    assert_eq!(s.schema_files.len(), 1);
}

#[test]
fn unknown_key_names_its_line() {
    let err = parse(&format!("{MINIMAL}colour = \"red\"\n")).unwrap_err().to_string();
    assert!(err.contains("line 7"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn missing_schema_file_names_entry_and_line() {
    let err = parse(&MINIMAL.replace("s.sql", "nope.sql")).unwrap_err().to_string();
    assert!(err.contains("x.toml:1: schema file `nope.sql` not found"), "{err}");
}

#[test]
fn waivers_need_a_reason_and_a_known_rule() {
    let err = parse(&format!("{MINIMAL}[[waive]]\nrule = \"force_missing\"\n")).unwrap_err().to_string();
    assert!(err.contains(":7:") && err.contains("reason"), "{err}");
    let err = parse(&format!("{MINIMAL}[[waive]]\nrule = \"nope\"\nreason = \"x\"\n")).unwrap_err().to_string();
    assert!(err.contains("unknown rule"), "{err}");
    let ok = parse(&format!("{MINIMAL}[[waive]]\nrule = \"force_missing\"\nrelation = \"public.t\"\nreason = \"owner is the app's migration role\"\n")).unwrap();
    assert_eq!(ok.waivers.len(), 1);
}

#[test]
fn migrations_format_overrides_detection_and_unknown_values_name_their_line() {
    let err = parse(&format!("{MINIMAL}[migrations]\nformat = \"liquibase\"\n")).unwrap_err().to_string();
    assert!(err.contains("x.toml:8:") && err.contains("liquibase") && err.contains("goose"), "{err}");
    let s = parse(&format!("{MINIMAL}[migrations]\nformat = \"goose\"\n")).unwrap();
    assert_eq!(s.schema_files[0].format, Format::Goose);
    assert_eq!(parse(MINIMAL).unwrap().schema_files[0].format, Format::Plain);
}

#[test]
fn context_templates_replace_the_setting_and_bad_ones_name_their_line() {
    let v2 = MINIMAL.replace("setting = \"app.org\"\n", "")
        + "[context]\n\"request.jwt.claims\" = '{\"app_metadata\":{\"org_id\":\"{tenant}\"}}'\n";
    let s = parse(&v2).unwrap();
    assert_eq!(s.tenant.setting, "request.jwt.claims");
    assert!(s.context.is_templated());
    let err = parse(&v2.replace("{tenant}", "x")).unwrap_err().to_string();
    assert!(err.contains(":6:") && err.contains("{tenant}"), "{err}");
    let err = parse(&format!("{MINIMAL}[context]\n\"a.b\" = \"{{tenant}}\"\n")).unwrap_err().to_string();
    assert!(err.contains(":6:") && err.contains("not both"), "{err}");
    let err = parse(&MINIMAL.replace("setting = \"app.org\"\n", "")).unwrap_err().to_string();
    assert!(err.contains(":5:") && err.contains("[context]"), "{err}");
}

#[test]
fn presets_are_named_and_unknown_ones_name_their_line() {
    assert_eq!(parse(&format!("preset = \"supabase\"\n{MINIMAL}")).unwrap().preset, Some(Preset::Supabase));
    let err = parse(&format!("preset = \"firebase\"\n{MINIMAL}")).unwrap_err().to_string();
    assert!(err.contains(":1:") && err.contains("supabase"), "{err}");
}

#[test]
fn unqualified_setting_is_rejected() {
    let err = parse(&MINIMAL.replace("app.org", "org")).unwrap_err().to_string();
    assert!(err.contains(":6:"), "{err}");
}

#[test]
fn membership_lets_the_context_carry_only_the_user_and_user_controlled_paths_are_checked() {
    const MINIMAL: &str = "schema = [\"s.sql\"]\n[app]\nrole = \"app\"\n[tenant]\ncolumn = \"org_id\"\n";
    let user_only = "[context]\n\"request.jwt.claims\" = '{\"sub\":\"{user}\"}'\n";
    let err = parse(&format!("{MINIMAL}{user_only}")).unwrap_err().to_string();
    assert!(err.contains("`{tenant}`"), "{err}");
    let members = "[membership]\ntable = \"public.members\"\nuser_column = \"user_id\"\n";
    let s = parse(&format!("{MINIMAL}{user_only}{members}")).unwrap();
    assert_eq!(s.tenant.setting, "request.jwt.claims");
    assert!(s.tenancy().membership && !s.context.names_tenant());
    let forged = "[user_controlled]\n\"request.jwt.claims\" = [\"user_metadata.org_id\"]\n";
    assert!(parse(&format!("{MINIMAL}{user_only}{members}{forged}")).unwrap().tenancy().user_controlled);
    let unknown = "[user_controlled]\n\"app.other\" = [\"x\"]\n";
    let err = parse(&format!("{MINIMAL}{user_only}{members}{unknown}")).unwrap_err().to_string();
    assert!(err.contains("app.other") && err.contains(":11:"), "{err}");
}
