//! A finding: one thing rowfence established about the schema, as data that
//! every emitter reads. Built with [`Finding::new`] and its builder methods.

use serde::{Deserialize, Serialize};

use crate::rules::{RuleId, Severity};
use crate::vocab::{ContextKind, Operation};

/// How a finding was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// A probe observed it.
    Dynamic,
    /// A catalog query shows it.
    Static,
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
    /// The operation that showed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// The context it showed under (the first, when several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextKind>,
    /// The probe that showed it (`select`, `blind-update`, `prepared-select`, `after-commit` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
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

    /// Identity across runs: rule, relation, operation, context.
    pub fn key(&self) -> (RuleId, Option<String>, Option<Operation>, Option<ContextKind>) {
        (self.rule, self.relation.clone(), self.operation, self.context)
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
            operation: None,
            context: None,
            probe: None,
            message: message.into(),
            evidence: None,
            remediation: r.remediation.into(),
            location: None,
            agreement: None,
            introduced_by: None,
            waived: None,
            new: None,
        }
    }

    /// On this relation (quoted, schema-qualified).
    pub fn relation(mut self, relation: Option<String>) -> Finding {
        self.relation = relation;
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
        if let Some(ev) = &self.evidence {
            s.push_str(&format!("\n  observed: {}\n  reproduction:\n{}", ev.observed, indent(&ev.reproduction)));
        }
        s.push_str(&format!("\n  fix:\n{}", indent(&self.remediation)));
        s
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
