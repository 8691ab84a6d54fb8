//! JUnit XML (quick-junit) for CI systems: one test suite per suite file,
//! one test case per relation x operation x context the probes exercised,
//! plus one per failing static finding, so a CI page reads
//! "public.subscribers / update / tenant: FAILED".

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{CellState, Report, Verdict};

/// The JUnit XML for `report`.
pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("rowfence");
    junit.add_test_suite(test_suite(report, report.suite.clone()));
    junit.to_string()
}

/// The test suite of one report, named `name` (a version matrix prefixes
/// each version's: `pg13 / suite`).
pub fn test_suite(report: &Report, name: String) -> TestSuite {
    let mut suite = TestSuite::new(name);
    if report.verdict == Verdict::Error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(report.error.clone().unwrap_or_default());
        suite.add_test_case(TestCase::new("rowfence / could not judge", status));
    }
    for row in &report.isolation {
        for cell in &row.cells {
            for (state, cx) in cell.states.iter().zip(&report.contexts) {
                let name = format!("{} / {} / {}", row.relation, cell.operation.as_str(), cx.name);
                let status = match state {
                    CellState::Pass => TestCaseStatus::success(),
                    CellState::Violation => {
                        let found: Vec<String> = report
                            .failing()
                            .filter(|f| f.shown_by(&row.relation, cell.operation))
                            .map(|f| format!("[{} {}] {}", f.severity.as_str(), f.rule, f.message))
                            .collect();
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_message(
                            found.first().cloned().unwrap_or_else(|| "another tenant's rows were reached".into()),
                        );
                        status.set_description(found.join("\n"));
                        status
                    }
                    CellState::Untested => {
                        let mut status = TestCaseStatus::skipped();
                        let why = cell.untested.iter().find(|u| u.context == cx.kind).map(|u| u.reason.clone());
                        status.set_message(format!("untested: {}", why.unwrap_or_default()));
                        status
                    }
                    CellState::NotGranted | CellState::NotApplicable => continue,
                };
                let mut case = TestCase::new(name, status);
                case.set_classname(format!("{}.{}", report.suite, row.relation));
                suite.add_test_case(case);
            }
        }
    }
    for f in report.findings.iter().filter(|f| f.kind == super::FindingKind::Static && f.counts()) {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_message(f.message.clone());
        status.set_description(format!("{}\n\nRemediation:\n{}", f.message, f.remediation));
        let mut case = TestCase::new(format!("static / {} / {}", f.rule, f.relation.as_deref().unwrap_or("-")), status);
        case.set_classname(format!("{}.static", report.suite));
        suite.add_test_case(case);
    }
    if suite.test_cases.is_empty() {
        suite.add_test_case(TestCase::new("static analysis", TestCaseStatus::success()));
    }
    suite
}
