//! `rowfence merge`: shard reports back into one report, with one verdict.
//!
//! Each relation's matrix row and findings come from the shard that owns
//! it, which saw everything about it. Causes on no relation (the app role,
//! a definer function, the login's defaults) and causes on relations no
//! shard owns appear in every shard: they are kept once, and the probes each
//! shard saw confirm them are put together. The verdict is then reached as
//! a single run reaches it.

use std::collections::BTreeMap;

use crate::finding::{Agreement, Finding, FindingKind};
use crate::report::{Report, Stats, Verdict};

use super::ShardInfo;

/// Why shard reports cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no reports to merge")]
    Empty,
    /// A report without a shard: an unsharded run, or a shard that failed.
    #[error(
        "{file} is not a shard report (write one with `rowfence check --shard K/N --json FILE`){}",
        why.as_deref().map(|w| format!("; its run could not judge: {w}")).unwrap_or_default()
    )]
    NotAShard {
        /// The report.
        file: String,
        /// The run's error, when it failed before it knew its shard.
        why: Option<String>,
    },
    /// Two reports of different runs (suite, schema, version, cases or seed).
    #[error(
        "{file} is not from the same run as {first}: the suite, schema, PostgreSQL major version, cases, seed or shard count differ"
    )]
    OtherRun {
        /// The report that differs.
        file: String,
        /// The first report.
        first: String,
    },
    /// The same shard twice.
    #[error("shard {shard} appears twice: {first} and {second}")]
    Duplicate {
        /// `K/N`.
        shard: String,
        /// One file.
        first: String,
        /// The other.
        second: String,
    },
    /// Shards missing.
    #[error("shard(s) {} missing; got {}", missing.join(", "), got.join(", "))]
    Missing {
        /// `K/N` of each missing shard.
        missing: Vec<String>,
        /// `file (K/N)` of each report given.
        got: Vec<String>,
    },
}

/// Merges the reports of shards 1..=N of one run (`(file, report)`, any order).
pub fn merge(parts: Vec<(String, Report)>) -> Result<Report, MergeError> {
    let parts = checked(parts)?;
    let owner: BTreeMap<&str, usize> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, (_, _, s))| s.relations.iter().map(move |rel| (rel.as_str(), i)))
        .collect();
    let owned_by = |rel: Option<&str>| rel.and_then(|r| owner.get(r).copied());

    let mut findings: Vec<Finding> = Vec::new();
    for (i, (_, report, _)) in parts.iter().enumerate() {
        for f in &report.findings {
            match owned_by(f.relation.as_deref()) {
                Some(o) if o != i => {}
                Some(_) => findings.push(f.clone()),
                None => match findings.iter_mut().find(|g| g.key() == f.key()) {
                    Some(g) => combine(g, f),
                    None => findings.push(f.clone()),
                },
            }
        }
    }
    let first = &parts[0].1;
    let mut merged = Report::new(&first.suite, first.postgres.clone(), findings, stats(&parts));
    merged.suite_file.clone_from(&first.suite_file);
    merged.contexts.clone_from(&first.contexts);
    merged.posture.clone_from(&first.posture);
    merged.gate.clone_from(&first.gate);
    merged.role.clone_from(&first.role);
    merged.database_settings.clone_from(&first.database_settings);
    merged.isolation = parts
        .iter()
        .enumerate()
        .flat_map(|(i, (_, r, _))| r.isolation.iter().filter(move |row| owned_by(Some(&row.relation)) == Some(i)))
        .cloned()
        .collect();
    merged.isolation.sort_by(|a, b| a.relation.cmp(&b.relation));
    for (_, r, s) in &parts {
        let reasons: Vec<String> = match (r.verdict, r.unjudged.is_empty()) {
            // A shard that could not judge for a reason of its own.
            (Verdict::Error, true) => vec![format!("shard {}: {}", s.shard(), r.error.as_deref().unwrap_or("?"))],
            _ => r.unjudged.clone(),
        };
        for reason in reasons {
            if !merged.unjudged.contains(&reason) {
                merged.unjudged.push(reason);
            }
        }
    }
    merged.judge_coverage();
    Ok(merged)
}

/// The parts, sorted by shard, once each shard of one run is there exactly once.
fn checked(parts: Vec<(String, Report)>) -> Result<Vec<(String, Report, ShardInfo)>, MergeError> {
    let mut out = Vec::with_capacity(parts.len());
    for (file, mut report) in parts {
        let Some(shard) = report.shard.take() else {
            let why = (report.verdict == Verdict::Error).then(|| report.error.clone()).flatten();
            return Err(MergeError::NotAShard { file, why });
        };
        report.shard = Some(shard.clone());
        out.push((file, report, shard));
    }
    let Some((first, _, one)) = out.first() else { return Err(MergeError::Empty) };
    for (file, _, s) in &out[1..] {
        if s.fingerprint != one.fingerprint || s.count != one.count {
            return Err(MergeError::OtherRun { file: file.clone(), first: first.clone() });
        }
    }
    out.sort_by_key(|(_, _, s)| s.index);
    for pair in out.windows(2) {
        if pair[0].2.index == pair[1].2.index {
            let (a, b) = (pair[0].0.clone(), pair[1].0.clone());
            return Err(MergeError::Duplicate { shard: pair[0].2.shard().to_string(), first: a, second: b });
        }
    }
    let count = out[0].2.count;
    let missing: Vec<String> =
        (1..=count).filter(|k| !out.iter().any(|(_, _, s)| s.index == *k)).map(|k| format!("{k}/{count}")).collect();
    if !missing.is_empty() {
        let got = out.iter().map(|(f, _, s)| format!("{f} ({})", s.shard())).collect();
        return Err(MergeError::Missing { missing, got });
    }
    Ok(out)
}

/// Counters of the whole run: work summed, the datasets (the same on every
/// shard) once, and the wall time of the slowest shard (what CI waited for).
fn stats(parts: &[(String, Report, ShardInfo)]) -> Stats {
    let first = &parts[0].1.stats;
    let mut s = Stats { cases: first.cases, loaded: first.loaded, ..Stats::default() };
    let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
    for (_, r, _) in parts {
        let t = &r.stats;
        s.loaded = s.loaded.min(t.loaded);
        s.probes += t.probes;
        s.populated.extend(t.populated.iter().map(|(k, v)| (k.clone(), *v)));
        s.duration_ms = s.duration_ms.max(t.duration_ms);
        s.phases.provision_ms += t.phases.provision_ms;
        s.phases.schema_ms += t.phases.schema_ms;
        s.phases.catalog_ms += t.phases.catalog_ms;
        s.phases.generate_ms += t.phases.generate_ms;
        s.phases.probe_ms += t.phases.probe_ms;
        s.phases.report_ms += t.phases.report_ms;
        s.server_exec_ms = add(s.server_exec_ms, t.server_exec_ms);
        s.server_busy_ms = add(s.server_busy_ms, t.server_busy_ms);
    }
    s
}

/// Folds another shard's copy of a cause into `kept`: the probes each saw
/// are listed once, the shortest reproduction is kept, and a cause some
/// shard's probes confirmed is confirmed.
fn combine(kept: &mut Finding, other: &Finding) {
    let shorter = match (&kept.evidence, &other.evidence) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b.reproduction.len() < a.reproduction.len(),
        _ => false,
    };
    let fresh: Vec<_> = other.probes.iter().filter(|p| !kept.probes.contains(p)).cloned().collect();
    if shorter {
        kept.evidence.clone_from(&other.evidence);
        kept.probe.clone_from(&other.probe);
        kept.operation = other.operation;
        kept.context = other.context;
        // The kept probe goes first.
        let rest = std::mem::take(&mut kept.probes);
        kept.probes = fresh;
        kept.probes.extend(rest);
    } else {
        kept.probes.extend(fresh);
    }
    kept.severity = kept.severity.max(other.severity);
    if other.kind == FindingKind::Dynamic {
        kept.kind = FindingKind::Dynamic;
    }
    if other.agreement == Some(Agreement::Confirmed) {
        kept.agreement = Some(Agreement::Confirmed);
    }
}
