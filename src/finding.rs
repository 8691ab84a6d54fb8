//! A finding: one cause of a tenant-isolation failure (a rule on a relation,
//! and on a policy or function where it applies), as data that every emitter
//! reads. Every probe that showed the cause is listed under it; the shortest
//! reproduction is kept. Built with [`Finding::new`] and its builder methods.

use serde::{Deserialize, Serialize};

use crate::rules::{RuleId, Severity};
use crate::vocab::{ContextKind, Operation};

/// How a finding was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// A probe observed it (whether or not the catalog explains it too:
    /// [`Agreement`] says).
    Dynamic,
    /// Only a catalog query shows it.
    Static,
}

/// How `--per-migration` knows the step that introduced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Introduced {
    /// The catalog read after that step showed the cause (static checks).
    Catalog,
    /// The probes run after that step showed the cause, and none run after
    /// an earlier step did.
    Probed,
    /// No probe pass caught the cause where it arrived (a step rowfence
    /// could not probe, or its few cases missed it): the step is inferred from
    /// static findings on the same relation, else the file that created it.
    Inferred,
}

/// One probe that showed a cause: what ran, under which contexts, and what
/// came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe (`select`, `blind-update`, `after-commit` ...).
    pub probe: String,
    /// The operation it exercises.
    pub operation: Operation,
    /// The relation it ran on, quoted and schema-qualified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// Every kind of context it failed under.
    pub contexts: Vec<ContextKind>,
    /// The statement the app role ran.
    pub sql: String,
    /// What came back, naming rows by key.
    pub observed: String,
}

/// What showed a dynamic finding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    /// The statement the app role ran.
    pub sql: String,
    /// What came back, naming rows by key.
    pub observed: String,
    /// A minimal script that reproduces it.
    pub reproduction: String,
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// Rule id from the registry.
    pub rule: RuleId,
    /// Severity.
    pub severity: Severity,
    /// Dynamic or static.
    pub kind: FindingKind,
    /// The relation, quoted and schema-qualified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// The policy, function, role or sequence the cause lies in, as SQL names
    /// it (`"p" ON public.t`, `public.f(uuid)`), where the rule names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The operation of the probe whose reproduction is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// The context that probe showed it under (the first, when several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextKind>,
    /// The probe whose reproduction is kept (`select`, `blind-update`, `after-commit` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// Every probe that showed this cause, the kept one first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeResult>,
    /// What is wrong, in one or two sentences.
    pub message: String,
    /// The probe evidence (dynamic findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// SQL or steps that fix it.
    pub remediation: String,
    /// Where the object was created, when it came from the suite's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// How static and dynamic evidence relate (reports of `check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    /// With `--per-migration`: the first migration file after which it appears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced_by: Option<String>,
    /// With `--per-migration`: how `introduced_by` was established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced_how: Option<Introduced>,
    /// Accepted in the suite (`[[waive]]`), with the reason: shown, not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
    /// With `--baseline`: whether it is new since the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<bool>,
}

impl Finding {
    /// Whether it counts toward the verdict: high or critical, not waived,
    /// and (against a baseline) new.
    pub fn counts(&self) -> bool {
        self.severity.fails() && self.waived.is_none() && self.new != Some(false)
    }

    /// Identity across runs: the cause (rule, relation, object).
    pub fn key(&self) -> (RuleId, Option<String>, Option<String>) {
        (self.rule, self.relation.clone(), self.object.clone())
    }

    /// Whether `earlier` (from a baseline) names the same cause. Reports
    /// written before findings were causes had one entry per probe and no
    /// object: any of them stands for the cause on its rule and relation.
    pub fn same_cause(&self, earlier: &Finding) -> bool {
        self.rule == earlier.rule
            && self.relation == earlier.relation
            && (earlier.object.is_none() || earlier.object == self.object)
    }

    /// Whether a probe showed this cause on `relation` for `operation`.
    pub fn shown_by(&self, relation: &str, operation: Operation) -> bool {
        self.probes.iter().any(|p| p.operation == operation && p.relation.as_deref() == Some(relation))
            || self.probes.is_empty() && self.operation == Some(operation) && self.relation.as_deref() == Some(relation)
    }

    /// A finding of `rule` at the rule's severity, with its generic
    /// remediation; the builder methods below fill in the rest.
    pub fn new(rule: RuleId, kind: FindingKind, message: impl Into<String>) -> Finding {
        let r = rule.rule();
        Finding {
            rule,
            severity: r.severity,
            kind,
            relation: None,
            object: None,
            operation: None,
            context: None,
            probe: None,
            probes: Vec::new(),
            message: message.into(),
            evidence: None,
            remediation: r.remediation.into(),
            location: None,
            agreement: None,
            introduced_by: None,
            introduced_how: None,
            waived: None,
            new: None,
        }
    }

    /// On this relation (quoted, schema-qualified).
    pub fn relation(mut self, relation: Option<String>) -> Finding {
        self.relation = relation;
        self
    }

    /// Lying in this object (a policy, function, role or sequence, as SQL names it).
    pub fn object(mut self, object: Option<String>) -> Finding {
        self.object = object;
        self
    }

    /// Shown by these probes, the one whose reproduction is kept first.
    pub fn probes(mut self, probes: Vec<ProbeResult>) -> Finding {
        self.probes = probes;
        self
    }

    /// At another severity than the rule's.
    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    /// Shown by this probe, operation and context.
    pub fn probed(mut self, probe: String, operation: Operation, context: ContextKind) -> Finding {
        self.probe = Some(probe);
        self.operation = Some(operation);
        self.context = Some(context);
        self
    }

    /// With this probe evidence.
    pub fn evidence(mut self, evidence: Evidence) -> Finding {
        self.evidence = Some(evidence);
        self
    }

    /// With this remediation (the rule's, filled in for the finding's objects).
    pub fn remediation(mut self, remediation: String) -> Finding {
        self.remediation = remediation;
        self
    }

    /// Created at this place in the suite's files.
    pub fn location(mut self, location: Option<Location>) -> Finding {
        self.location = location;
        self
    }
}

/// A place in a schema file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The file, as the suite names it (relative to the working directory when possible).
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

/// How a finding's static and dynamic evidence relate. Every high or
/// critical finding counts toward the verdict whichever value it has: a
/// static finding the probes did not reproduce still describes a path that
/// exists (SET ROLE, a definer function nobody called).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// A probe showed the same problem on the same relation.
    Confirmed,
    /// Only the catalog shows it; the probes did not reproduce it.
    StaticOnly,
    /// Only a probe shows it; no static rule explains it on this relation.
    DynamicOnly,
}

impl Finding {
    /// The finding as a test failure message: what, where, how to reproduce and fix.
    pub fn describe(&self) -> String {
        let mut s = format!("[{}] {}: {}", self.severity.as_str(), self.rule, self.message);
        if let Some(l) = &self.location {
            s.push_str(&format!("\n  at {}:{}", l.file, l.line));
        }
        if !self.probes.is_empty() {
            s.push_str(&format!("\n  shown by: {}", self.probe_summary(|c| c.as_str())));
        }
        if let Some(ev) = &self.evidence {
            s.push_str(&format!("\n  observed: {}\n  reproduction:\n{}", ev.observed, indent(&ev.reproduction)));
        }
        s.push_str(&format!("\n  fix:\n{}", indent(&self.remediation)));
        s
    }
}

impl Finding {
    /// The probes that showed the cause in one line, grouped by the contexts
    /// they failed under: `select, copy under tenant; after-commit under
    /// none-after-reset`. `name` says what the run calls each context.
    pub fn probe_summary<'a>(&self, name: impl Fn(ContextKind) -> &'a str) -> String {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for p in &self.probes {
            let contexts = p.contexts.iter().map(|c| name(*c)).collect::<Vec<_>>().join(", ");
            let probe = match (&p.relation, &self.relation) {
                (Some(r), None) => format!("{} on {r}", p.probe),
                _ => p.probe.clone(),
            };
            match groups.iter_mut().find(|(c, _)| *c == contexts) {
                Some((_, probes)) => probes.push(probe),
                None => groups.push((contexts, vec![probe])),
            }
        }
        groups.iter().map(|(c, p)| format!("{} under {c}", p.join(", "))).collect::<Vec<_>>().join("; ")
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
