//! The tests of the `cargo test` gate, fixed from the catalog before any
//! probe runs. A test runner lists the tests in one process (`--list`, which
//! must stay cheap) and runs them in others (nextest: one process per test),
//! so the names cannot depend on what the probes found: they come from what
//! the app role may do, and each test then reads its result from the report.

use serde::{Deserialize, Serialize};

use crate::rules::RuleId;
use crate::vocab::Operation;

/// The gate's tests: one per relation x operation the app role may perform,
/// and one per failing static finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatePlan {
    /// Relations the probes cover, each with the operations the app may perform on it.
    pub relations: Vec<GateRelation>,
    /// Failing static findings (before probes confirm or waivers excuse them).
    pub statics: Vec<GateStatic>,
}

/// A probed relation and its operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRelation {
    /// Qualified name.
    pub relation: String,
    /// Operations the app role may perform on it.
    pub operations: Vec<Operation>,
}

/// A failing static finding, by rule and relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateStatic {
    /// Rule.
    pub rule: RuleId,
    /// Relation, if the finding names one.
    pub relation: Option<String>,
}

impl GatePlan {
    /// Whether the plan has no tests (reports that predate it, lint-free errors).
    pub fn is_empty(&self) -> bool {
        self.relations.is_empty() && self.statics.is_empty()
    }
}
