//! How long the server worked for a stretch of a run (`rowfence bench`).
//!
//! Two measures, because PostgreSQL's own statistics leave out part of its
//! work: pg_stat_statements counts planning and execution only, not parsing,
//! rewriting (where row-level security policies are applied), transaction
//! control or the protocol. For the small statements probes are, that part is
//! most of the cost: even pgbench, a C client doing nothing else, spends about
//! five times the plan+execute time per statement. So on the local provider
//! the backends' CPU time is read as well, from `/proc`.

use crate::db::Db;

/// Counters taken at the start of a stretch.
pub struct ServerTime {
    /// The run's databases (the scratch database and its lane copies).
    databases: Vec<String>,
    /// CPU time (ns) of each backend of the scratch database (local provider only).
    backends: Option<Vec<(u32, u64)>>,
}

impl ServerTime {
    /// Creates pg_stat_statements (after the catalog was read, so the static
    /// checks never see it) and resets it; on a local cluster, also notes the
    /// backends' CPU time. `None` when pg_stat_statements is unavailable.
    pub async fn start(admin: &Db, databases: &[String], local: bool) -> Option<ServerTime> {
        let sql = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()";
        if let Err(e) = admin.batch_execute(sql).await {
            crate::note!("rowfence: cannot measure server time: {}", crate::db::describe(&e));
            return None;
        }
        // Backend PIDs mean something in this process's /proc only when the
        // server runs here, outside a container.
        let databases = databases.to_vec();
        let backends = if local { backend_pids(admin, &databases).await.map(|p| cpu_ns(&p)) } else { None };
        Some(ServerTime { databases, backends })
    }

    /// Milliseconds of plan+execute time (pg_stat_statements) and of backend
    /// CPU time since `start`.
    pub async fn finish(self, admin: &Db) -> (Option<f64>, Option<f64>) {
        let sql = "SELECT coalesce(sum(total_plan_time + total_exec_time), 0)::float8 FROM pg_stat_statements \
                   WHERE dbid IN (SELECT oid FROM pg_database WHERE datname = ANY($1))";
        let exec = admin.query_one(sql, &[&self.databases]).await.ok().map(|r| r.get::<_, f64>(0));
        let busy = self.backends.map(|before| {
            let pids: Vec<u32> = before.iter().map(|(p, _)| *p).collect();
            let after = cpu_ns(&pids);
            let ns: u64 = before.iter().zip(&after).map(|((_, b), (_, a))| a.saturating_sub(*b)).sum();
            ns as f64 / 1e6
        });
        (exec, busy)
    }
}

async fn backend_pids(admin: &Db, databases: &[String]) -> Option<Vec<u32>> {
    let sql = "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)";
    let rows = admin.query(sql, &[&databases]).await.ok()?;
    Some(rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect())
}

/// CPU time of each process in nanoseconds (0 when it is gone): from
/// `/proc/PID/schedstat`, exact to the nanosecond, else utime + stime from
/// `/proc/PID/stat`, in clock ticks of 10 ms, which a short stretch of a few
/// backends can round down to nothing.
fn cpu_ns(pids: &[u32]) -> Vec<(u32, u64)> {
    let ns_per_tick = 1e9 / ticks_per_second();
    pids.iter()
        .map(|&pid| {
            let scheduled = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok();
            if let Some(ns) = scheduled.as_deref().and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok()) {
                return (pid, ns);
            }
            // utime and stime are fields 14 and 15.
            let fields = proc_stat_fields(pid).unwrap_or_default();
            let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
            (pid, ((field(11) + field(12)) as f64 * ns_per_tick) as u64)
        })
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name, which may hold
/// spaces and parentheses: index 0 is field 3 (the state).
pub(crate) fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |t| t as f64)
}
