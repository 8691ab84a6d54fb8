//! Findings as causes: each static finding is a cause (a rule on a relation,
//! and on a policy or function where it applies); the probes that show the
//! same rule on the same relation become its evidence. What no static rule
//! explains stays a cause of its own, and the agreement says which evidence
//! exists.

use crate::finding::{Agreement, Finding, FindingKind};

/// Folds the probe stage's causes (one per rule and relation) into the static
/// findings that name the same rule on the same relation, or on no relation
/// (role-level causes: superuser, BYPASSRLS). The result has one finding per cause.
pub(super) fn fold(statics: Vec<Finding>, dynamic: Vec<Finding>) -> Vec<Finding> {
    let mut statics = merge_same_cause(statics);
    let mut unexplained = Vec::new();
    for d in dynamic {
        let on_relation: Vec<usize> = matching(&statics, &d, |s| s.relation == d.relation);
        let targets = if on_relation.is_empty() { on_no_relation(&statics, &d) } else { on_relation };
        if targets.is_empty() {
            unexplained.push(d);
            continue;
        }
        for i in targets {
            absorb(&mut statics[i], &d);
        }
    }
    for f in &mut statics {
        if f.severity.fails() && f.agreement.is_none() {
            f.agreement = Some(Agreement::StaticOnly);
        }
    }
    for d in &mut unexplained {
        if d.severity.fails() {
            d.agreement = Some(Agreement::DynamicOnly);
        }
    }
    statics.extend(unexplained);
    statics
}

/// One finding per cause among the static ones: a check may hit the same
/// policy more than once (its INSERT and its UPDATE check, USING and WITH
/// CHECK). The first keeps its place; the others add what they say.
pub(super) fn merge_same_cause(statics: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(statics.len());
    for f in statics {
        match out.iter_mut().find(|o| o.key() == f.key()) {
            Some(o) => {
                if !o.message.contains(&f.message) {
                    o.message = format!("{}; {}", o.message, f.message);
                }
                o.severity = o.severity.max(f.severity);
            }
            None => out.push(f),
        }
    }
    out
}

/// The causes on no relation that `d` confirms: the functions its probes
/// call, where the causes are functions (one probe calls one definer
/// function, and confirms no other); every one otherwise (role-level causes).
fn on_no_relation(statics: &[Finding], d: &Finding) -> Vec<usize> {
    let candidates = matching(statics, d, |s| s.relation.is_none());
    // `public.f(uuid)` is called as `public.f(`.
    let call = |s: &Finding| s.object.as_deref().and_then(|o| o.find('(').map(|i| o[..=i].to_string()));
    if candidates.iter().any(|&i| call(&statics[i]).is_none()) {
        return candidates;
    }
    candidates
        .into_iter()
        .filter(|&i| call(&statics[i]).is_some_and(|c| d.probes.iter().any(|p| p.sql.contains(&c))))
        .collect()
}

fn matching(statics: &[Finding], d: &Finding, place: impl Fn(&Finding) -> bool) -> Vec<usize> {
    statics.iter().enumerate().filter(|(_, s)| s.rule == d.rule && place(s)).map(|(i, _)| i).collect()
}

/// Adds what the probes showed to the static cause `s`: it keeps its
/// explanation, location and fix; the probes become its evidence, the
/// shortest reproduction kept, and the severity is the worse of the two.
fn absorb(s: &mut Finding, d: &Finding) {
    let shorter = match (&s.evidence, &d.evidence) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b.reproduction.len() < a.reproduction.len(),
        _ => false,
    };
    if shorter {
        s.evidence.clone_from(&d.evidence);
        s.probe.clone_from(&d.probe);
        s.operation = d.operation;
        s.context = d.context;
        // The kept probe goes first.
        let mut probes = d.probes.clone();
        probes.append(&mut s.probes);
        s.probes = probes;
    } else {
        s.probes.extend(d.probes.iter().cloned());
    }
    s.severity = s.severity.max(d.severity);
    s.kind = FindingKind::Dynamic;
    s.agreement = Some(Agreement::Confirmed);
}

#[cfg(test)]
mod tests {
    use super::fold;
    use crate::finding::{Agreement, Evidence, Finding, FindingKind, ProbeResult};
    use crate::rules::RuleId;
    use crate::vocab::{ContextKind, Operation};

    fn probed(rule: RuleId, rel: &str, probe: &str, reproduction: &str) -> Finding {
        Finding::new(rule, FindingKind::Dynamic, format!("{probe} leaked"))
            .relation(Some(rel.into()))
            .probed(probe.into(), Operation::Select, ContextKind::Tenant)
            .probes(vec![ProbeResult {
                probe: probe.into(),
                operation: Operation::Select,
                relation: Some(rel.into()),
                contexts: vec![ContextKind::Tenant],
                sql: "SELECT 1".into(),
                observed: "1 row".into(),
            }])
            .evidence(Evidence { sql: "SELECT 1".into(), observed: "1 row".into(), reproduction: reproduction.into() })
    }

    #[test]
    fn probes_of_the_same_rule_and_relation_confirm_the_static_cause() {
        let statics = vec![
            Finding::new(RuleId::RlsNotEnabled, FindingKind::Static, "rls off").relation(Some("public.a".into())),
            Finding::new(RuleId::TriggerPrivilegeExfil, FindingKind::Static, "trigger")
                .relation(Some("public.a".into())),
        ];
        let dynamic = vec![
            probed(RuleId::RlsNotEnabled, "public.a", "select", "long reproduction"),
            probed(RuleId::RlsNotEnabled, "public.b", "copy", "short"),
            probed(RuleId::TruncatePrivilege, "public.a", "truncate", "short"),
        ];
        let causes = fold(statics, dynamic);
        assert_eq!(causes.len(), 4, "rls on a, trigger on a, rls on b, truncate on a");
        let rls = &causes[0];
        assert_eq!((rls.kind, rls.agreement, rls.probes.len()), (FindingKind::Dynamic, Some(Agreement::Confirmed), 1));
        assert_eq!(rls.message, "rls off", "the static explanation stays");
        // An unrelated TRUNCATE probe on the same table confirms nothing else.
        assert_eq!(causes[1].agreement, Some(Agreement::StaticOnly));
        assert_eq!(causes[2].agreement, Some(Agreement::DynamicOnly));
        assert_eq!(causes[3].rule, RuleId::TruncatePrivilege);
    }

    #[test]
    fn a_function_call_confirms_only_the_function_it_calls() {
        let function = |name: &str| {
            Finding::new(RuleId::SecurityDefinerFunctionBypass, FindingKind::Static, name)
                .object(Some(format!("public.{name}")))
        };
        let mut call = probed(RuleId::SecurityDefinerFunctionBypass, "public.notes", "function-call", "r");
        call.probes[0].sql = "SELECT t.\"org_id\"::text FROM public.list_notes() t".into();
        let causes = fold(vec![function("list_notes()"), function("note_body(uuid)")], vec![call]);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].agreement, Some(Agreement::Confirmed));
        assert_eq!(causes[1].agreement, Some(Agreement::StaticOnly), "note_body was never called");
    }

    #[test]
    fn two_hits_on_the_same_policy_are_one_cause() {
        let hit = |m: &str| {
            Finding::new(RuleId::WithCheckWeakOrTrue, FindingKind::Static, m)
                .relation(Some("public.a".into()))
                .object(Some("\"p\" ON public.a".into()))
        };
        let causes = fold(vec![hit("INSERT check"), hit("UPDATE check")], Vec::new());
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].message, "INSERT check; UPDATE check");
    }

    #[test]
    fn a_role_level_cause_gathers_probes_of_every_relation_and_keeps_the_shortest_reproduction() {
        let statics = vec![Finding::new(RuleId::AppBypassrls, FindingKind::Static, "bypassrls")];
        let dynamic = vec![
            probed(RuleId::AppBypassrls, "public.a", "select", "a much longer reproduction"),
            probed(RuleId::AppBypassrls, "public.b", "copy", "short"),
        ];
        let causes = fold(statics, dynamic);
        assert_eq!(causes.len(), 1);
        let c = &causes[0];
        assert_eq!(c.probes.len(), 2);
        assert_eq!(c.probes[0].probe, "copy", "the kept reproduction's probe comes first");
        assert_eq!(c.evidence.as_ref().unwrap().reproduction, "short");
        assert_eq!(c.probe_summary(|c| c.as_str()), "copy on public.b, select on public.a under tenant");
    }
}
