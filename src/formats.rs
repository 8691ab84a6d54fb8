//! Migration folders of the tools people use: which tool wrote a folder, which
//! files it applies and in what order.
//!
//! Detection looks at the folder's layout and markers; the suite's
//! `[migrations] format` overrides it. Files keep their original text: what a
//! tool would not apply (a down section) is blanked later, line for line, so
//! error positions still point into the file on disk.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

/// How a folder of migrations (or one file) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `*.sql` in name order (numeric order of a leading version when every
    /// file has one); sqlx and golang-migrate `.down.sql` files are left out.
    Plain,
    /// `<ts>_<name>/migration.sql`, by folder name.
    Prisma,
    /// `V<version>__*.sql` by version, then `R__*.sql` by name; `U` (undo) left out.
    Flyway,
    /// One file per migration with `-- migrate:up` / `-- migrate:down` sections.
    Dbmate,
    /// One file per migration with `-- +goose Up` / `-- +goose Down` sections.
    Goose,
    /// `--> statement-breakpoint` separated files, in `meta/_journal.json` order.
    Drizzle,
    /// `supabase/migrations/<ts>_*.sql`, by name.
    Supabase,
}

impl Format {
    /// Every format with the names the suite accepts for it.
    pub const NAMES: &[(&str, Format)] = &[
        ("plain", Format::Plain),
        ("sqlx", Format::Plain),
        ("golang-migrate", Format::Plain),
        ("prisma", Format::Prisma),
        ("flyway", Format::Flyway),
        ("dbmate", Format::Dbmate),
        ("goose", Format::Goose),
        ("drizzle", Format::Drizzle),
        ("supabase", Format::Supabase),
    ];

    /// The format a suite names (`[migrations] format`).
    pub fn parse(name: &str) -> Option<Format> {
        Format::NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Prisma => "prisma",
            Format::Flyway => "flyway",
            Format::Dbmate => "dbmate",
            Format::Goose => "goose",
            Format::Drizzle => "drizzle",
            Format::Supabase => "supabase",
        }
    }
}

static DBMATE_UP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^--\s*migrate:up\b").expect("regex"));
static GOOSE_UP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?im)^--\s*\+goose\s+up\b").expect("regex"));
static FLYWAY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[VU](\d+(?:[._]\d+)*)__.*|R__.*)\.sql$").expect("regex"));
static LEADING_VERSION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\d+)").expect("regex"));

/// The format of a single schema file, from its markers.
pub fn detect_file(text: &str) -> Format {
    if DBMATE_UP.is_match(text) {
        Format::Dbmate
    } else if GOOSE_UP.is_match(text) {
        Format::Goose
    } else {
        Format::Plain
    }
}

/// The format of a folder, from its layout and the markers in its files.
pub fn detect_dir(dir: &Path) -> std::io::Result<Format> {
    if dir.join("meta/_journal.json").is_file() {
        return Ok(Format::Drizzle);
    }
    if supabase_migrations(dir).is_some() {
        return Ok(Format::Supabase);
    }
    let subdirs = entries(dir)?.into_iter().filter(|p| p.is_dir());
    if subdirs.into_iter().any(|d| d.join("migration.sql").is_file()) {
        return Ok(Format::Prisma);
    }
    let files = sql_files(dir)?;
    let names: Vec<String> = files.iter().map(|p| file_name(p)).collect();
    if !names.is_empty() && names.iter().all(|n| FLYWAY.is_match(n)) && names.iter().any(|n| n.starts_with('V')) {
        return Ok(Format::Flyway);
    }
    let texts: Vec<String> = files.iter().filter_map(|p| fs::read_to_string(p).ok()).collect();
    if texts.iter().any(|t| DBMATE_UP.is_match(t)) {
        return Ok(Format::Dbmate);
    }
    if texts.iter().any(|t| GOOSE_UP.is_match(t)) {
        return Ok(Format::Goose);
    }
    if texts.iter().any(|t| t.contains("--> statement-breakpoint")) {
        return Ok(Format::Drizzle);
    }
    Ok(Format::Plain)
}

/// The files a tool of `format` would apply from `dir`, in its order.
pub fn list(dir: &Path, format: Format) -> Result<Vec<PathBuf>, String> {
    let io = |e: std::io::Error| e.to_string();
    match format {
        Format::Plain | Format::Dbmate | Format::Goose => Ok(by_version(plain_files(dir).map_err(io)?)),
        Format::Supabase => {
            let dir = supabase_migrations(dir).unwrap_or_else(|| dir.to_path_buf());
            Ok(by_version(plain_files(&dir).map_err(io)?))
        }
        Format::Prisma => {
            let mut dirs: Vec<PathBuf> = entries(dir).map_err(io)?.into_iter().filter(|p| p.is_dir()).collect();
            dirs.sort();
            Ok(dirs.into_iter().map(|d| d.join("migration.sql")).filter(|f| f.is_file()).collect())
        }
        Format::Flyway => Ok(flyway_order(sql_files(dir).map_err(io)?)),
        Format::Drizzle => drizzle_order(dir),
    }
}

/// `supabase/migrations` below `dir`, when `dir` is a Supabase project or its
/// `supabase` folder; `dir` itself when it is `supabase/migrations`.
fn supabase_migrations(dir: &Path) -> Option<PathBuf> {
    if dir.join("supabase/migrations").is_dir() {
        return Some(dir.join("supabase/migrations"));
    }
    if dir.join("migrations").is_dir() && dir.join("config.toml").is_file() {
        return Some(dir.join("migrations"));
    }
    let parent = dir.canonicalize().ok()?.parent()?.file_name()?.to_string_lossy().into_owned();
    (parent == "supabase" && file_name(dir) == "migrations").then(|| dir.to_path_buf())
}

fn entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect())
}

fn sql_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> =
        entries(dir)?.into_iter().filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql")).collect();
    files.sort();
    Ok(files)
}

/// `*.sql` without sqlx / golang-migrate `.down.sql` files.
fn plain_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(sql_files(dir)?.into_iter().filter(|p| !file_name(p).ends_with(".down.sql")).collect())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Name order, or numeric order of the leading version when every file has
/// one (golang-migrate's `1_a`, `2_b`, `10_c`).
fn by_version(mut files: Vec<PathBuf>) -> Vec<PathBuf> {
    let version = |p: &PathBuf| LEADING_VERSION.captures(&file_name(p)).and_then(|c| c[1].parse::<u128>().ok());
    if files.iter().all(|p| version(p).is_some()) {
        files.sort_by_key(|p| (version(p), file_name(p)));
    }
    files
}

/// Versioned migrations by version (1 < 1.1 < 2 < 10), then repeatables by name.
fn flyway_order(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut versioned: Vec<(Vec<u64>, PathBuf)> = Vec::new();
    let mut repeatable = Vec::new();
    for p in files {
        let name = file_name(&p);
        if name.starts_with("R__") {
            repeatable.push(p);
        } else if let Some(c) = FLYWAY.captures(&name).filter(|_| name.starts_with('V')) {
            let parts = c[1].split(['.', '_']).map(|n| n.parse().unwrap_or(u64::MAX)).collect();
            versioned.push((parts, p));
        }
    }
    versioned.sort();
    repeatable.sort();
    versioned.into_iter().map(|(_, p)| p).chain(repeatable).collect()
}

#[derive(serde::Deserialize)]
struct Journal {
    entries: Vec<JournalEntry>,
}

#[derive(serde::Deserialize)]
struct JournalEntry {
    idx: u64,
    tag: String,
}

/// Drizzle Kit's order: `meta/_journal.json` when present, else name order.
fn drizzle_order(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let journal = dir.join("meta/_journal.json");
    if !journal.is_file() {
        return plain_files(dir).map_err(|e| e.to_string());
    }
    let text = fs::read_to_string(&journal).map_err(|e| format!("cannot read {}: {e}", journal.display()))?;
    let mut parsed: Journal =
        serde_json::from_str(&text).map_err(|e| format!("cannot read {}: {e}", journal.display()))?;
    parsed.entries.sort_by_key(|e| e.idx);
    parsed
        .entries
        .into_iter()
        .map(|e| {
            let file = dir.join(format!("{}.sql", e.tag));
            match file.is_file() {
                true => Ok(file),
                false => Err(format!("meta/_journal.json lists `{}` but {} does not exist", e.tag, file.display())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    fn names(dir: &Path, format: Format) -> Vec<String> {
        list(dir, format).unwrap().iter().map(|p| p.strip_prefix(dir).unwrap().display().to_string()).collect()
    }

    #[test]
    fn flyway_orders_versions_numerically_and_repeatables_last() {
        let dir = folder(&[
            ("V10__ten.sql", ""),
            ("V2__two.sql", ""),
            ("V1_1__one_one.sql", ""),
            ("V1__one.sql", ""),
            ("R__views.sql", ""),
            ("R__functions.sql", ""),
            ("U2__undo.sql", ""),
        ]);
        assert_eq!(detect_dir(dir.path()).unwrap(), Format::Flyway);
        assert_eq!(
            names(dir.path(), Format::Flyway),
            ["V1__one.sql", "V1_1__one_one.sql", "V2__two.sql", "V10__ten.sql", "R__functions.sql", "R__views.sql"]
        );
    }

    #[test]
    fn prisma_takes_migration_sql_by_folder_name() {
        let dir = folder(&[
            ("20240201000000_b/migration.sql", ""),
            ("20240101000000_a/migration.sql", ""),
            ("migration_lock.toml", ""),
        ]);
        assert_eq!(detect_dir(dir.path()).unwrap(), Format::Prisma);
        assert_eq!(
            names(dir.path(), Format::Prisma),
            ["20240101000000_a/migration.sql", "20240201000000_b/migration.sql"]
        );
    }

    #[test]
    fn drizzle_follows_its_journal() {
        let journal = r#"{"version":"7","dialect":"postgresql","entries":[
            {"idx":1,"version":"7","when":2,"tag":"0000_zeta","breakpoints":true},
            {"idx":0,"version":"7","when":1,"tag":"0001_alpha","breakpoints":true}]}"#;
        let dir = folder(&[("meta/_journal.json", journal), ("0000_zeta.sql", ""), ("0001_alpha.sql", "")]);
        assert_eq!(detect_dir(dir.path()).unwrap(), Format::Drizzle);
        assert_eq!(names(dir.path(), Format::Drizzle), ["0001_alpha.sql", "0000_zeta.sql"]);
        // Without a journal: name order, detected from the breakpoints.
        let dir = folder(&[("0001_b.sql", "select 1;\n--> statement-breakpoint\n"), ("0000_a.sql", "")]);
        assert_eq!(detect_dir(dir.path()).unwrap(), Format::Drizzle);
        assert_eq!(names(dir.path(), Format::Drizzle), ["0000_a.sql", "0001_b.sql"]);
    }

    #[test]
    fn markers_and_layouts_are_detected() {
        let dbmate = folder(&[("20240101_a.sql", "-- migrate:up\nselect 1;\n-- migrate:down\n")]);
        assert_eq!(detect_dir(dbmate.path()).unwrap(), Format::Dbmate);
        let goose = folder(&[("00001_a.sql", "-- +goose Up\nselect 1;\n")]);
        assert_eq!(detect_dir(goose.path()).unwrap(), Format::Goose);
        let supa = folder(&[("supabase/config.toml", ""), ("supabase/migrations/20240101_a.sql", "")]);
        assert_eq!(detect_dir(supa.path()).unwrap(), Format::Supabase);
        assert_eq!(detect_dir(&supa.path().join("supabase")).unwrap(), Format::Supabase);
        assert_eq!(detect_dir(&supa.path().join("supabase/migrations")).unwrap(), Format::Supabase);
        assert_eq!(names(supa.path(), Format::Supabase), ["supabase/migrations/20240101_a.sql"]);
        let sqlx = folder(&[("0001_a.up.sql", ""), ("0001_a.down.sql", ""), ("0002_b.sql", "")]);
        assert_eq!(detect_dir(sqlx.path()).unwrap(), Format::Plain);
        assert_eq!(names(sqlx.path(), Format::Plain), ["0001_a.up.sql", "0002_b.sql"]);
    }

    #[test]
    fn golang_migrate_versions_sort_numerically() {
        let dir = folder(&[("10_c.up.sql", ""), ("2_b.up.sql", ""), ("1_a.up.sql", ""), ("1_a.down.sql", "")]);
        assert_eq!(names(dir.path(), Format::Plain), ["1_a.up.sql", "2_b.up.sql", "10_c.up.sql"]);
        // Without a version on every file, name order.
        let dir = folder(&[("schema.sql", ""), ("10_c.sql", ""), ("2_b.sql", "")]);
        assert_eq!(names(dir.path(), Format::Plain), ["10_c.sql", "2_b.sql", "schema.sql"]);
    }
}
