//! Where a throwaway server keeps its files: in memory when the machine allows.
//!
//! On a disk-backed file system PostgreSQL pays for every file it creates,
//! extends and removes (`CREATE DATABASE`, the per-case `TRUNCATE`, a
//! schema's tables and indexes) even with `fsync=off`: on an ext4 virtual disk
//! one `CREATE DATABASE` takes about 250 ms, in a tmpfs about 25 ms. A
//! scratch cluster holds a few hundred MB at most and is never kept, so
//! memory is the right place for it. `ROWFENCE_CLUSTER_DIR=DIR` puts local
//! clusters in DIR; `ROWFENCE_TMPFS=off` keeps them on disk (the temp dir,
//! `TMPDIR`) and containers on the engine's storage.

use std::path::{Path, PathBuf};

/// Where `/dev/shm` is: the tmpfs every Linux system mounts.
const SHM: &str = "/dev/shm";

/// Free space a tmpfs needs before a local cluster goes there: the template
/// alone is about 40 MB, and a container's `/dev/shm` is often only 64 MB.
const MIN_FREE_BYTES: u64 = 1 << 30;

/// Whether clusters may live in memory (`ROWFENCE_TMPFS` is not `off`/`0`).
pub fn allowed() -> bool {
    std::env::var("ROWFENCE_TMPFS").map_or(true, |v| !matches!(v.trim(), "off" | "0" | "false"))
}

/// The directory a local cluster's temp dir goes in: `ROWFENCE_CLUSTER_DIR`,
/// else `/dev/shm` when it is a writable tmpfs with at least 1 GiB free,
/// else the temp dir.
pub fn local_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROWFENCE_CLUSTER_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let shm = Path::new(SHM);
    if allowed() && roomy_tmpfs(shm) { shm.to_path_buf() } else { std::env::temp_dir() }
}

fn roomy_tmpfs(dir: &Path) -> bool {
    use nix::sys::{statfs, statvfs};
    let is_tmpfs = statfs::statfs(dir).is_ok_and(|s| s.filesystem_type() == statfs::TMPFS_MAGIC);
    let free = statvfs::statvfs(dir).map_or(0, |s| s.blocks_available() * s.fragment_size());
    let writable = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK).is_ok();
    is_tmpfs && writable && free >= MIN_FREE_BYTES
}

/// The path in a container whose files go in a tmpfs: it holds `PGDATA` of
/// the official images (`/var/lib/postgresql/data` up to 17,
/// `/var/lib/postgresql/18/docker` from 18) and of rowfence's own.
pub const CONTAINER_DATA: &str = "/var/lib/postgresql";
