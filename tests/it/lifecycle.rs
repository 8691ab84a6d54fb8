//! What a run leaves behind: nothing, also when interrupted, and on a
//! server given by URL nothing but what was there before.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rowfence::db::Db;
use rowfence::provision::{Host, ProviderKind, ProvisionOptions, Server};
use rowfence::{RunOptions, Suite, Verdict};

use crate::common::{root, run_containers};

/// Ctrl-C while probing: exit 2, and the cluster and its temp dir are gone.
#[test]
fn interrupt_tears_the_local_cluster_down() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    interrupt_while_probing("local", tmp.path(), || {
        assert!(std::fs::read_dir(tmp.path()).unwrap().count() > 0, "the cluster should exist while probing");
    });
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left behind after Ctrl-C: {left:?}");
}

/// Ctrl-C while probing on Docker: exit 2, and the container is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_removes_the_container() {
    if !crate::common::docker_available().await {
        return;
    }
    let handle = tokio::runtime::Handle::current();
    let pid = tokio::task::spawn_blocking(move || {
        let tmp = tempfile::tempdir().unwrap();
        interrupt_while_probing_pid("docker", tmp.path(), |pid| {
            assert_eq!(handle.block_on(run_containers(pid)), 1, "the container should exist while probing");
            // Its data directory is in memory (ROWFENCE_TMPFS is not off in tests).
            let tmpfs = handle.block_on(crate::common::run_container_tmpfs(pid));
            assert_eq!(tmpfs, ["/var/lib/postgresql"], "the data directory should be a tmpfs");
        })
    })
    .await
    .unwrap();
    assert_eq!(run_containers(pid).await, 0, "container left behind after Ctrl-C");
}

fn interrupt_while_probing(provider: &str, tmp: &std::path::Path, while_probing: impl FnOnce()) {
    interrupt_while_probing_pid(provider, tmp, |_| while_probing());
}

/// Starts a long check, runs `while_probing` once it probes, interrupts it,
/// asserts exit code 2 and returns its pid.
fn interrupt_while_probing_pid(provider: &str, tmp: &std::path::Path, while_probing: impl FnOnce(u32)) -> u32 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rowfence"))
        .args(["check", "suites/dexcyjet-fixed.toml", "--provider", provider, "--cases", "100000"])
        .current_dir(root())
        .env("TMPDIR", tmp)
        .env("ROWFENCE_CLUSTER_DIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep draining stderr in a thread: a closed pipe must not be what ends the run.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let probing = line.contains("probing");
        seen.push(line);
        if probing {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("probing")), "never started probing: {seen:?}");
    while_probing(child.id());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "rowfence did not exit after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2));
    child.id()
}

/// URL mode: a scratch database and the schema's roles come and go; what the
/// server had before is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_provider_touches_only_what_it_created() {
    let mut server =
        Server::start(&ProvisionOptions { kind: ProviderKind::Local, ..Default::default() }).await.unwrap();
    let Host::Socket(dir) = server.endpoint.host.clone() else { panic!("local clusters use sockets") };
    // The cluster lives in memory where the machine allows (a roomy tmpfs /dev/shm).
    assert_eq!(dir.parent(), Some(rowfence::provision::memory::local_root().as_path()));
    let (canary, _) = server.create_scratch().await.unwrap();
    canary
        .batch_execute("CREATE ROLE canary_role; CREATE TABLE canary (x int); INSERT INTO canary VALUES (1)")
        .await
        .unwrap();
    let canary_db: String = canary.query_one("SELECT current_database()::text", &[]).await.unwrap().get(0);

    let url = format!("postgresql:///postgres?user=postgres&host={}&port={}", dir.display(), server.endpoint.port);
    let suite = Suite::load(root().join("suites/dexcyjet.toml")).unwrap();
    let opts = RunOptions {
        provision: ProvisionOptions { kind: ProviderKind::Url, database_url: Some(url), ..Default::default() },
        cases: Some(8),
        ..Default::default()
    };
    let report = rowfence::check(&suite, &opts).await.unwrap();
    assert_eq!(report.verdict, Verdict::Violated);
    assert_eq!(report.postgres.as_ref().unwrap().provider, "url");

    let admin = Db::connect(&server.endpoint.admin_config("postgres")).await.unwrap();
    let dbs: Vec<String> = admin
        .query("SELECT datname::text FROM pg_database WHERE datname LIKE 'rowfence_%'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(dbs, vec![canary_db], "only the canary scratch database may remain");
    let roles: Vec<String> = admin
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname IN ('dexcyjet_app', 'dexcyjet_admin', 'canary_role')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(roles, vec!["canary_role".to_string()], "the schema's roles are dropped, the canary stays");
    let x: i32 = canary.query_one("SELECT x FROM canary", &[]).await.unwrap().get(0);
    assert_eq!(x, 1);
    drop((admin, canary));
    server.shutdown().await;
}

/// A lane's copy of the scratch database keeps its database-level settings,
/// list settings element by element.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_copies_keep_database_settings() {
    let mut server =
        Server::start(&ProvisionOptions { kind: ProviderKind::Local, ..Default::default() }).await.unwrap();
    let (db, name) = server.create_scratch().await.unwrap();
    db.batch_execute(&format!(
        "CREATE SCHEMA app; CREATE ROLE lane_role; \
         ALTER DATABASE {name} SET search_path = app, \"odd, schema\", public; \
         ALTER DATABASE {name} SET app.current_org_id = 'a, b'; \
         ALTER ROLE lane_role IN DATABASE {name} SET work_mem = '8MB'"
    ))
    .await
    .unwrap();
    drop(db);
    let (copy, copy_name) = server.copy_scratch(&name).await.unwrap();
    let rows = |db: &str| {
        let db = db.to_string();
        let copy = &copy;
        async move {
            copy.query(
                "SELECT coalesce(r.rolname::text, ''), s.setconfig::text FROM pg_db_role_setting s \
                 JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole \
                 WHERE d.datname = $1 ORDER BY 1",
                &[&db],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(rows(&name).await, rows(&copy_name).await, "settings of {name} and its copy {copy_name}");
    let path: String = copy.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert_eq!(path, "app, \"odd, schema\", public");
    copy.batch_execute("DROP ROLE lane_role").await.ok();
    drop(copy);
    server.shutdown().await;
}
