//! How long the static analysis takes once the cluster is up and the schema
//! applied: catalog read + ownership + every lint rule, per repo suite.
//!
//! `cargo bench --bench lint` prints the median of 20 runs per suite. Timings
//! belong here, never in asserting tests: the machine is shared and noisy.

use std::time::{Duration, Instant};

use rowfence::Suite;
use rowfence::catalog::Catalog;
use rowfence::lint::{self, LintContext};
use rowfence::ownership::Ownership;
use rowfence::provision::{ProviderKind, ProvisionOptions, Server};
use rowfence::schema::SourceMap;

const RUNS: usize = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut suites: Vec<_> = std::fs::read_dir("suites").unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    suites.sort();
    println!("{:<36} {:>10} {:>10} {:>9}", "suite", "median ms", "max ms", "findings");
    let mut medians = Vec::new();
    for path in suites {
        let suite = Suite::load(&path).unwrap();
        let mut server =
            Server::start(&ProvisionOptions { kind: ProviderKind::Local, ..Default::default() }).await.unwrap();
        let (db, _) = server.create_scratch().await.unwrap();
        rowfence::schema::apply(&db, &suite).await.unwrap();
        let sources = SourceMap::build(&suite);
        let mut times = Vec::with_capacity(RUNS);
        let mut findings = 0;
        for _ in 0..RUNS {
            let start = Instant::now();
            let catalog = Catalog::read(&db, &suite.app.role, None).await.unwrap();
            let ownership = Ownership::analyse(&catalog, &suite.tenant).unwrap();
            let cx = LintContext::new(&catalog, &ownership, &suite.tenant.setting, &suite.app.role)
                .shared_rows(suite.tenant.shared_rows);
            findings = lint::run(&cx, &sources).len();
            times.push(start.elapsed());
        }
        times.sort();
        let median = times[RUNS / 2];
        medians.push(median);
        println!("{:<36} {:>10.2} {:>10.2} {:>9}", suite.name, ms(median), ms(*times.last().unwrap()), findings);
        drop(db);
        server.shutdown().await;
    }
    medians.sort();
    println!("median over suites: {:.2} ms", ms(medians[medians.len() / 2]));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
