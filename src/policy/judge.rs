//! What a policy expression means for the tenant: the judgements the static
//! rules and cause attribution make, on the typed tree.

use std::collections::BTreeSet;

use super::expr::{Expr, SubLink, SubLinkKind, Value, uncast};

/// Where the tenant comes from in a session: the setting and the functions
/// that read it ([`super::setting_readers`]).
#[derive(Debug, Clone, Copy)]
pub struct Tenant<'a> {
    /// The tenant setting, e.g. `app.current_org_id`.
    pub setting: &'a str,
    /// Functions that read the setting, at any depth.
    pub readers: &'a BTreeSet<u32>,
}

/// Pattern-matching operators: LIKE, ILIKE, regular expressions (SIMILAR TO is `~`).
const PATTERN_OPS: &[&str] = &["~~", "~~*", "~", "~*"];
/// Functions that fold case or take a prefix or part of a string.
const FOLDING: &[&str] = &["lower", "upper", "left", "starts_with", "strpos", "position", "substr", "substring"];

impl Expr {
    /// Immediate sub-expressions, subqueries' tests and bodies included.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Or(xs) | Expr::And(xs) | Expr::Coalesce(xs) | Expr::NullIf(xs) => xs.iter().collect(),
            Expr::Op { args, .. } | Expr::Func { args, .. } | Expr::ScalarArrayOp { args, .. } => args.iter().collect(),
            Expr::Not(x) | Expr::Cast(x) | Expr::NullTest { arg: x, .. } => vec![x],
            Expr::SubLink(l) => l.test.iter().chain(&l.body).collect(),
            Expr::Unknown { children, .. } => children.iter().collect(),
            Expr::Bool(_)
            | Expr::Column(_)
            | Expr::QueryColumn { .. }
            | Expr::Param
            | Expr::Const { .. }
            | Expr::Setting { .. }
            | Expr::CurrentUser => Vec::new(),
        }
    }

    /// Whether this expression or any part of it satisfies `pred`.
    pub fn any(&self, pred: &mut impl FnMut(&Expr) -> bool) -> bool {
        pred(self) || self.children().into_iter().any(|c| c.any(pred))
    }

    /// The top-level OR branches (nested ORs flattened); the expression itself if it is no OR.
    pub fn or_branches(&self) -> Vec<&Expr> {
        match self {
            Expr::Or(xs) => xs.iter().flat_map(Expr::or_branches).collect(),
            _ => vec![self],
        }
    }

    /// Whether some OR branch admits rows whose `column` is NULL (`column IS
    /// NULL`, alone or with further conditions): shared rows.
    pub fn admits_null(&self, column: &str) -> bool {
        let is_null = |e: &Expr| matches!(e, Expr::NullTest { arg, is_null: true } if matches!(uncast(arg), Expr::Column(c) if c == column));
        self.or_branches().into_iter().any(|b| match b {
            Expr::And(xs) => xs.iter().any(is_null),
            _ => is_null(b),
        })
    }

    /// Whether it is the constant `value` (`USING (true)`, `USING (false)`).
    pub fn is_const(&self, value: bool) -> bool {
        *self == Expr::Bool(value)
    }

    /// Whether it reads the tenant setting directly or calls a function that does.
    pub fn reads_setting(&self, tenant: &Tenant<'_>) -> bool {
        self.any(&mut |e| tenant.source_leaf(e))
    }

    /// Whether every OR branch pins the row to the tenant ([`Expr::pins_tenant`]).
    pub fn scoped(&self, column: Option<&str>, tenant: &Tenant<'_>) -> bool {
        self.or_branches().into_iter().all(|b| b.pins_tenant(column, tenant))
    }

    /// Whether this expression (an OR branch) admits only the tenant's rows.
    ///
    /// `column` is the table's tenant column; `None` for tables without one
    /// (children), where a comparison of any column of the row with a tenant
    /// source, a helper call on the row, or a subquery on another relation
    /// correlated with the row counts. A branch pins when it is `false`;
    /// `column IS NULL` (shared rows); an AND of which some conjunct pins; an
    /// equality (`=`, `= ANY`, `IN (SELECT ...)`, `NOT IS DISTINCT FROM`) of
    /// the column (through casts) with a tenant source (a value computed from
    /// the setting, a reader function, the current user or a subquery, and
    /// nothing of the row); a call of a reader function taking the column; or
    /// an EXISTS over another relation that refers to the row.
    pub fn pins_tenant(&self, column: Option<&str>, tenant: &Tenant<'_>) -> bool {
        let is_column = |e: &Expr| match (uncast(e), column) {
            (Expr::Column(c), Some(want)) => c == want,
            (Expr::Column(_), None) => true,
            _ => false,
        };
        match self {
            Expr::Bool(false) => true,
            Expr::And(xs) => xs.iter().any(|x| x.pins_tenant(column, tenant)),
            Expr::Or(xs) => xs.iter().all(|x| x.pins_tenant(column, tenant)),
            Expr::NullTest { arg, is_null: true } => column.is_some() && is_column(arg),
            Expr::Op { name, args } if name == "=" => match args.as_slice() {
                // `is_member(team_id) = true` means what the call means.
                [a, Expr::Bool(true)] | [Expr::Bool(true), a] => a.pins_tenant(column, tenant),
                [a, b] => is_column(a) && tenant.source(b) || is_column(b) && tenant.source(a),
                _ => false,
            },
            Expr::Not(inner) => match &**inner {
                Expr::Op { name, args } if name == "IS DISTINCT FROM" => match args.as_slice() {
                    [a, b] => is_column(a) && tenant.source(b) || is_column(b) && tenant.source(a),
                    _ => false,
                },
                _ => false,
            },
            Expr::ScalarArrayOp { name, use_or: true, args } if name == "=" => match args.as_slice() {
                [a, b] => is_column(a) && tenant.source(b),
                _ => false,
            },
            Expr::Func { oid, args, .. } if tenant.readers.contains(oid) => args.iter().any(is_column),
            Expr::SubLink(l) => match (l.kind, &l.test) {
                (SubLinkKind::Exists, _) => l.outer_refs() && (!l.relations.is_empty() || l.reads_setting(tenant)),
                (SubLinkKind::Any, Some(Expr::Op { name, args })) if name == "=" => match args.as_slice() {
                    [a, Expr::Param] | [Expr::Param, a] => {
                        is_column(a) && tenant.sublink_source(l)
                            // `(select auth.uid()) IN (SELECT member_ids(team_id))`: the
                            // user among the members a lookup on the row's tenant returns.
                            || tenant.source(a) && l.outer_refs() && l.looks_up()
                    }
                    _ => false,
                },
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether an OR branch (of several) is true when the setting is missing
    /// or empty, without looking at the row: `current_setting(...) IS NULL`,
    /// `= ''`, `COALESCE(current_setting(...), '') = ''`,
    /// `NULLIF(current_setting(...), '') IS NULL` and the like.
    pub fn fallback_open(&self, setting: &str) -> bool {
        let branches = self.or_branches();
        let several = branches.len() > 1;
        branches.into_iter().any(|b| b.row_fallback(setting) || several && b.fallback_branch(setting))
    }

    /// Whether this OR branch is such a fallback: it reads the setting, not
    /// the row, and is true when the setting is missing or empty; or it
    /// compares the row with itself when the setting is missing
    /// ([`Expr::row_fallback`]).
    pub fn fallback_branch(&self, setting: &str) -> bool {
        self.row_fallback(setting)
            || !self.reads_row()
                && self.any(&mut |e| is_setting(e, setting))
                && [true, false].into_iter().any(|missing| eval(self, setting, missing) == V::Bool(true))
    }

    /// `col = COALESCE(<the setting>, col)` (through casts and NULLIF): with
    /// no tenant set the column is compared with itself, true on every row.
    fn row_fallback(&self, setting: &str) -> bool {
        let Expr::Op { name, args } = self else { return false };
        let [a, b] = args.as_slice() else { return false };
        let column = |e: &Expr| match uncast(e) {
            Expr::Column(c) => Some(c.clone()),
            _ => None,
        };
        let falls_back_to = |c: &str, e: &Expr| match uncast(e) {
            Expr::Coalesce(xs) => {
                xs.first().is_some_and(|x| carries_setting(x, setting))
                    && xs[1..].iter().any(|x| column(x).as_deref() == Some(c))
            }
            _ => false,
        };
        name == "="
            && (column(a).is_some_and(|c| falls_back_to(&c, b)) || column(b).is_some_and(|c| falls_back_to(&c, a)))
    }

    /// Whether every OR branch pins the row to the tenant except fallbacks
    /// for a missing setting: the expression's only flaw is
    /// `guc_missing_fallback_open`, so other rules leave it to that one.
    pub fn scoped_but_for_fallback(&self, column: Option<&str>, tenant: &Tenant<'_>) -> bool {
        self.fallback_open(tenant.setting)
            && self
                .or_branches()
                .into_iter()
                .all(|b| b.pins_tenant(column, tenant) || b.fallback_branch(tenant.setting))
    }

    /// Whether the setting's value is matched loosely: it flows (through
    /// casts and `||`) into LIKE, ILIKE, SIMILAR TO or a regular expression,
    /// or case folding / prefix functions are applied to it or to the column
    /// it is compared with.
    pub fn broad_match(&self, setting: &str) -> bool {
        let carries = |e: &Expr| carries_setting(e, setting);
        self.any(&mut |e| match e {
            Expr::Op { name, args } | Expr::ScalarArrayOp { name, args, .. }
                if PATTERN_OPS.contains(&name.as_str()) =>
            {
                args.iter().any(carries)
            }
            Expr::Func { schema, name, args, .. } if schema == "pg_catalog" && FOLDING.contains(&name.as_str()) => {
                args.iter().any(carries)
            }
            Expr::Op { args, .. } => match args.as_slice() {
                [a, b] => carries(a) && folded_row(b) || carries(b) && folded_row(a),
                _ => false,
            },
            _ => false,
        })
    }

    /// Custom settings (names with a dot) other than `setting` that it reads, in order.
    pub fn other_settings(&self, setting: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.any(&mut |e| {
            if let Expr::Setting { name, .. } = e
                && name.contains('.')
                && !name.eq_ignore_ascii_case(setting)
                && !out.iter().any(|o| o.eq_ignore_ascii_case(name))
            {
                out.push(name.clone());
            }
            false
        });
        out
    }

    /// Whether an OR branch reads another custom setting: any session can set
    /// one, so the branch is a way around the tenant. One OR branch of several
    /// counts whatever it compares; a policy of a single branch counts when
    /// the setting decides for every row alike (`current_setting('app.bypass_rls')
    /// = 'on'` as a policy of its own), not when it is compared with the row
    /// (`author_id = current_setting('app.user_id')`, a second context setting).
    pub fn bypass_branch(&self, setting: &str) -> bool {
        let branches = self.or_branches();
        let several = branches.len() > 1;
        branches.into_iter().any(|b| !b.other_settings(setting).is_empty() && (several || !b.reads_row()))
    }

    /// A call of a function in `readers` outside any subquery, whose
    /// arguments do not involve the row (`auth.uid()`): PostgreSQL runs it
    /// once per row, where `(select auth.uid())` would run once. Its name.
    pub fn per_row_context_call(&self, readers: &BTreeSet<u32>) -> Option<String> {
        match self {
            Expr::SubLink(_) => None,
            Expr::Func { oid, schema, name, args } if readers.contains(oid) && !args.iter().any(Expr::reads_row) => {
                Some(format!("{schema}.{name}()"))
            }
            _ => self.children().into_iter().find_map(|c| c.per_row_context_call(readers)),
        }
    }

    /// Whether it refers to the judged row (outside subqueries, which are judged whole).
    fn reads_row(&self) -> bool {
        match self {
            Expr::Column(_) => true,
            Expr::SubLink(l) => l.test.as_ref().is_some_and(Expr::reads_row),
            _ => self.children().into_iter().any(Expr::reads_row),
        }
    }
}

impl SubLink {
    /// Whether it refers to the judged row.
    pub fn outer_refs(&self) -> bool {
        self.body.iter().any(|e| e.any(&mut |x| matches!(x, Expr::Column(_))))
    }

    /// Whether it reads the tenant setting, directly or through a reader.
    pub fn reads_setting(&self, tenant: &Tenant<'_>) -> bool {
        self.body.iter().any(|e| e.reads_setting(tenant))
    }

    /// Whether it consults something that can say who belongs where: a
    /// relation, or a function call.
    fn looks_up(&self) -> bool {
        !self.relations.is_empty() || self.body.iter().any(|e| e.any(&mut |x| matches!(x, Expr::Func { .. })))
    }
}

impl Tenant<'_> {
    /// A setting read, a reader call, the current user.
    fn source_leaf(&self, e: &Expr) -> bool {
        match e {
            Expr::Setting { name, .. } => name.eq_ignore_ascii_case(self.setting),
            Expr::Func { oid, .. } => self.readers.contains(oid),
            _ => false,
        }
    }

    /// A value fixed by the session's tenant: computed from tenant sources
    /// and constants only, not from the row.
    fn source(&self, e: &Expr) -> bool {
        match uncast(e) {
            Expr::SubLink(l) => self.sublink_source(l),
            e => {
                !e.reads_row()
                    && e.any(&mut |x| {
                        self.source_leaf(x)
                            || *x == Expr::CurrentUser
                            || matches!(x, Expr::SubLink(l) if self.sublink_source(l))
                    })
            }
        }
    }

    /// A subquery yielding tenant values: it reads the setting or the
    /// current user, or consults another relation (membership tables,
    /// RLS-protected parents).
    fn sublink_source(&self, l: &SubLink) -> bool {
        !l.relations.is_empty() || l.body.iter().any(|e| e.any(&mut |x| self.source_leaf(x) || *x == Expr::CurrentUser))
    }
}

fn is_setting(e: &Expr, setting: &str) -> bool {
    matches!(e, Expr::Setting { name, .. } if name.eq_ignore_ascii_case(setting))
}

/// The setting's value flows into `e` through casts, `||`, COALESCE/NULLIF,
/// the pattern SIMILAR TO builds, or a scalar subquery.
fn carries_setting(e: &Expr, setting: &str) -> bool {
    match uncast(e) {
        e if is_setting(e, setting) => true,
        Expr::Op { name, args } if name == "||" => args.iter().any(|a| carries_setting(a, setting)),
        Expr::Func { schema, name, args, .. }
            if schema == "pg_catalog" && matches!(name.as_str(), "similar_to_escape" | "similar_escape") =>
        {
            args.first().is_some_and(|a| carries_setting(a, setting))
        }
        Expr::Coalesce(xs) | Expr::NullIf(xs) => xs.first().is_some_and(|x| carries_setting(x, setting)),
        Expr::SubLink(l) if l.kind == SubLinkKind::Expr => l.body.iter().any(|b| carries_setting(b, setting)),
        _ => false,
    }
}

/// A folding function applied to the row (`lower(org_key)`).
fn folded_row(e: &Expr) -> bool {
    matches!(uncast(e), Expr::Func { schema, name, args, .. }
        if schema == "pg_catalog" && FOLDING.contains(&name.as_str()) && args.iter().any(Expr::reads_row))
}

/// A value under three-valued logic, as far as the fallback shapes need.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Bool(bool),
    Text(String),
    /// Depends on the row, or on something not modelled, or an error.
    Unknown,
}

/// Evaluates `e` with the setting missing (`missing`) or set to ''.
fn eval(e: &Expr, setting: &str, missing: bool) -> V {
    let ev = |x: &Expr| eval(x, setting, missing);
    match e {
        Expr::Bool(b) => V::Bool(*b),
        Expr::Const { value: Value::Null, .. } => V::Null,
        Expr::Const { value: Value::Text(t), .. } => V::Text(t.clone()),
        // A missing setting read without missing_ok is an error, which denies.
        Expr::Setting { name, missing_ok } if name.eq_ignore_ascii_case(setting) => match (missing, missing_ok) {
            (true, true) => V::Null,
            (true, false) => V::Unknown,
            (false, _) => V::Text(String::new()),
        },
        Expr::Cast(x) => ev(x),
        Expr::NullTest { arg, is_null } => match ev(arg) {
            V::Null => V::Bool(*is_null),
            V::Unknown => V::Unknown,
            _ => V::Bool(!is_null),
        },
        Expr::Coalesce(xs) => {
            for x in xs {
                match ev(x) {
                    V::Null => continue,
                    v => return v,
                }
            }
            V::Null
        }
        Expr::NullIf(xs) => match xs.as_slice() {
            [a, b] => match (ev(a), ev(b)) {
                (V::Null, _) => V::Null,
                (V::Text(x), V::Text(y)) if x == y => V::Null,
                (a @ V::Text(_), V::Text(_) | V::Null) => a,
                _ => V::Unknown,
            },
            _ => V::Unknown,
        },
        Expr::Op { name, args } if matches!(name.as_str(), "=" | "<>" | "||") => match args.as_slice() {
            [a, b] => match (ev(a), ev(b)) {
                (V::Unknown, _) | (_, V::Unknown) => V::Unknown,
                (V::Null, _) | (_, V::Null) => V::Null,
                (V::Text(x), V::Text(y)) if name == "||" => V::Text(x + &y),
                (x, y) if name == "=" => V::Bool(x == y),
                (x, y) => V::Bool(x != y),
            },
            _ => V::Unknown,
        },
        Expr::Not(x) => match ev(x) {
            V::Bool(b) => V::Bool(!b),
            V::Null => V::Null,
            _ => V::Unknown,
        },
        Expr::And(xs) | Expr::Or(xs) => {
            let or = matches!(e, Expr::Or(_));
            let mut out = V::Bool(!or);
            for x in xs {
                match ev(x) {
                    V::Bool(b) if b == or => return V::Bool(or),
                    V::Bool(_) => {}
                    V::Null if out != V::Unknown => out = V::Null,
                    _ => out = V::Unknown,
                }
            }
            out
        }
        _ => V::Unknown,
    }
}
