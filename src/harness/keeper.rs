//! The listing's server, kept for the check.
//!
//! Under a process-per-test runner (cargo-nextest) the gate's listing and its
//! check run in different processes, and each would start a server and apply
//! the schema: about 0.2 s with local binaries, about a second with Docker.
//! Instead the listing starts a *keeper*, the test binary again, which starts
//! the server, applies the schema, runs the static stage for the test names,
//! and then lends the server (schema applied) to the first process that runs
//! the check. That process skips provisioning and the schema stage.
//!
//! The keeper tears the server down when the first of these happens:
//! - the borrower gives it back, or dies (its connection closes);
//! - the runner that listed the tests (the listing's parent process) exits,
//!   as after `cargo nextest list` or `cargo test -- --list`;
//! - nobody claimed the server within [`UNCLAIMED`];
//! - the keeper gets SIGINT, SIGTERM or SIGHUP.
//!
//! The borrower waits for the teardown before it exits, so a finished test
//! run leaves no server behind. The keeper's socket lives in a private
//! (0700) directory, and its stdout and stderr are closed: it never holds a
//! runner's output pipes open.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::provision::{Endpoint, Host, ProviderKind, Secret, Server};
use crate::report::Report;
use crate::run::Prepared;

/// Set (to the runner's identity) in the keeper's environment. Not a
/// `ROWFENCE_*` name: those are part of the gate cache's key.
const KEEPER_ENV: &str = "__ROWFENCE_GATE_KEEPER";

/// The keeper writes its listing report to this file descriptor, then closes it.
const REPORT_FD: i32 = 3;

/// How long a kept server waits for a check to claim it.
pub const UNCLAIMED: Duration = Duration::from_secs(30);

/// Whether this process was started as a keeper.
pub fn is_keeper() -> bool {
    std::env::var_os(KEEPER_ENV).is_some()
}

/// What the keeper tells the listing.
#[derive(Serialize, Deserialize)]
struct Listing {
    report: Report,
    /// Where the kept server is lent; none when the lint failed.
    socket: Option<PathBuf>,
}

/// What the keeper tells its borrower: how to reach the server as superuser.
#[derive(Serialize, Deserialize)]
struct Handoff {
    provider: ProviderKind,
    /// A TCP host (Docker's mapped port on loopback) or a socket directory.
    host: String,
    socket_dir: bool,
    port: u16,
    user: String,
    password: Option<String>,
    maintenance_db: String,
    app_needs_password: bool,
    dbname: String,
}

/// A keeper's listing: its static-stage report, and where its server waits.
pub(super) struct Kept {
    pub report: Report,
    pub socket: Option<PathBuf>,
}

/// Starts this binary as a keeper (with `args`, which bring a test binary
/// back to [`super::Gate::main`]) and waits for its listing report. `None`
/// when no keeper could run; the caller then lints in-process.
pub(super) fn spawn(args: &[String]) -> Option<Kept> {
    let exe = std::env::current_exe().ok()?;
    let runner = Runner::of(std::os::unix::process::parent_id())?;
    let (mut read, write) = std::io::pipe().ok()?;
    let fd = write.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env(KEEPER_ENV, runner.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: a terminal's Ctrl-C reaches the runner, whose exit the keeper notices.
        .process_group(0);
    // SAFETY: dup2 and fcntl are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let ok = match fd == REPORT_FD {
                true => nix::libc::fcntl(fd, nix::libc::F_SETFD, 0) != -1,
                false => nix::libc::dup2(fd, REPORT_FD) != -1,
            };
            if ok { Ok(()) } else { Err(std::io::Error::last_os_error()) }
        });
    }
    let mut child = cmd.spawn().ok()?;
    drop(write);
    let mut text = String::new();
    let read_ok = read.read_to_string(&mut text).is_ok();
    // Reap it when it ends (the listing may be a long-lived process).
    std::thread::spawn(move || child.wait());
    let listing: Listing = serde_json::from_str(&text).ok().filter(|_| read_ok)?;
    Some(Kept { report: listing.report, socket: listing.socket })
}

/// Runs the keeper: lints `suite` on a server it keeps, reports to the
/// listing, lends the server, and exits when done (see the module docs).
pub(super) async fn keep(lint: impl AsyncFnOnce() -> Result<(Report, Prepared), Report>) {
    // SAFETY: the listing passed this descriptor for us alone (see `spawn`).
    let mut out = unsafe { std::fs::File::from_raw_fd(REPORT_FD) };
    // Not for the server's processes: the listing reads until every copy is closed.
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe { nix::libc::fcntl(REPORT_FD, nix::libc::F_SETFD, nix::libc::FD_CLOEXEC) };
    let Some(runner) = std::env::var(KEEPER_ENV).ok().and_then(|v| v.parse::<Runner>().ok()) else { return };
    let (report, prepared) = match lint().await {
        Ok(kept) => kept,
        Err(report) => {
            let _ = serde_json::to_writer(&mut out, &Listing { report, socket: None });
            return;
        }
    };
    let lent = async {
        let dir = tempfile::Builder::new().prefix("rowfence-gate-").tempdir().ok()?;
        let path = dir.path().join("server");
        let listener = UnixListener::bind(&path).ok()?;
        Some((dir, path, listener))
    }
    .await;
    let Some((dir, path, listener)) = lent else {
        let _ = serde_json::to_writer(&mut out, &Listing { report, socket: None });
        prepared.server.shutdown().await;
        return;
    };
    let sent = serde_json::to_writer(&mut out, &Listing { report, socket: Some(path) }).is_ok() && out.flush().is_ok();
    drop(out);
    let borrower = match sent {
        true => lend(listener, &prepared, &runner).await,
        false => None,
    };
    drop(dir);
    prepared.server.shutdown().await;
    // The borrower waits for this to close: the server is gone by now.
    drop(borrower);
}

/// Waits for a borrower and serves it until it gives the server back (or
/// for the runner's exit, the deadline or a signal, whichever comes first).
/// Returns the borrower's connection, to be closed once the server is down.
async fn lend(listener: UnixListener, prepared: &Prepared, runner: &Runner) -> Option<UnixStream> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        return None;
    };
    let deadline = tokio::time::sleep(UNCLAIMED);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let conn = loop {
        tokio::select! {
            accepted = listener.accept() => if let Ok((conn, _)) = accepted { break Some(conn) },
            _ = tick.tick() => if !runner.alive() { break None },
            _ = &mut deadline => break None,
            _ = term.recv() => break None,
            _ = int.recv() => break None,
            _ = hup.recv() => break None,
        }
    };
    drop(listener);
    let mut conn = conn?;
    let mut line = serde_json::to_vec(&handoff(prepared)).ok()?;
    line.push(b'\n');
    conn.write_all(&line).await.ok()?;
    let mut sink = [0u8; 64];
    tokio::select! {
        _ = async { while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
    Some(conn)
}

fn handoff(prepared: &Prepared) -> Handoff {
    let endpoint = &prepared.server.endpoint;
    let (host, socket_dir) = match &endpoint.host {
        Host::Tcp(h) => (h.clone(), false),
        Host::Socket(dir) => (dir.display().to_string(), true),
    };
    Handoff {
        provider: prepared.server.provider,
        host,
        socket_dir,
        port: endpoint.port,
        user: endpoint.user.clone(),
        password: endpoint.password.as_ref().map(|p| p.expose().to_string()),
        maintenance_db: endpoint.maintenance_db.clone(),
        app_needs_password: prepared.server.app_needs_password,
        dbname: prepared.dbname.clone(),
    }
}

/// Claims the server a keeper lends at `socket`, if it is still there.
pub(super) async fn claim(socket: &Path) -> Option<Prepared> {
    let conn = tokio::time::timeout(Duration::from_secs(2), UnixStream::connect(socket)).await.ok()?.ok()?;
    let mut reader = tokio::io::BufReader::new(conn);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await.ok()?.ok()?;
    let h: Handoff = serde_json::from_str(&line).ok()?;
    let endpoint = Endpoint {
        host: if h.socket_dir { Host::Socket(PathBuf::from(h.host)) } else { Host::Tcp(h.host) },
        port: h.port,
        user: h.user,
        password: h.password.map(Secret::new),
        maintenance_db: h.maintenance_db,
    };
    let server = Server::lent(h.provider, endpoint, h.app_needs_password, reader.into_inner());
    Some(Prepared { server, dbname: h.dbname })
}

/// The process that ran the listing's runner, by pid and start time (a
/// reused pid is another process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Runner {
    pid: u32,
    started: u64,
}

impl Runner {
    fn of(pid: u32) -> Option<Runner> {
        Some(Runner { pid, started: proc_stat(pid)?.1 })
    }

    /// Still running (not gone, not a zombie, not another process on its pid).
    fn alive(&self) -> bool {
        proc_stat(self.pid).is_some_and(|(state, started)| started == self.started && !matches!(state, 'Z' | 'X'))
    }
}

impl std::fmt::Display for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.pid, self.started)
    }
}

impl std::str::FromStr for Runner {
    type Err = ();
    fn from_str(s: &str) -> Result<Runner, ()> {
        let (pid, started) = s.split_once(':').ok_or(())?;
        Ok(Runner { pid: pid.parse().map_err(|_| ())?, started: started.parse().map_err(|_| ())? })
    }
}

/// A process's state and start time (clock ticks after boot) from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let started = fields.nth(18)?.parse().ok()?;
    Some((state, started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_a_live_runner_and_a_changed_start_time_is_not() {
        let me = Runner::of(std::process::id()).unwrap();
        assert!(me.alive());
        assert_eq!(me.to_string().parse::<Runner>(), Ok(me));
        assert!(!Runner { started: me.started + 1, ..me }.alive());
    }
}
