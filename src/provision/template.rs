//! A pristine cluster made by `initdb` once per set of binaries and kept in
//! the user's cache directory; a run copies it instead of running `initdb`
//! (several times faster, and every run and gate listing starts a cluster).
//!
//! The template is built in a private directory and renamed into place, so
//! concurrent runs never see half of one; a run that cannot use the cache
//! (no home, a read-only disk) runs `initdb` as before.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

/// The cache's root: `ROWFENCE_CACHE_DIR`, else `$XDG_CACHE_HOME/rowfence`,
/// else `~/.cache/rowfence`.
fn cache_root() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("ROWFENCE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("rowfence")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("rowfence")))
}

/// Where the template for `bindir` initialised with `flags` lives.
fn slot(bindir: &Path, flags: &[&str]) -> Option<(PathBuf, PathBuf)> {
    let postgres = fs::metadata(bindir.join("postgres")).ok()?;
    let mut h = DefaultHasher::new();
    (bindir, flags, postgres.len(), postgres.modified().ok()).hash(&mut h);
    let root = cache_root()?.join("initdb");
    let dir = root.join(format!("{:016x}", h.finish()));
    Some((root, dir))
}

/// The stored template for `bindir` and `flags`, if there is one.
pub fn find(bindir: &Path, flags: &[&str]) -> Option<PathBuf> {
    let (_, dir) = slot(bindir, flags)?;
    dir.join("PG_VERSION").is_file().then_some(dir)
}

/// Stores the freshly initialised `data` (of a server not yet started) as
/// the template for `bindir` and `flags`; best effort.
pub fn store(bindir: &Path, flags: &[&str], data: &Path) {
    let Some((root, dir)) = slot(bindir, flags) else { return };
    if fs::create_dir_all(&root).is_err() {
        return;
    }
    let Ok(work) = tempfile::Builder::new().prefix(".building-").tempdir_in(&root) else { return };
    let staged = work.path().join("data");
    if copy(data, &staged, None).is_ok() {
        // Another run may have won the race: either way the template is whole.
        let _ = fs::rename(&staged, &dir);
    }
}

/// Copies `template` to `data`, owned by `owner` when given, with the
/// permissions PostgreSQL insists on (the data directory itself 0700).
pub fn copy(template: &Path, data: &Path, owner: Option<(Uid, Gid)>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir(data)?;
    fs::set_permissions(data, fs::Permissions::from_mode(0o700))?;
    chown(data, owner)?;
    copy_into(template, data, owner)
}

fn copy_into(from: &Path, to: &Path, owner: Option<(Uid, Gid)>) -> std::io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            fs::create_dir(&target)?;
            fs::set_permissions(&target, entry.metadata()?.permissions())?;
            chown(&target, owner)?;
            copy_into(&entry.path(), &target, owner)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
            chown(&target, owner)?;
        }
    }
    Ok(())
}

fn chown(path: &Path, owner: Option<(Uid, Gid)>) -> std::io::Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw())),
        None => Ok(()),
    }
}
