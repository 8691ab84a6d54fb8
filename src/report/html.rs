//! The HTML security review: `report-template.html` (at the repository root,
//! compiled in) rendered with minijinja. The template escapes every value;
//! nothing from the schema is marked safe.
//!
//! This module turns the report into what the page shows: the causes in
//! "what to fix first" order, each cause's probes with the run's context
//! names, reproductions whose shared dataset is printed once, and the rules'
//! descriptions once per rule. The page has to stay small (a 50-table report
//! is well under 500 KB) and self-contained.

use std::fmt::Write as _;

use minijinja::{AutoEscape, Environment, Output, State, Value as JValue, context};
use serde_json::{Value, json};

use super::{ContextKind, Finding, OPERATIONS, Operation, Report};
use crate::rules::Severity;

const TEMPLATE: &str = include_str!("../../report-template.html");

const ORDER: [Severity; 5] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

/// Probes listed one per row under a cause; the rest are summarised in a line.
const PROBE_ROWS: usize = 8;
/// Medium causes listed under "what to fix first" after the failing ones.
const MEDIUM_ROWS: usize = 10;

/// A dataset several reproductions load is printed once from this size on;
/// a smaller one stays in each reproduction, which then copies in one piece.
const SHARED_DATASET_BYTES: usize = 4096;

/// The indirect paths of the isolation matrix (grouped apart from the direct statements).
const INDIRECT: [Operation; 3] = [Operation::Execute, Operation::Copy, Operation::Write];

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_formatter(formatter);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_template("report.html", TEMPLATE)?;

    let contexts = contexts(report);
    let name = |k: ContextKind| report.context_name(k).to_string();
    let datasets = Datasets::new(&report.findings);
    let every = every_relation(report);

    let causes: Vec<Value> = report
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut c = cause(i, f, &name, contexts.len(), &datasets, every);
            if !f.probes.is_empty() {
                c["probe_summary"] = f.probe_summary(|k| report.context_name(k)).into();
            }
            c
        })
        .collect();
    let counts: Vec<Value> = ORDER
        .iter()
        .map(
            |s| json!({ "severity": s.as_str(), "count": report.findings.iter().filter(|f| f.severity == *s).count() }),
        )
        .collect();
    let groups: Vec<Value> = ORDER
        .iter()
        .filter(|s| report.findings.iter().any(|f| f.severity == **s))
        .map(|s| {
            let mut members: Vec<(&Finding, &Value)> =
                report.findings.iter().zip(&causes).filter(|(f, _)| f.severity == *s).collect();
            // Low and info causes are rows of a table, one run of rows per rule.
            let compact = *s < Severity::Medium;
            if compact {
                members.sort_by_key(|(f, _)| f.rule.to_string());
            }
            let members: Vec<&Value> = members.into_iter().map(|(_, c)| c).collect();
            json!({ "severity": s.as_str(), "compact": compact, "findings": members })
        })
        .collect();

    let (fix_first, medium, accepted) = fix_first(report, &causes);
    let medium_more = medium.len().saturating_sub(MEDIUM_ROWS);
    let medium: Vec<&Value> = medium.into_iter().take(MEDIUM_ROWS).collect();

    let mut rules: Vec<Value> = Vec::new();
    for f in &report.findings {
        let id = f.rule.to_string();
        if !rules.iter().any(|r| r["id"] == id) {
            let r = f.rule.rule();
            rules.push(json!({ "id": id, "title": r.title, "description": r.description }));
        }
    }
    rules.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));

    let operations: Vec<Value> = OPERATIONS
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let indirect = INDIRECT.contains(op);
            let first_indirect = indirect && (i == 0 || !INDIRECT.contains(&OPERATIONS[i - 1]));
            json!({ "name": op.as_str(), "indirect": indirect, "first_indirect": first_indirect })
        })
        .collect();
    let matrix: Vec<Value> = report
        .isolation
        .iter()
        .map(|row| {
            let hit = row.cells.iter().any(|c| c.states.contains(&super::CellState::Violation));
            json!({ "relation": row.relation, "hit": hit, "cells": row.cells })
        })
        .collect();
    let untested: Vec<Value> = report
        .isolation
        .iter()
        .flat_map(|row| {
            row.cells.iter().flat_map(move |cell| cell.untested.iter().map(move |u| (row, cell, u)))
        })
        .map(|(row, cell, u)| {
            json!({ "relation": row.relation, "operation": cell.operation.as_str(), "context": name(u.context), "reason": u.reason })
        })
        .collect();

    env.get_template("report.html")?.render(context! {
        report => report,
        generated_at => report.generated_at.replace('T', " ").trim_end_matches('Z').to_string() + " UTC",
        duration => format!("{:.1} s", report.stats.duration_ms as f64 / 1000.0),
        counts => counts,
        groups => groups,
        fix_first => fix_first,
        medium => medium,
        medium_more => medium_more,
        accepted => accepted,
        datasets => datasets.shared(),
        rules => rules,
        operations => operations,
        contexts => contexts.iter().map(ContextView::to_json).collect::<Vec<_>>(),
        matrix => matrix,
        untested => untested,
        posture => &report.posture,
        role => &report.role,
        database_settings => &report.database_settings,
    })
}

/// Writes values HTML-escaped. minijinja's own escaping also turns `'` and
/// `/` into entities, which multiplies the size of SQL (every literal is
/// quoted). Escaping `&`, `<`, `>` and `"` is enough for element content and
/// for double-quoted attributes, and the template quotes every attribute that
/// holds a value with `"`.
fn formatter(out: &mut Output, state: &State, value: &JValue) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            out.write_str(&escape(s)).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `&`, `<`, `>` and `"` as entities.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A context column as the page names it.
struct ContextView {
    kind: ContextKind,
    name: String,
    /// One character, unique in the run: the matrix's column heads.
    abbr: String,
    /// What the context is, in words.
    label: &'static str,
}

impl ContextView {
    fn to_json(&self) -> Value {
        json!({ "kind": self.kind.as_str(), "name": self.name, "abbr": self.abbr, "label": self.label })
    }
}

/// The run's contexts with the names the report gives them (`member`,
/// `anon` ...) and a one-letter abbreviation each that no other context of
/// the run shares.
fn contexts(report: &Report) -> Vec<ContextView> {
    let mut taken: Vec<char> = Vec::new();
    report
        .contexts
        .iter()
        .map(|c| {
            let own = kind_letter(c.kind);
            let initial = c.name.chars().find(|ch| ch.is_alphanumeric()).map(|ch| ch.to_ascii_uppercase());
            // A classic name keeps its classic letter; another name its initial first.
            let mut candidates: Vec<char> = Vec::new();
            if c.name == c.kind.as_str() {
                candidates.push(own);
            }
            candidates.extend(initial);
            candidates.push(own);
            candidates.extend(c.name.chars().filter(|ch| ch.is_alphanumeric()).map(|ch| ch.to_ascii_uppercase()));
            candidates.extend('1'..='9');
            let abbr = candidates.into_iter().find(|ch| !taken.contains(ch)).unwrap_or('?');
            taken.push(abbr);
            ContextView { kind: c.kind, name: c.name.clone(), abbr: abbr.to_string(), label: label(c.kind, &c.name) }
        })
        .collect()
}

fn kind_letter(kind: ContextKind) -> char {
    match kind {
        ContextKind::Tenant => 'T',
        ContextKind::NoneFresh => 'F',
        ContextKind::NoneAfterReset => 'R',
        ContextKind::UnknownTenant => 'U',
        ContextKind::MemberOfTwo => '2',
        ContextKind::UserControlled => 'C',
    }
}

fn label(kind: ContextKind, name: &str) -> &'static str {
    let anon = name.starts_with("anon");
    match kind {
        ContextKind::Tenant if name == "member" => "a member of the tenant",
        ContextKind::Tenant => "a tenant's own context",
        ContextKind::NoneFresh if anon => "the anonymous role, fresh session",
        ContextKind::NoneFresh => "no context, fresh session",
        ContextKind::NoneAfterReset if anon => "the anonymous role, after a signed-in request",
        ContextKind::NoneAfterReset => "no context, after a reset",
        ContextKind::UnknownTenant if name == "non-member" => "a user who is a member of no tenant",
        ContextKind::UnknownTenant => "a tenant key nobody has",
        ContextKind::MemberOfTwo => "a user who is a member of two tenants",
        ContextKind::UserControlled => "another tenant's key in claims the user can edit",
    }
}

/// How many relations a check saw: what a cause with no relation (the app
/// role's, the database's) reaches.
fn every_relation(report: &Report) -> usize {
    report.posture.len().max(report.isolation.len())
}

/// The anchor of the `i`-th finding's detail.
fn anchor(i: usize) -> String {
    format!("c-{}", i + 1)
}

/// One cause as the page shows it: the finding's fields, its anchor, its
/// reach, its probes with context names, and its reproduction split around a
/// shared dataset.
fn cause(
    i: usize,
    f: &Finding,
    name: &impl Fn(ContextKind) -> String,
    all_contexts: usize,
    datasets: &Datasets,
    every: usize,
) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    let Some(obj) = v.as_object_mut() else { return v };
    let rule = f.rule.rule();
    obj.insert("anchor".into(), anchor(i).into());
    obj.insert("title".into(), rule.title.into());

    // Where it lies: the object says the relation too when it is a policy on it.
    let target = match (&f.relation, &f.object) {
        (Some(r), Some(o)) if o == r || o.ends_with(&format!(" ON {r}")) => o.clone(),
        (Some(r), Some(o)) => format!("{r} · {o}"),
        (Some(r), None) => r.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => String::new(),
    };
    obj.insert("target".into(), target.into());

    let reach = Reach::of(f, every);
    obj.insert("reach".into(), reach.label().into());
    obj.insert("reach_relations".into(), reach.relations.into());
    obj.insert("probe_count".into(), f.probes.len().into());
    if let Some(c) = f.context {
        obj.insert("context_name".into(), name(c).into());
    }

    let role_level = f.relation.is_none();
    let rows: Vec<Value> = f
        .probes
        .iter()
        .take(PROBE_ROWS)
        .map(|p| {
            let contexts = if p.contexts.len() > 1 && p.contexts.len() == all_contexts {
                "every context".to_string()
            } else {
                p.contexts.iter().map(|c| name(*c)).collect::<Vec<_>>().join(", ")
            };
            let relation = p.relation.as_ref().filter(|r| role_level || Some(*r) != f.relation.as_ref());
            json!({
                "probe": p.probe,
                "operation": p.operation.as_str(),
                "relation": relation,
                "contexts": contexts,
                "sql": p.sql,
                "observed": p.observed,
            })
        })
        .collect();
    obj.insert("probe_rows".into(), rows.into());
    if f.probes.len() > PROBE_ROWS {
        obj.insert("probes_more".into(), (f.probes.len() - PROBE_ROWS).into());
        obj.insert("probes_more_summary".into(), rest_summary(f, &f.probes[PROBE_ROWS..], name).into());
    }

    if let Some(ev) = &f.evidence {
        let repro = match datasets.split(&ev.reproduction) {
            Some((head, n, tail)) => {
                let d = &datasets.list[n];
                json!({ "head": head, "tail": tail, "dataset": { "anchor": d.anchor, "n": n + 1, "statements": d.statements } })
            }
            None => json!({ "head": ev.reproduction }),
        };
        obj.insert("repro".into(), repro);
    }
    v
}

/// What a cause touches: relations, probes and contexts.
struct Reach {
    relations: usize,
    /// A cause with no relation (the app role's, the database's): every relation.
    all: bool,
    probes: usize,
    contexts: usize,
}

impl Reach {
    fn of(f: &Finding, every: usize) -> Reach {
        let mut relations: Vec<&str> = f.probes.iter().filter_map(|p| p.relation.as_deref()).collect();
        relations.extend(f.relation.as_deref());
        relations.sort_unstable();
        relations.dedup();
        let all = f.relation.is_none();
        let mut contexts: Vec<ContextKind> = f.probes.iter().flat_map(|p| p.contexts.iter().copied()).collect();
        contexts.extend(f.context);
        contexts.sort_unstable();
        contexts.dedup();
        Reach {
            relations: if all { every.max(relations.len()) } else { relations.len() },
            all,
            probes: f.probes.len(),
            contexts: contexts.len(),
        }
    }

    fn label(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        match (self.all, self.relations) {
            (true, _) => format!("every relation ({})", self.relations),
            (false, 0) => String::new(),
            (false, n) => plural(n, "relation"),
        }
    }

    /// Greater is wider: every relation first, then by relations, probes, contexts.
    fn key(&self) -> (bool, usize, usize, usize) {
        (self.all, self.relations, self.probes, self.contexts)
    }
}

/// The probes past the listed ones in one line, grouped like
/// [`Finding::probe_summary`]: the probes under each set of contexts, and the
/// relations they ran on where those are not the cause's own.
fn rest_summary(f: &Finding, probes: &[super::ProbeResult], name: &impl Fn(ContextKind) -> String) -> String {
    let mut groups: Vec<(String, Vec<String>, Vec<&str>)> = Vec::new();
    for p in probes {
        let contexts = p.contexts.iter().map(|c| name(*c)).collect::<Vec<_>>().join(", ");
        let rel = p.relation.as_deref().filter(|r| f.relation.as_deref() != Some(*r));
        let (_, names, rels) = match groups.iter().position(|(c, _, _)| *c == contexts) {
            Some(i) => &mut groups[i],
            None => {
                groups.push((contexts, Vec::new(), Vec::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        if !names.contains(&p.probe) {
            names.push(p.probe.clone());
        }
        if let Some(r) = rel.filter(|r| !rels.contains(r)) {
            rels.push(r);
        }
    }
    let mut out = String::new();
    for (i, (contexts, names, rels)) in groups.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let _ = write!(out, "{} under {contexts}", names.join(", "));
        match rels.as_slice() {
            [] => {}
            [one] => {
                let _ = write!(out, " on {one}");
            }
            many => {
                let _ = write!(out, " on {} relations", many.len());
            }
        }
    }
    out
}

/// The causes of "what to fix first": those that fail the verdict, most
/// severe first and then the widest; the medium ones (not waived) in the
/// same order; and how many high or critical causes were accepted (waived
/// or already in the baseline) and are not listed.
fn fix_first<'a>(report: &Report, causes: &'a [Value]) -> (Vec<&'a Value>, Vec<&'a Value>, usize) {
    let every = every_relation(report);
    let order = |pick: &dyn Fn(&Finding) -> bool| -> Vec<&'a Value> {
        let mut v: Vec<(usize, &Finding)> = report.findings.iter().enumerate().filter(|(_, f)| pick(f)).collect();
        v.sort_by(|(ia, a), (ib, b)| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| Reach::of(b, every).key().cmp(&Reach::of(a, every).key()))
                .then_with(|| ia.cmp(ib))
        });
        v.into_iter().map(|(i, _)| &causes[i]).collect()
    };
    let failing = order(&|f: &Finding| f.counts());
    let medium = order(&|f: &Finding| f.severity == Severity::Medium && f.waived.is_none());
    let accepted = report.findings.iter().filter(|f| f.severity.fails() && !f.counts()).count();
    (failing, medium, accepted)
}

/// Reproduction datasets that several causes share, printed once.
///
/// A reproduction (see `probe::findings`) is a header, a `-- 1.` line, the
/// INSERT statements of the shrunk dataset, a `-- 2.` line and the steps.
/// Causes found in the same case keep the same dataset; on a wide schema it
/// is most of the page, so a large dataset two reproductions share is shown
/// once and the reproductions link to it. A reproduction of another shape is
/// shown whole.
struct Datasets {
    list: Vec<Dataset>,
}

struct Dataset {
    anchor: String,
    text: String,
    statements: usize,
    /// The causes whose reproduction loads it: anchor and a label.
    used_by: Vec<(String, String)>,
}

impl Datasets {
    fn new(findings: &[Finding]) -> Datasets {
        let mut all: Vec<Dataset> = Vec::new();
        for (i, f) in findings.iter().enumerate() {
            let Some((_, setup, _)) = f.evidence.as_ref().and_then(|e| split_setup(&e.reproduction)) else { continue };
            let user = (anchor(i), format!("{} on {}", f.rule, f.relation.as_deref().unwrap_or("every relation")));
            match all.iter_mut().find(|d| d.text == setup) {
                Some(d) => d.used_by.push(user),
                None => all.push(Dataset {
                    anchor: String::new(),
                    statements: setup.lines().filter(|l| !l.trim().is_empty()).count(),
                    text: setup.to_string(),
                    used_by: vec![user],
                }),
            }
        }
        let mut list: Vec<Dataset> =
            all.into_iter().filter(|d| d.used_by.len() > 1 && d.text.len() >= SHARED_DATASET_BYTES).collect();
        for (n, d) in list.iter_mut().enumerate() {
            d.anchor = format!("ds-{}", n + 1);
        }
        Datasets { list }
    }

    /// A reproduction around its shared dataset: the text before it, the
    /// dataset's index, the text after it.
    fn split<'r>(&self, reproduction: &'r str) -> Option<(&'r str, usize, &'r str)> {
        let (head, setup, tail) = split_setup(reproduction)?;
        let n = self.list.iter().position(|d| d.text == setup)?;
        Some((head, n, tail))
    }

    fn shared(&self) -> Vec<Value> {
        self.list
            .iter()
            .enumerate()
            .map(|(n, d)| {
                let used_by: Vec<Value> =
                    d.used_by.iter().map(|(anchor, label)| json!({ "anchor": anchor, "label": label })).collect();
                json!({ "anchor": d.anchor, "n": n + 1, "text": d.text, "statements": d.statements, "used_by": used_by })
            })
            .collect()
    }
}

/// Splits a reproduction into the text up to its `-- 1.` line (included),
/// the dataset's statements, and the rest from the `-- 2.` line on.
fn split_setup(text: &str) -> Option<(&str, &str, &str)> {
    let one = line_start(text, "-- 1. ", 0)?;
    let from = one + text[one..].find('\n')? + 1;
    let two = line_start(text, "-- 2. ", from)?;
    let setup = &text[from..two];
    if setup.trim().is_empty() { None } else { Some((&text[..from], setup, &text[two..])) }
}

/// The byte offset of the first line at or after `from` that starts with `prefix`.
fn line_start(text: &str, prefix: &str, from: usize) -> Option<usize> {
    let mut at = from;
    for line in text[from..].split_inclusive('\n') {
        if line.starts_with(prefix) {
            return Some(at);
        }
        at += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Evidence, FindingKind, ProbeResult};
    use crate::report::Stats;
    use crate::rules::RuleId;

    fn repro(steps: &str) -> String {
        let rows: String = (0..200).map(|i| format!("INSERT INTO public.u VALUES ({i});\n")).collect();
        format!(
            "-- r on public.t: 2 tenant(s), 202 row(s)\n-- 1. as a superuser, on a database with the schema applied:\n\
             INSERT INTO public.t VALUES ('a');\n{rows}\
             -- 2. logged in as app:\nBEGIN;\n{steps}\nROLLBACK;\n"
        )
    }

    fn finding(rule: RuleId, relation: Option<&str>, probes: usize, reproduction: Option<String>) -> Finding {
        let probes = (0..probes)
            .map(|i| ProbeResult {
                probe: format!("p{i}"),
                operation: Operation::Select,
                relation: Some(format!("public.r{i}")),
                contexts: vec![ContextKind::Tenant],
                sql: "SELECT 1".into(),
                observed: "o".into(),
            })
            .collect();
        let mut f = Finding::new(rule, FindingKind::Dynamic, "m").relation(relation.map(String::from)).probes(probes);
        if let Some(r) = reproduction {
            f = f.evidence(Evidence { sql: "s".into(), observed: "o".into(), reproduction: r });
        }
        f
    }

    #[test]
    fn a_dataset_two_reproductions_share_is_printed_once() {
        let findings = vec![
            finding(RuleId::CrossTenantRead, Some("public.t"), 1, Some(repro("SELECT * FROM public.t;"))),
            finding(RuleId::CrossTenantWrite, Some("public.t"), 1, Some(repro("DELETE FROM public.t;"))),
            finding(RuleId::TruncatePrivilege, Some("public.u"), 1, Some("-- logged in as app:\nTRUNCATE u;\n".into())),
        ];
        // A small dataset stays in each reproduction.
        let small = "-- 1. as a superuser:\nINSERT INTO public.s VALUES ('x');\n-- 2. logged in as app:\nSELECT 1;\n";
        let findings: Vec<Finding> = findings
            .into_iter()
            .chain((0..2).map(|_| finding(RuleId::AppOwnsTable, Some("public.s"), 1, Some(small.into()))))
            .collect();
        let mut report = Report::new("s", None, findings, Stats::default());
        report.findings.sort_by_key(|f| f.rule.to_string());
        let page = render(&report).unwrap();
        assert_eq!(page.matches("INSERT INTO public.t VALUES (&#x27;a&#x27;)").count(), 0, "quotes stay quotes");
        assert_eq!(page.matches("INSERT INTO public.t VALUES ('a');").count(), 1, "{page}");
        assert_eq!(page.matches("href=\"#ds-1\"").count(), 2);
        assert!(page.contains("id=\"ds-1\""));
        assert!(page.contains("DELETE FROM public.t;") && page.contains("TRUNCATE u;"));
        assert_eq!(page.matches("INSERT INTO public.s VALUES ('x');").count(), 2);
        assert!(!page.contains("ds-2"));
    }

    #[test]
    fn fix_first_orders_by_severity_then_reach() {
        let findings = vec![
            finding(RuleId::CrossTenantRead, Some("public.a"), 1, None),
            finding(RuleId::CrossTenantRead, Some("public.b"), 5, None),
            finding(RuleId::AppBypassrls, None, 0, None),
            finding(RuleId::PolicyWrongRole, Some("public.c"), 9, None).severity(Severity::High),
            finding(RuleId::ForceMissing, Some("public.d"), 0, None).severity(Severity::Medium),
        ];
        let report = Report::new("s", None, findings, Stats::default());
        let causes: Vec<Value> = report
            .findings
            .iter()
            .enumerate()
            .map(|(i, f)| cause(i, f, &|k: ContextKind| k.as_str().to_string(), 4, &Datasets { list: vec![] }, 7))
            .collect();
        let (failing, medium, accepted) = fix_first(&report, &causes);
        let order: Vec<(&str, &str)> =
            failing.iter().map(|c| (c["rule"].as_str().unwrap(), c["target"].as_str().unwrap())).collect();
        assert_eq!(
            order,
            [
                ("app_bypassrls", ""),
                ("cross_tenant_read", "public.b"),
                ("cross_tenant_read", "public.a"),
                ("policy_wrong_role", "public.c")
            ]
        );
        assert_eq!(medium.len(), 1);
        assert_eq!(accepted, 0);
    }

    #[test]
    fn context_letters_are_unique_and_classic_ones_stay() {
        let mut report = Report::new("s", None, vec![], Stats::default());
        let classic: Vec<String> = contexts(&report).into_iter().map(|c| c.abbr).collect();
        assert_eq!(classic, ["T", "F", "R", "U"]);
        report.contexts = crate::vocab::Tenancy { membership: true, anon: true, user_controlled: true }.columns();
        let named: Vec<(String, String)> = contexts(&report).into_iter().map(|c| (c.name, c.abbr)).collect();
        let letters: Vec<&str> = named.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(letters, ["M", "A", "R", "N", "2", "C"], "{named:?}");
    }

    #[test]
    fn probes_and_the_matrix_use_the_runs_context_names() {
        let mut f = finding(RuleId::CrossTenantRead, Some("public.t"), 1, None);
        f.probes[0].contexts = vec![ContextKind::MemberOfTwo, ContextKind::UserControlled];
        let mut report = Report::new("s", None, vec![f], Stats::default());
        report.contexts = crate::vocab::Tenancy { membership: true, anon: true, user_controlled: true }.columns();
        let cells = OPERATIONS
            .iter()
            .map(|&operation| crate::report::MatrixCell {
                operation,
                states: vec![crate::report::CellState::Pass; 6],
                untested: vec![],
            })
            .collect();
        report.isolation = vec![crate::report::MatrixRow { relation: "public.t".into(), cells }];
        let page = render(&report).unwrap();
        assert!(page.contains("<span>member-of-two, user-controlled</span>"), "{page}");
        for legend in ["<b>M</b> member", "<b>R</b> anon", "<b>N</b> non-member", "<b>2</b> member-of-two"] {
            assert!(page.contains(legend), "{legend}");
        }
    }

    #[test]
    fn escaping_keeps_quotes_in_text_but_not_markup() {
        assert_eq!(escape(r#"<b a="x">'&'</b>"#), "&lt;b a=&quot;x&quot;&gt;'&amp;'&lt;/b&gt;");
    }
}
