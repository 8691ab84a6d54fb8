//! Local provider: a throwaway cluster from the PostgreSQL binaries on this machine.
//!
//! The cluster lives in a private temp dir (in memory when it can, see
//! [`super::memory`]), listens only on a Unix socket in
//! that dir (no TCP port, so nothing else on the machine can reach it), runs
//! with `fsync=off`, and is stopped and deleted when the [`LocalServer`] drops.
//! As root, `initdb` and `postgres` run as the `postgres` user (or `nobody`),
//! since PostgreSQL refuses to run as root.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};

use super::{Endpoint, Host, ProviderKind, ProvisionError, Server, wait_ready};

const PORT: u16 = 5432;

/// How every cluster is initialised (part of the template cache's key).
const INITDB_FLAGS: &[&str] = &["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"];

/// A running local cluster.
pub struct LocalServer {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

/// Finds binaries, initdb's a cluster and starts it (`args`: extra server arguments).
pub async fn start(args: &[String]) -> Result<Server, ProvisionError> {
    let bindir = find_bindir().map_err(ProvisionError::Local)?;
    let dir = tempfile::Builder::new()
        .prefix("rowfence-pg-")
        .tempdir_in(super::memory::local_root())
        .map_err(|e| ProvisionError::Local(format!("cannot create a temp dir: {e}")))?;
    let run_as = unprivileged_user().map_err(ProvisionError::Local)?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(dir.path(), Some(uid.as_raw()), Some(gid.as_raw())).map_err(|e| {
            ProvisionError::Local(format!("cannot hand {} to the postgres user: {e}", dir.path().display()))
        })?;
    }
    let data = dir.path().join("data");
    let log = dir.path().join("postgres.log");

    let init = tokio::task::spawn_blocking({
        let (bindir, data, log) = (bindir.clone(), data.clone(), log.clone());
        move || {
            use super::template;
            if let Some(t) = template::find(&bindir, INITDB_FLAGS) {
                if template::copy(&t, &data, run_as).is_ok() {
                    return Ok(());
                }
                let _ = std::fs::remove_dir_all(&data);
            }
            initdb(&bindir, &data, &log, run_as)?;
            template::store(&bindir, INITDB_FLAGS, &data);
            Ok(())
        }
    })
    .await
    .map_err(|e| ProvisionError::Local(format!("initdb task failed: {e}")))?;
    init.map_err(ProvisionError::Local)?;

    let mut cmd = Command::new(bindir.join("postgres"));
    cmd.arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(dir.path())
        .arg("-p")
        .arg(PORT.to_string())
        .args(["-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=50", "-c", "shared_buffers=64MB"])
        // A case is loaded and reset in one transaction that locks every table and index.
        .args(["-c", "max_locks_per_transaction=512"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(open_log(&log)?)
        .stderr(open_log(&log)?)
        // Own process group: a terminal's Ctrl-C reaches rowfence only, which then
        // shuts the cluster down in order instead of leaving it half-killed.
        .process_group(0);
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let child = cmd
        .spawn()
        .map_err(|e| ProvisionError::Local(format!("cannot start {}: {e}", bindir.join("postgres").display())))?;
    let mut server = LocalServer { child: Some(child), dir: Some(dir) };

    let endpoint = Endpoint {
        host: Host::Socket(server.dir.as_ref().expect("dir").path().to_path_buf()),
        port: PORT,
        user: "postgres".into(),
        password: None,
        maintenance_db: "postgres".into(),
    };
    let config = endpoint.admin_config("postgres");
    let ready = wait_ready(&config, Duration::from_secs(60), || server.check_running(&log)).await;
    if let Err(e) = ready {
        return Err(ProvisionError::Local(format!("{e}\n{}", log_tail(&log))));
    }
    Ok(Server {
        provider: ProviderKind::Local,
        endpoint,
        app_needs_password: false,
        backend: super::Backend::Local(server),
    })
}

impl LocalServer {
    fn check_running(&mut self, log: &Path) -> Result<(), String> {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.child = None;
            return Err(format!("postgres exited during start-up ({status})\n{}", log_tail(log)));
        }
        Ok(())
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if super::keep_requested() {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                crate::note!("rowfence: ROWFENCE_KEEP=1: cluster left running in {}", path.display());
            }
            return;
        }
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
        // TempDir's own drop removes the directory.
        self.dir.take();
    }
}

/// Immediate shutdown (SIGQUIT), then SIGKILL after a grace period. The
/// cluster is deleted next, so a fast shutdown's checkpoint would be wasted
/// (about 100 ms of every run); PostgreSQL still removes its shared memory.
fn stop(child: &mut Child) {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // The whole group: backends must not outlive the postmaster's data dir.
    let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
    let _ = child.wait();
}

fn initdb(bindir: &Path, data: &Path, log: &Path, run_as: Option<(Uid, Gid)>) -> Result<(), String> {
    let mut cmd = Command::new(bindir.join("initdb"));
    cmd.arg("-D")
        .arg(data)
        .args(INITDB_FLAGS)
        .stdin(Stdio::null())
        .stdout(open_log(log).map_err(|e| e.to_string())?)
        .stderr(open_log(log).map_err(|e| e.to_string())?);
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let status = cmd.status().map_err(|e| format!("cannot run {}: {e}", bindir.join("initdb").display()))?;
    if !status.success() {
        return Err(format!("initdb failed ({status})\n{}", log_tail(log)));
    }
    Ok(())
}

fn open_log(path: &Path) -> Result<std::fs::File, ProvisionError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ProvisionError::Local(format!("cannot open {}: {e}", path.display())))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n  ");
    format!("  server log ({}):\n  {tail}", path.display())
}

/// As root: the uid/gid to run PostgreSQL as. Otherwise `None` (run as ourselves).
fn unprivileged_user() -> Result<Option<(Uid, Gid)>, String> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = User::from_name(name) {
            return Ok(Some((user.uid, user.gid)));
        }
    }
    Err("running as root and neither a `postgres` nor a `nobody` user exists to run initdb as".into())
}

/// `PG_BINDIR`, `pg_config --bindir`, `PATH`, then the highest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Result<PathBuf, String> {
    let has_initdb = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if has_initdb(&dir) {
            Ok(dir)
        } else {
            Err(format!("PG_BINDIR={} has no initdb and postgres", dir.display()))
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_initdb(&dir) {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_initdb(&dir) {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_initdb(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL server binaries (initdb, postgres) found via PG_BINDIR, pg_config, PATH or /usr/lib/postgresql/*/bin".into())
}
