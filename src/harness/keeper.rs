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
//! The last two also end a keeper whose server is still starting. The
//! borrower waits for the teardown before it exits, so a finished test run
//! leaves no server behind.
//!
//! Trust: the socket lives in a private (0700) directory, each end checks
//! that the other runs as the same user, and the handoff names the gate's
//! cache key, which the borrower compares with its own (a keeper whose
//! schema files changed after the listing asked lends nothing). Only local
//! and Docker servers are lent, never one given by URL. The keeper never
//! holds a runner's output pipes open: its stdout is closed and its stderr
//! goes to a file the listing repeats on its own stderr.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
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
    /// The gate cache key the server's schema was applied for.
    key: String,
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
/// back to [`super::Gate::main`]) for the gate whose cache key is `key`, and
/// waits for its listing report. `None` when no keeper could run; the caller
/// then lints in-process. What the keeper wrote on stderr until then (a
/// "docker not used" note, say) is repeated on this process's stderr.
pub(super) fn spawn(args: &[String], key: &str) -> Option<Kept> {
    let exe = std::env::current_exe().ok()?;
    let runner = Runner::of(std::os::unix::process::parent_id())?;
    let (mut read, write) = std::io::pipe().ok()?;
    // Not the listing's stderr: a runner reads that until every copy is closed.
    let notes = tempfile::NamedTempFile::new().ok()?;
    let fd = write.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env(KEEPER_ENV, format!("{runner} {key}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(notes.reopen().ok()?)
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
    if let Ok(noted) = std::fs::read_to_string(notes.path())
        && !noted.is_empty()
    {
        crate::note!("{}", noted.trim_end());
    }
    let listing: Listing = serde_json::from_str(&text).ok().filter(|_| read_ok)?;
    Some(Kept { report: listing.report, socket: listing.socket })
}

/// Runs the keeper: lints on a server it keeps (`lint`), reports to the
/// listing, lends the server, and returns once it is torn down (see the
/// module docs). `key_now` is the gate's cache key as this process computes
/// it after the lint: a server is lent only when that is still the key the
/// listing was asked for (no schema file changed in between).
pub(super) async fn keep(
    lint: impl AsyncFnOnce() -> Result<(Report, Prepared), Report>,
    key_now: impl FnOnce() -> Option<String>,
) {
    // SAFETY: the listing passed this descriptor for us alone (see `spawn`).
    let out = unsafe { std::fs::File::from_raw_fd(REPORT_FD) };
    // Not for the server's processes: the listing reads until every copy is closed.
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe { nix::libc::fcntl(REPORT_FD, nix::libc::F_SETFD, nix::libc::FD_CLOEXEC) };
    let Some((runner, key)) = std::env::var(KEEPER_ENV).ok().and_then(|v| {
        let (runner, key) = v.split_once(' ')?;
        Some((runner.parse::<Runner>().ok()?, key.to_string()))
    }) else {
        return;
    };
    let Some(mut stop) = Stop::new(runner) else { return };
    // A signal or the runner's exit while the server starts: dropping the
    // lint drops the server, which tears it down.
    let linted = tokio::select! {
        linted = lint() => linted,
        _ = stop.wait(true) => return,
    };
    let (report, prepared) = match linted {
        Ok(kept) => kept,
        Err(report) => {
            send(out, &Listing { report, socket: None });
            return;
        }
    };
    let lent = async {
        if key_now()? != key {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("rowfence-gate-").tempdir().ok()?;
        let path = dir.path().join("server");
        let listener = UnixListener::bind(&path).ok()?;
        Some((dir, path, listener))
    }
    .await;
    let socket = lent.as_ref().map(|(_, path, _)| path.clone());
    let sent = send(out, &Listing { report, socket });
    let borrower = match lent {
        // The socket's directory goes when the lending ends.
        Some((_dir, _, listener)) if sent => lend(listener, &prepared, &key, &mut stop).await,
        _ => None,
    };
    prepared.server.shutdown().await;
    // The borrower waits for this to close: the server is gone by now.
    drop(borrower);
}

/// Writes the listing's message and closes the descriptor (the listing reads
/// until then); false when the listing is gone.
fn send(mut out: std::fs::File, listing: &Listing) -> bool {
    serde_json::to_vec(listing).is_ok_and(|json| out.write_all(&json).is_ok())
}

/// What ends a keeper early: SIGTERM, SIGINT, SIGHUP, or the runner's exit.
struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    tick: tokio::time::Interval,
    runner: Runner,
}

impl Stop {
    fn new(runner: Runner) -> Option<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Stop {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
            tick: tokio::time::interval(Duration::from_millis(50)),
            runner,
        })
    }

    /// Returns on a signal, or (`watch_runner`) once the runner has exited.
    async fn wait(&mut self, watch_runner: bool) {
        let Stop { term, int, hup, tick, runner } = self;
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = int.recv() => return,
                _ = hup.recv() => return,
                _ = tick.tick() => if watch_runner && !runner.alive() { return },
            }
        }
    }
}

/// Whether the other end of `conn` runs as this process's user.
fn same_user(conn: &UnixStream) -> bool {
    conn.peer_cred().is_ok_and(|c| c.uid() == nix::unistd::getuid().as_raw())
}

/// Waits for a borrower and serves it until it gives the server back (or
/// for the runner's exit, the deadline or a signal, whichever comes first).
/// Returns the borrower's connection, to be closed once the server is down.
async fn lend(listener: UnixListener, prepared: &Prepared, key: &str, stop: &mut Stop) -> Option<UnixStream> {
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((conn, _)) if same_user(&conn) => return conn,
                Ok(_) => {}
                // E.g. out of descriptors: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    let mut conn = tokio::select! {
        conn = accept => Some(conn),
        _ = stop.wait(true) => None,
        _ = tokio::time::sleep(UNCLAIMED) => None,
    }?;
    drop(listener);
    let mut line = serde_json::to_vec(&handoff(prepared, key)).ok()?;
    line.push(b'\n');
    conn.write_all(&line).await.ok()?;
    // Lent: until the borrower gives it back (or dies), or a signal.
    tokio::select! {
        _ = crate::provision::until_closed(&mut conn) => {}
        _ = stop.wait(false) => {}
    }
    Some(conn)
}

fn handoff(prepared: &Prepared, key: &str) -> Handoff {
    let endpoint = &prepared.server.endpoint;
    let (host, socket_dir) = match &endpoint.host {
        Host::Tcp(h) => (h.clone(), false),
        Host::Socket(dir) => (dir.display().to_string(), true),
    };
    Handoff {
        key: key.to_string(),
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

/// Claims the server a keeper lends at `socket`, if it is still there, runs
/// as this user, and applied the schema of the gate whose cache key is `key`.
pub(super) async fn claim(socket: &Path, key: &str) -> Option<Prepared> {
    let conn = tokio::time::timeout(Duration::from_secs(2), UnixStream::connect(socket)).await.ok()?.ok()?;
    if !same_user(&conn) {
        return None;
    }
    let mut reader = tokio::io::BufReader::new(conn);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await.ok()?.ok()?;
    let h: Handoff = serde_json::from_str(&line).ok()?;
    // Only servers a keeper started: never one given by URL.
    if h.key != key || !matches!(h.provider, ProviderKind::Local | ProviderKind::Docker) {
        return None;
    }
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
    let fields = crate::measure::proc_stat_fields(pid)?;
    // Fields 3 (state) and 22 (starttime).
    Some((fields.first()?.chars().next()?, fields.get(19)?.parse().ok()?))
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
