//! One check per suite per build, shared by every process of the test
//! binary. Test runners such as cargo-nextest run each test in its own
//! process; without this, every process would run the whole check again.
//!
//! Entries live in `target/<profile>/rowfence-gate/` (or
//! `ROWFENCE_GATE_CACHE`), named by the suite and a key over everything the
//! result depends on: the rowfence version, the test binary itself (a rebuild
//! is a new build), the suite file, every schema file's content, the run
//! options and the `ROWFENCE_*` environment. The first process takes an
//! exclusive lock on the key and runs; the others block on the lock and read
//! what it wrote. Writing a new entry removes the suite's older ones.

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::report::Report;
use crate::suite::Suite;

/// What a cache entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The full check (probes included).
    Check,
    /// The static stage only: enough to name the gate's tests for `--list`.
    Plan,
}

impl Entry {
    fn suffix(self) -> &'static str {
        match self {
            Entry::Check => "check.json",
            Entry::Plan => "plan.json",
        }
    }
}

/// The cache slot of one suite under one build and set of options.
#[derive(Debug)]
pub struct GateCache {
    dir: PathBuf,
    /// `<suite stem>-<hash of the suite's path>`: the suite's entries, whatever the key.
    prefix: String,
    key: String,
}

impl GateCache {
    /// The slot for `suite` (loaded from `path`) run with options described
    /// by `options`; `None` when caching is off (`ROWFENCE_GATE_CACHE=off`)
    /// or no directory can be used.
    /// `dir` overrides the environment and the default.
    pub fn open(dir: Option<&Path>, path: &Path, suite: &Suite, options: &str) -> Option<GateCache> {
        let dir = match (dir, std::env::var("ROWFENCE_GATE_CACHE").ok().filter(|v| !v.is_empty())) {
            (Some(d), _) => d.to_path_buf(),
            (None, Some(v)) if v == "off" => return None,
            (None, Some(v)) => PathBuf::from(v),
            (None, None) => default_dir()?,
        };
        fs::create_dir_all(&dir).ok()?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let absolute = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let prefix = format!("{}-{:016x}", sanitize(&stem), hash_of(|h| absolute.hash(h)));
        let key = format!("{:016x}", key_of(&absolute, suite, options));
        Some(GateCache { dir, prefix, key })
    }

    /// The key over everything the result depends on.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn file(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{}-{}.{what}", self.prefix, self.key))
    }

    /// The stored report of `entry`, if this build wrote one.
    pub fn read(&self, entry: Entry) -> Option<Report> {
        let text = fs::read_to_string(self.file(entry.suffix())).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The report of `entry`: read if stored, else made by `run` while
    /// holding the key's lock (other processes wait, then read it). A report
    /// of a run that never reached the catalog (a server that would not
    /// start) is not stored: the next process tries again.
    pub fn get_or_run(&self, entry: Entry, run: impl FnOnce() -> Report) -> Report {
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(self.file("lock"));
        let _held = lock.ok().and_then(|f| Flock::lock(f, FlockArg::LockExclusive).ok());
        if let Some(report) = self.read(entry) {
            return report;
        }
        let report = run();
        if !report.gate.is_empty() || report.error.is_none() {
            self.store(entry, &report);
        }
        report
    }

    /// Remembers where this build's listing keeps its server (see
    /// [`super::keeper`]); `None` forgets a kept server.
    pub fn note_keeper(&self, socket: Option<&Path>) {
        let file = self.file("keeper");
        match socket {
            Some(s) => {
                let _ = fs::write(file, s.as_os_str().as_encoded_bytes());
            }
            None => {
                let _ = fs::remove_file(file);
            }
        }
    }

    /// Where this build's listing keeps its server, if it does; the note is
    /// removed (one check claims the server).
    pub fn take_keeper(&self) -> Option<PathBuf> {
        let file = self.file("keeper");
        let text = fs::read_to_string(&file).ok()?;
        let _ = fs::remove_file(file);
        Some(PathBuf::from(text))
    }

    /// Writes `report` atomically and removes the suite's entries of other keys.
    fn store(&self, entry: Entry, report: &Report) {
        let Ok(json) = serde_json::to_vec(report) else { return };
        let target = self.file(entry.suffix());
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&self.dir) else { return };
        if tmp.write_all(&json).is_err() || tmp.persist(&target).is_err() {
            return;
        }
        let Ok(listing) = fs::read_dir(&self.dir) else { return };
        let mine = format!("{}-{}.", self.prefix, self.key);
        for e in listing.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Lock files of other keys stay: a process of an older build may still hold one.
            if name.starts_with(&format!("{}-", self.prefix)) && !name.starts_with(&mine) && !name.ends_with(".lock") {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// `target/<profile>/rowfence-gate`, from the test binary's own path
/// (`target/<profile>/deps/<binary>`).
fn default_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let base = if dir.file_name().is_some_and(|n| n == "deps") { dir.parent()? } else { dir };
    Some(base.join("rowfence-gate"))
}

/// Everything the check's result depends on.
fn key_of(path: &Path, suite: &Suite, options: &str) -> u64 {
    hash_of(|h| {
        env!("CARGO_PKG_VERSION").hash(h);
        // The binary itself: a rebuild (of rowfence or of the tests) is a new build.
        if let Ok(exe) = std::env::current_exe() {
            exe.hash(h);
            if let Ok(meta) = fs::metadata(&exe) {
                meta.len().hash(h);
                meta.modified().ok().hash(h);
            }
        }
        path.hash(h);
        fs::read(path).ok().hash(h);
        for file in &suite.schema_files {
            file.path.hash(h);
            fs::read(&file.path).ok().hash(h);
        }
        options.hash(h);
        let mut env: Vec<(String, String)> =
            std::env::vars().filter(|(k, _)| k.starts_with("ROWFENCE_") && k != "ROWFENCE_GATE_CACHE").collect();
        env.sort();
        env.hash(h);
    })
}

fn hash_of(f: impl FnOnce(&mut DefaultHasher)) -> u64 {
    // SipHash with fixed keys: stable within one build, which is all a key needs.
    let mut h = DefaultHasher::new();
    f(&mut h);
    h.finish()
}

fn sanitize(stem: &str) -> String {
    stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
