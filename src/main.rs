//! The `rowfence` command.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, OutputArgs, RenderArgs};
use rowfence::report::console;
use rowfence::{Error, Report, Suite};

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
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rowfence: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            code = run(cli) => code,
            _ = interrupted() => {
                // The run future is dropped here: its guards remove containers,
                // clusters and temp dirs. A second Ctrl-C skips the clean-up.
                tokio::spawn(async {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = writeln!(std::io::stderr(), "rowfence: interrupted again; exiting without clean-up");
                    std::process::exit(130);
                });
                let _ = writeln!(std::io::stderr(), "rowfence: interrupted; cleaning up");
                2
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(15));
    ExitCode::from(code as u8)
}

async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check(args) => {
            if let Some(pg) = &args.provider.pg {
                let (opts, baseline) = (args.run_options(), args.baseline.as_deref());
                return cli::versions::run(&args.suite, pg, opts, cli::versions::Mode::Check, &args.output, baseline)
                    .await;
            }
            let mut opts = args.run_options();
            let bar = progress_bar(args.output.quiet);
            opts.progress = bar.as_ref().map(|(sink, _)| sink.clone());
            let baseline = match args.baseline.as_deref().map(load_report).transpose() {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("rowfence: {e}");
                    return Error::EXIT_CODE;
                }
            };
            let file = args.baseline.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            judge(&args.suite, &args.output, |suite| async move {
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
        Command::Baseline { mut check, out } => {
            // A baseline is the run's JSON report; recording one is not a failure.
            check.output.json = Some(out.clone());
            let opts = check.run_options();
            let code = if let Some(pg) = &check.provider.pg {
                cli::versions::run(&check.suite, pg, opts, cli::versions::Mode::Check, &check.output, None).await
            } else {
                judge(&check.suite, &check.output, |suite| async move { rowfence::check(&suite, &opts).await }).await
            };
            if code == Error::EXIT_CODE {
                return code;
            }
            println!("baseline written to {}", out.display());
            0
        }
        Command::Bench(args) => bench(args).await,
        Command::Lint(args) => {
            let opts = rowfence::RunOptions {
                provision: args.provider.options(),
                quiet: args.output.quiet,
                log_sql: args.output.log_sql.clone(),
                ..Default::default()
            };
            if let Some(pg) = &args.provider.pg {
                return cli::versions::run(&args.suite, pg, opts, cli::versions::Mode::Lint, &args.output, None).await;
            }
            judge(&args.suite, &args.output, |suite| async move { rowfence::lint(&suite, &opts).await }).await
        }
        Command::Report { report, renders } if cli::versions::is_matrix_file(&report) => {
            cli::versions::rerender(&report, &renders)
        }
        Command::Report { report, renders } => match load_report(&report) {
            Ok(r) => match write_renders(&r, &renders) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("rowfence: {e}");
                    Error::EXIT_CODE
                }
            },
            Err(e) => {
                eprintln!(
                    "rowfence: cannot read report {}: {e} (it must be a file written by --json)",
                    report.display()
                );
                Error::EXIT_CODE
            }
        },
        Command::Rules => {
            let mut out = std::io::stdout().lock();
            for r in rowfence::rules::RULES {
                let _ = writeln!(out, "{:<44} {:<9} {}", r.id, r.severity.as_str(), r.title);
            }
            0
        }
        Command::Explain { rule } => match rowfence::rules::rule(&rule) {
            Some(r) => {
                println!(
                    "{} ({})\n\n{}\n\n{}\n\nRemediation:\n{}",
                    r.id,
                    r.severity.as_str(),
                    r.title,
                    r.description,
                    r.remediation
                );
                0
            }
            None => {
                eprintln!("rowfence: no rule `{rule}`; `rowfence rules` lists them");
                Error::EXIT_CODE
            }
        },
    }
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

/// Loads the suite, runs `f`, writes outputs; maps errors to exit 2.
async fn judge<F, Fut>(path: &std::path::Path, output: &OutputArgs, f: F) -> i32
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
        Err(e) => {
            eprintln!("rowfence: {e}");
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let report = Report::error(&name, e.to_string());
            if let Some(json) = &output.json {
                let _ = write_json(&report, json);
            }
            let _ = write_renders(&report, &output.renders);
            Error::EXIT_CODE
        }
    }
}

/// Reads a report saved by `--json` or `rowfence baseline`.
fn load_report(path: &std::path::Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read report {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!("cannot read report {}: {e} (it must be a file written by --json or rowfence baseline)", path.display())
    })
}

/// Writes HTML, JUnit and SARIF renderings where asked.
fn write_renders(report: &Report, r: &RenderArgs) -> Result<(), String> {
    let write = |path: &std::path::Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &r.html {
        write(path, rowfence::report::html::render(report).map_err(|e| format!("cannot render HTML: {e}"))?)?;
    }
    if let Some(path) = &r.junit {
        write(path, rowfence::report::junit::render(report).map_err(|e| format!("cannot render JUnit: {e}"))?)?;
    }
    if let Some(path) = &r.sarif {
        let text = serde_json::to_string_pretty(&rowfence::report::sarif::render(report)).map_err(|e| e.to_string())?;
        write(path, text)?;
    }
    Ok(())
}

/// Writes the requested outputs and prints the console summary.
fn emit(report: &Report, out: &OutputArgs) -> i32 {
    if let Some(path) = &out.json
        && let Err(e) = write_json(report, path)
    {
        eprintln!("rowfence: cannot write {}: {e}", path.display());
        return Error::EXIT_CODE;
    }
    if let Err(e) = write_renders(report, &out.renders) {
        eprintln!("rowfence: {e}");
        return Error::EXIT_CODE;
    }
    let written = out.written();
    let style = console::Style::detect();
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let printed = if out.quiet {
        console::verdict_line(report, style, &mut lock)
    } else {
        console::summary(report, style, &written, &mut lock)
    };
    let _ = printed.and_then(|_| lock.flush());
    report.verdict.exit_code()
}

fn write_json(report: &Report, path: &std::path::Path) -> std::io::Result<()> {
    cli::write_json_file(path, |w| report.write_json(w))
}

async fn bench(args: cli::BenchArgs) -> i32 {
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
    match result {
        Ok(rows) if rows.iter().all(|r| r.verdict == rowfence::Verdict::Isolated) => 0,
        Ok(_) => {
            eprintln!("rowfence: a generated schema was not judged isolated; that is a bug in rowfence");
            1
        }
        Err(e) => {
            eprintln!("rowfence: {e}");
            Error::EXIT_CODE
        }
    }
}
