//! The `rowfence` command.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::output::{Exit, Failure, emit, exit_code, fail, write_renders};
use cli::{CheckArgs, Cli, Command, ReportArgs};
use rowfence::{Error, Report, Suite, Verdict};

// The probe stage allocates and frees a buffer or two per statement, hundreds
// of thousands of times: glibc's malloc spent about a quarter of the client's
// CPU on that (`perf`, `rowfence bench --tables 200`), mimalloc a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ROWFENCE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    // One thread: every connection's driver task and the probes that use it
    // then wake each other without crossing threads, which `rowfence bench`
    // measured at about 10 % of the probe stage. The server does the heavy work
    // in its own processes.
    if let Command::Gate { suite, args } = &cli.command {
        // The gate runs its own runtime, and exits like a test binary.
        let keeper = vec!["gate".to_string(), suite.display().to_string()];
        let args =
            libtest_mimic::Arguments::from_iter(std::iter::once("rowfence gate".to_string()).chain(args.clone()));
        rowfence::harness::Gate::new(suite).keeper(keeper).main(&args);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            return ExitCode::from(exit_code(Err(Failure(format!("cannot start the async runtime: {e}")))));
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            result = run(cli) => exit_code(result),
            _ = interrupted() => {
                // The run future is dropped here: its guards remove containers,
                // clusters and temp dirs. A second Ctrl-C skips the clean-up.
                tokio::spawn(async {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = writeln!(std::io::stderr(), "rowfence: interrupted again; exiting without clean-up");
                    std::process::exit(130);
                });
                let _ = writeln!(std::io::stderr(), "rowfence: interrupted; cleaning up");
                Error::EXIT_CODE as u8
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(15));
    ExitCode::from(code)
}

async fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Check(args) => check(&args).await,
        Command::Baseline { check: mut args, out } => {
            // A baseline is the run's JSON report; recording one is not a failure.
            args.output.report.json = Some(out.clone());
            match check(&args).await? {
                Exit::Judged(Verdict::Error) => Ok(Exit::Judged(Verdict::Error)),
                _ => {
                    println!("baseline written to {}", out.display());
                    Ok(Exit::Done)
                }
            }
        }
        Command::Bench(args) => bench(args).await,
        Command::Gate { .. } => unreachable!("handled before the runtime starts"),
        Command::Lint(args) => {
            let opts = rowfence::RunOptions {
                provision: args.provider.options(),
                quiet: args.output.report.quiet,
                log_sql: args.output.log_sql.clone(),
                ..Default::default()
            };
            if let Some(pg) = &args.provider.pg {
                return cli::versions::run(&args.suite, pg, opts, cli::versions::Mode::Lint, &args.output.report, None)
                    .await;
            }
            judge(&args.suite, &args.output.report, |suite| async move { rowfence::lint(&suite, &opts).await }).await
        }
        Command::Merge(args) => merge(args),
        Command::Report { report, renders } => {
            if cli::versions::is_matrix_file(&report) {
                write_renders(&cli::versions::load_matrix(&report)?, &renders)?;
            } else {
                write_renders(&load_report(&report)?, &renders)?;
            }
            Ok(Exit::Done)
        }
        Command::Rules => {
            let mut out = std::io::stdout().lock();
            for r in rowfence::rules::RULES {
                let _ = writeln!(out, "{:<44} {:<9} {}", r.id, r.severity.as_str(), r.title);
            }
            Ok(Exit::Done)
        }
        Command::Explain { rule } => {
            let r = rowfence::rules::rule(&rule)
                .ok_or_else(|| Failure(format!("no rule `{rule}`; `rowfence rules` lists them")))?;
            println!(
                "{} ({})\n\n{}\n\n{}\n\nRemediation:\n{}",
                r.id,
                r.severity.as_str(),
                r.title,
                r.description,
                r.remediation
            );
            Ok(Exit::Done)
        }
    }
}

/// `rowfence check` (and `baseline`): one version, or `--pg` several.
async fn check(args: &CheckArgs) -> Result<Exit, Failure> {
    let mut opts = args.run_options();
    if let Some(shard) = args.shard {
        if args.provider.pg.is_some() {
            return Err(Failure(format!(
                "--shard {shard} with --pg: run one shard per version (a CI matrix of shards x versions) and merge each version's shards"
            )));
        }
        if args.baseline.is_some() {
            return Err(Failure(format!(
                "--shard {shard} with --baseline: a shard sees only its part; give the baseline to `rowfence merge --baseline`"
            )));
        }
    }
    if let Some(pg) = &args.provider.pg {
        let baseline = args.baseline.as_deref();
        return cli::versions::run(&args.suite, pg, opts, cli::versions::Mode::Check, &args.output.report, baseline)
            .await;
    }
    let bar = progress_bar(args.output.report.quiet);
    opts.progress = bar.as_ref().map(|(sink, _)| sink.clone());
    let baseline = match args.baseline.as_deref().map(load_report).transpose() {
        Ok(b) => b,
        Err(Failure(e)) => return fail(&args.suite, e, &args.output.report),
    };
    let file = args.baseline.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    judge(&args.suite, &args.output.report, |suite| async move {
        let result = rowfence::check(&suite, &opts).await;
        if let Some((_, bar)) = &bar {
            bar.finish_and_clear();
        }
        let mut report = result?;
        if let Some(b) = &baseline {
            report.compare_with(b, &file);
        }
        Ok(report)
    })
    .await
}

/// A progress bar on stderr (only on a terminal, and not with --quiet).
struct Bar(indicatif::ProgressBar);

impl rowfence::Progress for Bar {
    fn stage(&self, message: &str) {
        self.0.set_message(message.to_string());
        self.0.tick();
    }

    fn cases(&self, done: u32, total: u32) {
        if self.0.length() != Some(total as u64) {
            self.0.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} cases")
                    .expect("template")
                    .progress_chars("=> "),
            );
            self.0.set_length(total as u64);
        }
        self.0.set_position(done as u64);
    }
}

/// A progress sink when stderr is a terminal and the user did not ask for quiet.
fn progress_bar(quiet: bool) -> Option<(rowfence::ProgressSink, indicatif::ProgressBar)> {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some((rowfence::ProgressSink(std::sync::Arc::new(Bar(bar.clone()))), bar))
}

/// Resolves on the first Ctrl-C, SIGTERM or SIGHUP (how CI timeouts and
/// closed terminals end a job): all of them tear down what the run created.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

/// Loads the suite, runs `f` and writes the outputs.
async fn judge<F, Fut>(path: &std::path::Path, output: &ReportArgs, f: F) -> Result<Exit, Failure>
where
    F: FnOnce(Suite) -> Fut,
    Fut: std::future::Future<Output = Result<Report, Error>>,
{
    let result = match Suite::load(path) {
        Ok(suite) => f(suite).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(report) => emit(&report, output),
        Err(e) => fail(path, e.to_string(), output),
    }
}

/// `rowfence merge`: the shards' reports as one run's.
fn merge(args: cli::MergeArgs) -> Result<Exit, Failure> {
    let parts = args
        .reports
        .iter()
        .map(|p| Ok((p.display().to_string(), load_report(p)?)))
        .collect::<Result<Vec<_>, Failure>>()?;
    let mut report = rowfence::shard::merge(parts)?;
    if let Some(path) = &args.baseline {
        report.compare_with(&load_report(path)?, &path.display().to_string());
    }
    emit(&report, &args.output)
}

/// Reads a report saved by `--json` or `rowfence baseline`.
fn load_report(path: &std::path::Path) -> Result<Report, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure(format!("cannot read report {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure(format!(
            "cannot read report {}: {e} (it must be a file written by --json or rowfence baseline)",
            path.display()
        ))
    })
}

async fn bench(args: cli::BenchArgs) -> Result<Exit, Failure> {
    let opts = rowfence::bench::BenchOptions {
        tables: args.tables,
        cases: args.cases,
        seed: args.seed,
        repeat: args.repeat,
        provision: args.provider.options(),
        keep: args.keep,
        jobs: args.jobs.map(usize::from),
    };
    println!("{}", rowfence::bench::markdown_header());
    let result = rowfence::bench::run(&opts, |row| {
        println!("{}", rowfence::bench::markdown_row(row));
    })
    .await;
    if result?.iter().all(|r| r.verdict == Verdict::Isolated) {
        Ok(Exit::Judged(Verdict::Isolated))
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "rowfence: a generated schema was not judged isolated; that is a bug in rowfence"
        );
        Ok(Exit::Judged(Verdict::Violated))
    }
}
