//! The judgements on trees captured from PostgreSQL 13, 15, 17 and 18
//! (`testdata/trees.txt`, which holds the schema and each CREATE POLICY).

use std::collections::{BTreeMap, BTreeSet};

use super::*;

const TREES: &str = include_str!("testdata/trees.txt");
const VERSIONS: [&str; 4] = ["13", "15", "17", "18"];
const SETTING: &str = "app.current_org_id";

/// One server's captures: trees by policy name, names, and the user functions (all read the setting).
struct Server {
    trees: BTreeMap<String, (String, String)>,
    names: Names,
    readers: BTreeSet<u32>,
}

fn server(version: &str) -> Server {
    let mut s = Server { trees: BTreeMap::new(), names: Names::default(), readers: BTreeSet::new() };
    let mut current: Option<(String, String)> = None;
    for line in TREES.lines() {
        if let Some(head) = line.strip_prefix("== ") {
            let (name, table) = head.split_once(' ').unwrap();
            current = Some((name.into(), table.into()));
        } else if let Some(tree) = line.strip_prefix(&format!("{version}: ")) {
            let (name, table) = current.clone().unwrap();
            s.trees.insert(name, (table, tree.into()));
        } else if let Some(rest) = line.strip_prefix(&format!("names {version} ")) {
            let parts: Vec<&str> = rest.split(' ').collect();
            let oid: u32 = parts[1].parse().unwrap();
            match parts.as_slice() {
                ["op", _, name] => {
                    s.names.operators.insert(oid, name.to_string());
                }
                ["fn", _, schema, name] => {
                    if *schema == "app" {
                        s.readers.insert(oid);
                    }
                    s.names.functions.insert(oid, FunctionName { schema: schema.to_string(), name: name.to_string() });
                }
                _ => panic!("bad names line {line}"),
            }
        }
    }
    assert!(s.trees.len() > 30, "no trees for {version}");
    s
}

fn columns(table: &str) -> Vec<&'static str> {
    match table {
        "t" => vec!["id", "org_id", "status", "okey", "is_public", "owner_user", "parent_id"],
        "child" => vec!["id", "parent_id"],
        _ => panic!("unknown table {table}"),
    }
}

/// The typed tree of policy `name` on every server, with its table's tenant column.
fn each(name: &str) -> Vec<(String, Expr, Option<&'static str>, BTreeSet<u32>)> {
    VERSIONS
        .iter()
        .map(|v| {
            let s = server(v);
            let (table, tree) = s.trees.get(name).unwrap_or_else(|| panic!("no policy {name} on {v}"));
            let cols = columns(table);
            let column = |n: i64| usize::try_from(n - 1).ok().and_then(|i| cols.get(i)).map(|c| c.to_string());
            let expr = read(tree, &column, &s.names).unwrap_or_else(|e| panic!("{name} on {v}: {e}"));
            let tenant_column = (table == "t").then_some("org_id");
            (v.to_string(), expr, tenant_column, s.readers)
        })
        .collect()
}

/// What the judgements should say about one policy.
#[derive(Default)]
struct Want {
    scoped: bool,
    fallback: bool,
    broad: bool,
    bypass: bool,
    other: &'static [&'static str],
}

fn check(name: &str, want: Want) {
    for (v, e, column, readers) in each(name) {
        let tenant = Tenant { setting: SETTING, readers: &readers };
        let at = format!("{name} on PostgreSQL {v}: {e:?}");
        assert_eq!(e.scoped(column, &tenant), want.scoped, "scoped: {at}");
        assert_eq!(e.fallback_open(SETTING), want.fallback, "fallback_open: {at}");
        assert_eq!(e.broad_match(SETTING), want.broad, "broad_match: {at}");
        assert_eq!(e.bypass_branch(SETTING), want.bypass, "bypass_branch: {at}");
        assert_eq!(e.other_settings(SETTING), want.other, "other_settings: {at}");
    }
}

#[test]
fn every_capture_parses_on_every_version() {
    for v in VERSIONS {
        let s = server(v);
        for (name, (_, tree)) in &s.trees {
            let node = node::parse(tree).unwrap_or_else(|e| panic!("{name} on {v}: {e}"));
            let e = build(&node, &|_| Some("c".into()), &s.names);
            assert!(!matches!(e, Expr::Unknown { .. }) || name == "case_p", "{name} on {v}: {e:?}");
        }
    }
}

#[test]
fn the_false_clear_compares_nothing() {
    // org_id IS NOT NULL AND current_setting(...) <> '': reads the setting, pins nothing.
    check("false_clear", Want::default());
    for (_, e, _, readers) in each("false_clear") {
        assert!(e.reads_setting(&Tenant { setting: SETTING, readers: &readers }));
    }
}

#[test]
fn equality_with_the_setting_pins() {
    check("eq_cast", Want { scoped: true, ..Want::default() });
    check("text_cmp", Want { scoped: true, ..Want::default() });
    check("scalar_sub", Want { scoped: true, ..Want::default() });
    check("distinct_p", Want { scoped: true, ..Want::default() });
    check("nullif_ok", Want { scoped: true, ..Want::default() });
    check("shared", Want { scoped: true, ..Want::default() });
}

#[test]
fn an_unrelated_lower_is_not_a_broad_match() {
    check("and_lower", Want { scoped: true, ..Want::default() });
}

#[test]
fn an_or_branch_without_the_tenant_widens() {
    check("or_true", Want::default());
    check("tr", Want::default());
    check("case_p", Want::default());
    for (_, e, _, _) in each("tr") {
        assert!(e.is_const(true) && !e.is_const(false));
    }
}

#[test]
fn false_pins_everything() {
    check("f", Want { scoped: true, ..Want::default() });
    for (_, e, _, _) in each("f") {
        assert!(e.is_const(false));
    }
}

#[test]
fn fallbacks_open_on_a_missing_or_empty_setting() {
    check("isnull_fb", Want { fallback: true, ..Want::default() });
    check("coalesce_fb", Want { fallback: true, ..Want::default() });
    check("nullif_fb", Want { fallback: true, ..Want::default() });
    // COALESCE(setting, org_id::text): the row compared with itself when the setting is missing.
    check("coalesce_default", Want { fallback: true, ..Want::default() });
}

#[test]
fn pattern_and_case_folding_matches_are_broad() {
    for name in ["like_m", "ilike_m", "lower_m", "starts", "similar_p", "lower_col"] {
        check(name, Want { broad: true, ..Want::default() });
    }
}

#[test]
fn membership_subqueries_and_helpers_pin() {
    check("in_sub", Want { scoped: true, ..Want::default() });
    check("helper_eq", Want { scoped: true, ..Want::default() });
    check("helper_bool", Want { scoped: true, ..Want::default() });
    for (_, e, _, _) in each("in_sub") {
        let Expr::SubLink(l) = &e else { panic!("{e:?}") };
        assert_eq!(l.kind, SubLinkKind::Any);
        assert_eq!(l.relations.len(), 1);
        assert!(!l.outer_refs());
        assert!(l.body.iter().any(|b| b.any(&mut |x| *x == Expr::CurrentUser)));
    }
}

#[test]
fn child_tables_defer_to_their_parent() {
    check("exists_parent", Want { scoped: true, ..Want::default() });
    check("child_in", Want { scoped: true, ..Want::default() });
    check("child_bad", Want::default());
    for (_, e, _, _) in each("exists_parent") {
        let Expr::SubLink(l) = &e else { panic!("{e:?}") };
        assert_eq!(l.kind, SubLinkKind::Exists);
        assert!(l.outer_refs());
        let inner = Expr::QueryColumn { relation: l.relations.first().copied(), name: "id".into() };
        let outer = Expr::Column("parent_id".into());
        assert!(
            l.body.iter().any(
                |b| matches!(b, Expr::Op { name, args } if name == "=" && *args == [inner.clone(), outer.clone()])
            ),
            "{l:?}"
        );
    }
}

#[test]
fn the_current_user_is_a_tenant_source_in_both_shapes() {
    // CURRENT_USER is an SQLVALUEFUNCTION on 13 to 18; "current_user"() a FUNCEXPR.
    for name in ["cur_user", "sess_user", "fn_user"] {
        for (v, e, _, readers) in each(name) {
            let tenant = Tenant { setting: SETTING, readers: &readers };
            let Expr::Op { args, .. } = &e else { panic!("{e:?}") };
            assert_eq!(args[1], Expr::CurrentUser, "{name} on {v}");
            assert!(e.scoped(Some("owner_user"), &tenant), "{name} on {v}");
            assert!(!e.scoped(Some("org_id"), &tenant), "{name} on {v}");
            assert!(!e.reads_setting(&tenant));
        }
    }
}

#[test]
fn a_second_setting_is_a_bypass_branch() {
    check("bypass", Want { bypass: true, other: &["app.bypass_rls"], ..Want::default() });
    check("not_p", Want { bypass: true, other: &["app.current_user_id"], ..Want::default() });
    // A list of tenants in a setting of its own: pinned when that is the tenant setting.
    check("any_arr", Want { other: &["app.orgs"], ..Want::default() });
    for (_, e, column, readers) in each("any_arr") {
        assert!(e.scoped(column, &Tenant { setting: "app.orgs", readers: &readers }));
    }
}

#[test]
fn constants_are_decoded() {
    for (_, e, _, _) in each("quoted") {
        let Expr::Op { name, args } = &e else { panic!("{e:?}") };
        assert_eq!(name, "<>");
        assert_eq!(args[0], Expr::Column("status".into()));
        assert_eq!(args[1], Expr::Const { type_oid: 25, value: Value::Text("it's {a} (b) \\ \"c\" déjà".into()) });
    }
    for (_, e, _, _) in each("bypass") {
        let Expr::Or(branches) = &e else { panic!("{e:?}") };
        let Expr::Op { args, .. } = &branches[0] else { panic!("{e:?}") };
        assert_eq!(args[0], Expr::Setting { name: "app.bypass_rls".into(), missing_ok: true });
    }
}

#[test]
fn or_branches_are_flattened() {
    let v = |n: &str| Expr::Column(n.into());
    let e = Expr::Or(vec![v("a"), Expr::Or(vec![v("b"), v("c")]), Expr::And(vec![v("d"), Expr::Or(vec![v("e")])])]);
    assert_eq!(e.or_branches(), vec![&v("a"), &v("b"), &v("c"), &e.children()[2].clone()]);
    assert_eq!(v("a").or_branches(), vec![&v("a")]);
}
