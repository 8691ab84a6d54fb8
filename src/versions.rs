//! Several PostgreSQL versions (`--pg 13,15,17,18`): the same suite on each
//! major version, one docker container per version, at most as many at once
//! as there are cores; the result is a [`VersionMatrix`].
//!
//! Each version is an ordinary [`crate::check`] (or [`crate::lint`]) run with
//! its own image, so provisioning, clean-up and signal handling are the
//! single-version ones. The runs are polled in this task
//! (`buffer_unordered`), not spawned: dropping the future (Ctrl-C) drops every
//! run in flight, and with it its container guard.

use std::time::Instant;

use futures::StreamExt;

use crate::error::Error;
use crate::provision::{ProviderKind, docker};
use crate::report::versions::VersionMatrix;
use crate::report::{Report, Verdict};
use crate::run::RunOptions;
use crate::suite::Suite;

/// What `--image` (or `ROWFENCE_IMAGE`) must contain with `--pg`: it is
/// replaced by each major version (`rowfence/postgres:{major}`).
pub const MAJOR_PLACEHOLDER: &str = "{major}";

/// Parses a comma-separated list of major versions (`13,15,17,18`): each a
/// PostgreSQL major from 10 on, no repeats. The result is in ascending order.
pub fn parse_majors(list: &str) -> Result<Vec<u32>, String> {
    let mut majors = Vec::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("`{list}`: empty entry; expected major versions like 13,15,17,18"));
        }
        let major: u32 = match item.parse() {
            Ok(m) if (10..100).contains(&m) && item.bytes().all(|b| b.is_ascii_digit()) => m,
            _ => {
                return Err(format!(
                    "`{item}` is not a PostgreSQL major version (expected a number from 10 on, like 13,15,17,18)"
                ));
            }
        };
        if majors.contains(&major) {
            return Err(format!("`{list}`: version {major} is listed twice"));
        }
        majors.push(major);
    }
    majors.sort_unstable();
    Ok(majors)
}

/// Checks `suite` (static checks and probes) on each of `majors`.
pub async fn check(suite: &Suite, opts: &RunOptions, majors: &[u32]) -> Result<VersionMatrix, Error> {
    run(suite, opts, majors, false).await
}

/// Runs only the static checks of `suite` on each of `majors`.
pub async fn lint(suite: &Suite, opts: &RunOptions, majors: &[u32]) -> Result<VersionMatrix, Error> {
    run(suite, opts, majors, true).await
}

/// Checks the options a version matrix needs: the docker provider (auto
/// means docker here) and, if an image is named, a `{major}` template.
pub fn validate(opts: &RunOptions) -> Result<(), Error> {
    match opts.provision.kind {
        ProviderKind::Auto | ProviderKind::Docker => {}
        other => {
            return Err(Error::Config(format!(
                "--pg runs each version in its own docker container; it cannot be used with --provider {other} \
                 (drop --provider, or use --provider docker)"
            )));
        }
    }
    if opts.provision.database_url.is_some() {
        return Err(Error::Config(
            "--pg runs each version in its own docker container; it cannot be used with --database-url \
             (or ROWFENCE_DATABASE_URL)"
                .into(),
        ));
    }
    if let Some(image) = &opts.provision.image
        && !image.contains(MAJOR_PLACEHOLDER)
    {
        return Err(Error::Config(format!(
            "--pg needs one image per version, but --image (or ROWFENCE_IMAGE) names the single image `{image}`: \
             use a template such as `rowfence/postgres:{MAJOR_PLACEHOLDER}`, or leave it unset for postgres:<version> \
             (rowfence/postgres:<version> when only that is present)"
        )));
    }
    Ok(())
}

async fn run(suite: &Suite, opts: &RunOptions, majors: &[u32], lint: bool) -> Result<VersionMatrix, Error> {
    validate(opts)?;
    if majors.is_empty() {
        return Err(Error::Config("--pg needs at least one major version".into()));
    }
    docker::engine_available().await.map_err(|e| Error::Provision(crate::provision::ProvisionError::Docker(e)))?;
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get()).min(majors.len());
    let runs = majors.iter().map(|&major| one(suite, opts, major, lint));
    let mut done: Vec<(u32, String, Report)> = futures::stream::iter(runs).buffer_unordered(parallel).collect().await;
    done.sort_by_key(|(major, _, _)| majors.iter().position(|m| m == major));
    Ok(VersionMatrix::new(&suite.name, done))
}

/// One version's run; an error becomes that version's "could not judge" report.
async fn one(suite: &Suite, opts: &RunOptions, major: u32, lint: bool) -> (u32, String, Report) {
    let started = Instant::now();
    let image = match &opts.provision.image {
        Some(template) => Ok(template.replace(MAJOR_PLACEHOLDER, &major.to_string())),
        None => docker::image_for_major(major).await,
    };
    let (image, result) = match image {
        Ok(image) => {
            let mut child = opts.clone();
            child.provision.kind = ProviderKind::Docker;
            child.provision.image = Some(image.clone());
            // Several runs at once: one line per version instead of interleaved stages.
            child.quiet = true;
            child.progress = None;
            // One SQL log per version (runs overlap): run.sql -> run.pg13.sql.
            child.log_sql = opts.log_sql.as_deref().map(|p| per_version(p, major));
            say(opts, &format!("PostgreSQL {major}: starting ({image})"));
            let result = if lint { crate::lint(suite, &child).await } else { crate::check(suite, &child).await };
            (image, result)
        }
        Err(e) => (docker::default_image(major), Err(Error::Provision(e))),
    };
    let report = result.unwrap_or_else(|e| {
        let mut r = Report::error(&suite.name, e.to_string());
        r.suite_file = suite.path.display().to_string();
        r.stats.duration_ms = started.elapsed().as_millis() as u64;
        r
    });
    let outcome = match report.verdict {
        Verdict::Isolated => "isolated".to_string(),
        Verdict::Violated => format!("violated ({} high/critical finding(s))", report.failing().count()),
        Verdict::Error => format!("could not judge: {}", report.error.as_deref().unwrap_or("")),
    };
    say(opts, &format!("PostgreSQL {major}: {outcome} ({:.1}s)", started.elapsed().as_secs_f64()));
    (major, image, report)
}

fn say(opts: &RunOptions, msg: &str) {
    if !opts.quiet {
        crate::note!("rowfence: {msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_majors;

    #[test]
    fn major_lists() {
        assert_eq!(parse_majors("13,15,17,18"), Ok(vec![13, 15, 17, 18]));
        assert_eq!(parse_majors("18, 13"), Ok(vec![13, 18]));
        assert!(parse_majors("12x").unwrap_err().contains("`12x`"));
        assert!(parse_majors("13,,15").is_err());
        assert!(parse_majors("9").is_err());
        assert!(parse_majors("+13").is_err());
        assert!(parse_majors("13,13").unwrap_err().contains("twice"));
        assert!(parse_majors("").is_err());
    }
}

/// `dir/run.sql` -> `dir/run.pg13.sql`.
fn per_version(path: &std::path::Path, major: u32) -> std::path::PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.pg{major}.{}", ext.to_string_lossy()),
        None => format!("{stem}.pg{major}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod log_tests {
    use super::per_version;

    #[test]
    fn each_version_logs_to_its_own_file() {
        assert_eq!(per_version("out/run.sql".as_ref(), 13), std::path::PathBuf::from("out/run.pg13.sql"));
        assert_eq!(per_version("log".as_ref(), 18), std::path::PathBuf::from("log.pg18"));
    }
}
