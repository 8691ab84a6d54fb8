//! The HTML security review: `report-template.html` (at the repository root,
//! compiled in) rendered with minijinja. The template escapes every value;
//! nothing from the schema is marked safe.

use minijinja::{Environment, context};
use serde_json::Value;

use super::{OPERATIONS, Report};
use crate::rules::Severity;

const TEMPLATE: &str = include_str!("../../report-template.html");

const ORDER: [Severity; 5] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let counts: Vec<Value> = ORDER
        .iter()
        .map(|s| serde_json::json!({ "severity": s.as_str(), "count": report.findings.iter().filter(|f| f.severity == *s).count() }))
        .collect();
    let groups: Vec<Value> = ORDER
        .iter()
        .filter(|s| report.findings.iter().any(|f| f.severity == **s))
        .map(|s| {
            let findings: Vec<Value> = report
                .findings
                .iter()
                .filter(|f| f.severity == *s)
                .map(|f| {
                    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
                    if let (Some(obj), Some(rule)) = (v.as_object_mut(), Some(f.rule.rule())) {
                        obj.insert("title".into(), rule.title.into());
                        obj.insert("description".into(), rule.description.into());
                    }
                    v
                })
                .collect();
            serde_json::json!({ "severity": s.as_str(), "findings": findings })
        })
        .collect();
    let operations: Vec<&str> = OPERATIONS.iter().map(|o| o.as_str()).collect();
    let contexts: Vec<&str> = report.contexts.iter().map(|c| c.name.as_str()).collect();
    env.get_template("report.html")?.render(context! {
        report => report,
        generated_at => report.generated_at.replace('T', " ").trim_end_matches('Z').to_string() + " UTC",
        duration => format!("{:.1} s", report.stats.duration_ms as f64 / 1000.0),
        counts => counts,
        groups => groups,
        operations => operations,
        contexts => contexts,
        isolation => &report.isolation,
        posture => &report.posture,
        role => &report.role,
        database_settings => &report.database_settings,
    })
}
