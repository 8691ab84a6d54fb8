//! Real-world schema inputs: pg_dump output and the migration folders of
//! common tools apply, in the tool's order, and a SQL error still names the
//! line and column of the file on disk.

use std::path::{Path, PathBuf};
use std::process::Command;

use rowfence::Suite;
use rowfence::provision::ProviderKind;
use rstest::rstest;

use crate::common::{check_against, options, root};

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures/inputs").join(name)
}

/// Each input fixture applies cleanly and its (correct) RLS is judged isolated.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_and_is_isolated(#[files("fixtures/inputs/*/suite.toml")] suite: PathBuf) {
    let expect = suite.with_file_name("expect.toml");
    check_against(&suite, &expect, ProviderKind::Local).await;
}

/// Files relative to their fixture, in the order they will be applied.
fn applied(name: &str) -> Vec<String> {
    let suite = Suite::load(fixture(name).join("suite.toml")).unwrap();
    let base = fixture(name).canonicalize().unwrap();
    suite
        .schema_files
        .iter()
        .map(|f| f.path.canonicalize().unwrap().strip_prefix(&base).unwrap().display().to_string())
        .collect()
}

#[test]
fn folders_are_read_in_their_tools_order() {
    assert_eq!(applied("pg-dump"), ["dump.sql", "after.sql"]);
    assert_eq!(
        applied("golang-migrate"),
        ["migrations/1_init.up.sql", "migrations/2_projects.up.sql", "migrations/10_milestones.up.sql"]
    );
    assert_eq!(
        applied("prisma"),
        [
            "migrations/20240105093000_init/migration.sql",
            "migrations/20240212141500_row_level_security/migration.sql",
            "migrations/20240301080000_task/migration.sql"
        ]
    );
    assert_eq!(
        applied("flyway"),
        [
            "sql/V1__init.sql",
            "sql/V1.1__projects.sql",
            "sql/V2__projects_rls.sql",
            "sql/V10__budgets.sql",
            "sql/R__comments.sql"
        ]
    );
    assert_eq!(applied("dbmate").len(), 3);
    assert_eq!(applied("goose").len(), 3);
    assert_eq!(applied("drizzle"), ["drizzle/0000_steady_pulsar.sql", "drizzle/0001_rls.sql"]);
    assert_eq!(
        applied("supabase"),
        ["supabase/migrations/20240201000000_init.sql", "supabase/migrations/20240202000000_rls.sql"]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// 1-based line and column of the first `anchor` in `text`.
fn position_of(text: &str, anchor: &str) -> (usize, usize) {
    let at = text.find(anchor).unwrap_or_else(|| panic!("`{anchor}` not in the file"));
    let line = text[..at].matches('\n').count() + 1;
    let column = text[..at].rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

/// A deliberate error in a copy of each fixture: the reported position is the
/// one in the original file, although psql meta-commands, COPY data, down
/// sections and skipped SETs were blanked, and though some files ran one
/// statement at a time. `anchor` is where the error must point: the error's
/// own position when PostgreSQL gives one, else the failing statement's start.
#[rstest]
// Positioned error after \restrict, the skipped SET and the COPY block.
#[case::pg_dump_positioned("pg-dump", "dump.sql", "'paid'::text", "'paid'::txet", "txet")]
// No position: found by replaying the statements of the blanked file.
#[case::pg_dump_replayed(
    "pg-dump",
    "dump.sql",
    "REFERENCES public.organisations(id)",
    "REFERENCES public.organisationz(id)",
    "ALTER TABLE ONLY public.invoices\n    ADD CONSTRAINT invoices_org_id_fkey"
)]
#[case::pg_dump_second_file(
    "pg-dump",
    "after.sql",
    "REFERENCES invoices (id)",
    "REFERENCES invoicez (id)",
    "CREATE TABLE"
)]
#[case::golang_migrate(
    "golang-migrate",
    "migrations/10_milestones.up.sql",
    "REFERENCES projects (id)",
    "REFERENCES projectz (id)",
    "CREATE TABLE milestones"
)]
#[case::prisma(
    "prisma",
    "migrations/20240301080000_task/migration.sql",
    "\"done\" BOOLEAN",
    "\"done\" BOOLEEN",
    "BOOLEEN"
)]
#[case::flyway(
    "flyway",
    "sql/V10__budgets.sql",
    "CHECK (amount_cents > 0)",
    "CHECK (amount_sents > 0)",
    "amount_sents"
)]
#[case::dbmate(
    "dbmate",
    "db/migrations/20240111090000_contacts.sql",
    "email  text NOT NULL",
    "email  txet NOT NULL",
    "txet"
)]
// A transaction:false file runs statement by statement: the failing statement is known.
#[case::dbmate_no_transaction(
    "dbmate",
    "db/migrations/20240112120000_contacts_email_index.sql",
    "ON contacts (org_id, email)",
    "ON contacts (org_id, emial)",
    "CREATE INDEX CONCURRENTLY"
)]
#[case::goose_block(
    "goose",
    "migrations/00003_note_length.sql",
    "SELECT length(body);",
    "SELECT lenght(body);",
    "lenght"
)]
#[case::goose_after_block(
    "goose",
    "migrations/00002_notes.sql",
    "EXECUTE FUNCTION touch_updated_at()",
    "EXECUTE FUNCTION touch_updated_ta()",
    "CREATE TRIGGER"
)]
#[case::drizzle(
    "drizzle",
    "drizzle/0001_rls.sql",
    "\"documents\".\"org_id\" = current_setting",
    "\"documents\".\"org_idx\" = current_setting",
    "CREATE POLICY \"tenant_isolation\" ON \"documents\""
)]
#[case::supabase(
    "supabase",
    "supabase/migrations/20240202000000_rls.sql",
    "ON public.members FOR ALL",
    "ON public.memberz FOR ALL",
    "CREATE POLICY tenant_isolation ON public.memberz"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deliberate_error_names_the_original_file_line_and_column(
    #[case] name: &str,
    #[case] file: &str,
    #[case] needle: &str,
    #[case] replacement: &str,
    #[case] anchor: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dir.path());
    let path = dir.path().join(file);
    let original = std::fs::read_to_string(&path).unwrap();
    assert!(original.contains(needle), "{file} has no `{needle}`");
    let broken = original.replacen(needle, replacement, 1);
    std::fs::write(&path, &broken).unwrap();
    let (line, column) = position_of(&broken, anchor);

    let suite = Suite::load(dir.path().join("suite.toml")).unwrap();
    let mut opts = options(ProviderKind::Local);
    opts.cases = Some(1);
    let err = rowfence::check(&suite, &opts).await.expect_err("the broken schema must not apply").to_string();
    let want = format!("{file}:{line}:{column}: schema failed to apply");
    assert!(err.contains(&want), "want {want}, got:\n{err}");
    // The snippet is the original line.
    let snippet = broken.lines().nth(line - 1).unwrap().trim_end();
    assert!(err.contains(snippet), "snippet `{snippet}` missing:\n{err}");
}

/// What was skipped or created is said on stderr, with the line.
#[test]
fn dump_notes_say_what_was_skipped_and_created() {
    let suite = fixture("pg-dump").join("suite.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_rowfence"))
        .args(["check", suite.to_str().unwrap(), "--provider", "local", "--cases", "2"])
        .current_dir(root())
        .env_remove("ROWFENCE_PROVIDER")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let file = "fixtures/inputs/pg-dump/dump.sql";
    for note in [
        format!("{file}: skipped psql meta-command(s) `\\restrict` (line 5), `\\unrestrict` (line 133)"),
        format!("{file}: skipped COPY ... FROM stdin data for `public.organisations` (line 58)"),
        format!("{file}: skipped `SET transaction_timeout` (line 13)"),
        format!("{file}: created role(s) `dmp_owner` (NOLOGIN)"),
    ] {
        assert!(stderr.contains(&note), "no `{note}` in:\n{stderr}");
    }
}
