//! SARIF 2.1.0 for code scanning: one rule per rowfence rule, one result per
//! finding, located at the schema file and line that created the object.

use serde_json::{Value, json};

use super::Report;
use crate::rules::{RULES, Severity};

/// The SARIF log for `report`.
pub fn render(report: &Report) -> Value {
    log(vec![run(report)])
}

/// A SARIF log of `runs`.
pub fn log(runs: Vec<Value>) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs,
    })
}

/// One SARIF run: the rules and one result per finding of `report`.
pub fn run(report: &Report) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": pascal(r.id.as_str()),
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": r.description },
                "help": { "text": format!("{}\n\nRemediation:\n{}", r.description, r.remediation) },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": {
                    "security-severity": security_severity(r.severity),
                    "tags": ["security", "row-level-security", "multi-tenancy"],
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = RULES.iter().position(|r| r.id == f.rule);
            let (uri, line) = match &f.location {
                Some(l) => (l.file.clone(), l.line),
                None => (report.suite_file.clone(), 1),
            };
            let mut text = f.message.clone();
            if let Some(ev) = &f.evidence {
                text.push_str(&format!(" Observed: {}", ev.observed));
            }
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": { "startLine": line.max(1) },
                    },
                }],
                "properties": {
                    "kind": f.kind,
                    "relation": f.relation,
                    "operation": f.operation,
                    "context": f.context,
                    "remediation": f.remediation,
                },
            });
            if let Some(i) = index {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    json!({
        "tool": { "driver": {
            "name": "rowfence",
            "version": report.version,
            "semanticVersion": report.version,
            "rules": rules,
        }},
        "results": results,
        "properties": { "suite": report.suite, "verdict": report.verdict },
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity`: a CVSS-like score as a string.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn pascal(id: &str) -> String {
    id.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}
