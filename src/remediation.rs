//! Remediations written for this schema: a rule's fix with the finding's
//! relation, the app role, the tenant column and the relation's tenant
//! predicate filled in. Static and dynamic findings share it, so the same
//! cause gets the same fix whichever stage found it.
//!
//! # SQL and prose
//!
//! A rule's remediation is either **SQL** or **prose**. An SQL remediation is
//! statements that run as they stand, in order, as a later migration (by the
//! role that applies the schema): every name in it is this schema's (the
//! policy, function, role, sequence, foreign key, the role to hand an object
//! to), and whatever is not SQL (an alternative, a reason) is a `--` comment.
//! Where the app owns the object a REVOKE would not bind it, so the fix first
//! hands the object to [`Catalog::migration_role`]. A prose remediation (a
//! suite setting, a server upgrade, a judgement only a person can make) runs
//! nothing. Neither kind holds a placeholder such as `<table>`
//! (one shows only where a dynamic finding's object could not be found).
//!
//! The integration test `remediation::round_trip` applies every SQL
//! remediation of a lint fixture's findings to a copy of its schema and
//! checks that the finding is gone; it lists the rules whose remediation is
//! prose, each with the reason.

use crate::catalog::{Catalog, Policy, PolicyCommand, RelId, RelKind, Relation};
use crate::db::{ident, literal};
use crate::lint::{Hit, LintContext};
use crate::ownership::{Owner, Ownership};
use crate::rules::{FixContext, RuleId};

/// What a static finding's fix acts on beyond its relation, as the check saw it.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The policy (oid) on the finding's relation.
    pub policy: Option<u32>,
    /// The function (oid).
    pub function: Option<u32>,
    /// The foreign key (constraint name) on the finding's relation.
    pub foreign_key: Option<String>,
    /// The UNIQUE constraint or unique index (name) on the finding's relation.
    pub unique: Option<String>,
    /// The relation a policy consults (its lookup table).
    pub lookup: Option<RelId>,
    /// The database's own settings, not the app role's.
    pub database: bool,
}

/// A rule's remediation with this schema's names filled in. `object` is the
/// SQL name of what a static check pointed at; without one (a dynamic
/// finding), the object is what the rule's static check finds on the
/// relation, and widening policies are found on the relation.
pub fn render(
    rule: RuleId,
    catalog: &Catalog,
    ownership: &Ownership,
    setting: &str,
    app: &str,
    rel: Option<RelId>,
    object: Option<&str>,
) -> String {
    if object.is_none() && rule != RuleId::PermissiveOrWidening {
        let cx = LintContext::new(catalog, ownership, setting, app);
        let hits = crate::lint::check_of(rule).map(|check| check(&cx)).unwrap_or_default();
        // The hit on the relation; else one on no relation that names it, or the only one.
        let global: Vec<&Hit> = hits.iter().filter(|h| h.rel.is_none()).collect();
        let named = rel.and_then(|r| global.iter().find(|h| h.message.contains(&catalog.relation(r).qualified)));
        let hit = hits.iter().find(|h| h.rel == rel).or(named.copied()).or((global.len() == 1).then(|| global[0]));
        if let Some(hit) = hit {
            let target = Target { rel: hit.rel.or(rel), object: hit.target.clone(), subject: hit.subject.clone() };
            return write(rule, catalog, ownership, setting, app, &target);
        }
    }
    let found = match (object, rule, rel) {
        (Some(o), _, _) => Some(o.to_string()),
        (None, RuleId::PermissiveOrWidening, Some(r)) => widening_policies(catalog, ownership, setting, r),
        _ => None,
    };
    let target = Target { rel, object: found, subject: Subject::default() };
    write(rule, catalog, ownership, setting, app, &target)
}

/// The remediation of a static check's hit.
pub fn render_hit(rule: RuleId, cx: &LintContext<'_>, hit: &Hit) -> String {
    let target = Target { rel: hit.rel, object: hit.target.clone(), subject: hit.subject.clone() };
    write(rule, cx.catalog, cx.ownership, cx.setting, cx.app, &target)
}

/// What one finding's fix acts on.
struct Target {
    rel: Option<RelId>,
    object: Option<String>,
    subject: Subject,
}

/// Rules whose fix revokes a privilege of the app on the finding's relation:
/// an owner holds every privilege whatever the grants say.
const REVOKES_ON_RELATION: &[RuleId] = &[
    RuleId::PartitionDirectAccess,
    RuleId::MatviewNoRls,
    RuleId::TruncatePrivilege,
    RuleId::TriggerPrivilegeExfil,
    RuleId::ReferencesPrivilegeOracle,
    RuleId::SharedTableWritable,
    RuleId::SequenceCounterLeak,
];

/// `guc_bypass_flag` on a policy that is nothing but the flag: drop it.
const FLAG_POLICY: &str = "DROP POLICY {object};  -- it admits rows on a flag any session can set; give administrative jobs a separate BYPASSRLS role";

/// `unique_constraint_oracle` on a unique index rather than a constraint.
const UNIQUE_INDEX: &str = "DROP INDEX {object};\n{unique};  -- one tenant's value no longer collides with another's";

/// `policy_lookup_table_unprotected` on the membership table itself: pin its check.
const MEMBERSHIP_CHECK: &str =
    "ALTER POLICY {object} WITH CHECK ({predicate});  -- a user joins only the tenant in the context";

fn write(rule: RuleId, catalog: &Catalog, ownership: &Ownership, setting: &str, app: &str, t: &Target) -> String {
    let r = t.rel.map(|r| catalog.relation(r));
    let relation = r.map_or_else(|| "<table>".to_string(), |r| r.qualified.clone());
    let predicate = t.rel.map(|r| ownership.tenant_predicate(catalog, r, setting)).unwrap_or_default();
    let policy = t.subject.policy.and_then(|oid| r?.policies.iter().find(|p| p.oid == oid));
    let function = t.subject.function.and_then(|oid| catalog.function(oid));
    let anon = catalog.anon.as_ref().map(|a| ident(&a.role)).unwrap_or_else(|| "anon".into());
    let owner = ident(catalog.migration_role());
    let app_q = ident(app);
    let object = t.object.clone().unwrap_or_else(|| "<the object the message names>".to_string());

    let unique = r.zip(t.subject.unique.as_deref()).and_then(|(r, u)| unique_key(ownership, r, u));
    let mut template = rule.rule().remediation.to_string();
    let mut before = Vec::new();
    match rule {
        RuleId::GucBypassFlag if policy.is_some_and(|p| flag_only(catalog, ownership, setting, p, r)) => {
            template = FLAG_POLICY.into();
        }
        RuleId::PolicyLookupTableUnprotected if t.subject.lookup.is_none() && policy.is_some() => {
            template = MEMBERSHIP_CHECK.into();
        }
        RuleId::GucRoleOrDbDefault => {
            let resets = setting_defaults(catalog, setting, app, t.subject.database);
            if !resets.is_empty() {
                template = resets;
            }
        }
        RuleId::UniqueConstraintOracle if unique.as_ref().is_some_and(|u| !u.0) => {
            template = UNIQUE_INDEX.into();
        }
        RuleId::FkCrossTenantReference | RuleId::FkCascadeCrossTenant => {
            if let Some((r, fk)) = r.zip(t.subject.foreign_key.as_deref()) {
                before.extend(target_key(catalog, ownership, r, fk));
            }
        }
        _ => {}
    }
    if let Some(r) = r.filter(|r| r.app_owns && REVOKES_ON_RELATION.contains(&rule)) {
        before.push(format!(
            "ALTER {} {} OWNER TO {owner};  -- the app owns it, and REVOKE binds no owner",
            kind_word(r.kind),
            r.qualified
        ));
    }

    let lookup = t.subject.lookup.map(|l| catalog.relation(l).qualified.clone()).unwrap_or_else(|| relation.clone());
    let fill = FixContext {
        relation: &relation,
        app: &app_q,
        column: &ownership.column,
        predicate: &predicate,
        setting,
        key_type: &ownership.key_type,
        object: &object,
        anon: &anon,
        owner: &owner,
        rewritten: &policy.map(|p| per_statement(catalog, setting, p)).unwrap_or_default(),
        pin: &policy.map_or_else(|| format!("USING ({predicate}) WITH CHECK ({predicate})"), |p| pin(p, &predicate)),
        using: &policy.and_then(|p| p.using.as_deref()).map_or_else(|| "true".to_string(), paren),
        callers: &function.map_or_else(|| "PUBLIC".to_string(), |f| callers(catalog, app, f)),
        lookup: &lookup,
        reference: &r
            .zip(t.subject.foreign_key.as_deref())
            .and_then(|(r, fk)| reference(catalog, ownership, r, fk))
            .unwrap_or_default(),
        unique: &unique.map(|u| u.1).unwrap_or_default(),
    };
    let mut out: Vec<String> = before;
    out.push(crate::rules::fill(&template, &fill));
    out.join("\n")
}

/// `TABLE`, `VIEW`, `MATERIALIZED VIEW` or `FOREIGN TABLE`, for ALTER.
fn kind_word(kind: RelKind) -> &'static str {
    match kind {
        RelKind::Table | RelKind::Partitioned => "TABLE",
        RelKind::View => "VIEW",
        RelKind::MaterializedView => "MATERIALIZED VIEW",
        RelKind::Foreign => "FOREIGN TABLE",
    }
}

/// The clauses that pin policy `p` to the tenant: USING for what it reads,
/// WITH CHECK for what it writes (SELECT and DELETE take no WITH CHECK,
/// INSERT no USING).
fn pin(p: &Policy, predicate: &str) -> String {
    match p.command {
        PolicyCommand::Select | PolicyCommand::Delete => format!("USING ({predicate})"),
        PolicyCommand::Insert => format!("WITH CHECK ({predicate})"),
        PolicyCommand::Update | PolicyCommand::All => format!("USING ({predicate}) WITH CHECK ({predicate})"),
    }
}

/// `expr` in parentheses unless one pair already encloses all of it.
fn paren(expr: &str) -> String {
    let wrapped = expr.starts_with('(') && {
        let mut depth = 0i32;
        let mut closes_at_end = true;
        for (i, c) in expr.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 && i + 1 < expr.len() {
                closes_at_end = false;
                break;
            }
        }
        closes_at_end
    };
    if wrapped { expr.to_string() } else { format!("({expr})") }
}

/// Whether policy `p` (of `guc_bypass_flag`) admits nothing but the flag: no
/// OR branch pins the tenant.
fn flag_only(catalog: &Catalog, ownership: &Ownership, setting: &str, p: &Policy, r: Option<&Relation>) -> bool {
    let readers = crate::policy::setting_readers(catalog, setting);
    let tenant = crate::policy::Tenant { setting, readers: &readers };
    let column = r.and_then(|r| ownership.key_column(r.oid));
    [p.using_expr(), p.check_expr()]
        .into_iter()
        .flatten()
        .all(|e| e.or_branches().iter().all(|b| !b.pins_tenant(column, &tenant)))
}

/// The clauses of policy `p` as they stand, with every bare call of a
/// helper that reads the setting (`current_org()`, `auth.uid()`) wrapped in a
/// scalar subquery, which PostgreSQL runs once per statement.
fn per_statement(catalog: &Catalog, setting: &str, p: &Policy) -> String {
    let readers = crate::policy::setting_readers(catalog, setting);
    let calls: Vec<regex::Regex> = readers
        .iter()
        .filter_map(|oid| catalog.function(*oid))
        .filter(|f| f.arg_types.is_empty())
        .filter_map(|f| {
            let name = f.qualified.rsplit_once('.').map_or(f.qualified.as_str(), |(_, n)| n);
            let schema = f.qualified.strip_suffix(name).unwrap_or_default();
            // An optional `(select ` before the call: such calls are left alone.
            regex::Regex::new(&format!(
                r"(?i)(\(\s*select\s+)?((?:{})?{}\(\))",
                regex::escape(schema),
                regex::escape(name)
            ))
            .ok()
        })
        .collect();
    let wrap = |text: &str| {
        calls.iter().fold(text.to_string(), |text, call| {
            call.replace_all(&text, |c: &regex::Captures<'_>| match c.get(1) {
                Some(_) => c[0].to_string(),
                None => format!("(SELECT {})", &c[2]),
            })
            .into_owned()
        })
    };
    let using = p.using.as_deref().map(|u| format!("USING ({})", wrap(u)));
    let check = p.with_check.as_deref().map(|c| format!("WITH CHECK ({})", wrap(c)));
    [using, check].into_iter().flatten().collect::<Vec<_>>().join(" ")
}

/// Who may execute `f` and must lose it: PUBLIC, the app and the anonymous role where they can.
fn callers(catalog: &Catalog, app: &str, f: &crate::catalog::Function) -> String {
    let mut out = vec!["PUBLIC".to_string()];
    if f.app_can_execute {
        out.push(ident(app));
    }
    if let Some(a) = catalog.anon.as_ref().filter(|a| a.functions.contains(&f.oid)) {
        out.push(ident(&a.role));
    }
    out.join(", ")
}

/// Resets of the tenant setting's defaults: the app role's (for every
/// database, or for this one) or the database's. The database rowfence read
/// is a scratch copy, so the statement names whichever database it runs in.
fn setting_defaults(catalog: &Catalog, setting: &str, app: &str, database: bool) -> String {
    let prefix = format!("{setting}=");
    let has = |list: &[String]| list.iter().any(|s| s.starts_with(&prefix));
    let in_database = has(&catalog.app.settings_in_database);
    let everywhere = catalog.app.settings.iter().filter(|s| s.starts_with(&prefix)).count()
        > catalog.app.settings_in_database.iter().filter(|s| s.starts_with(&prefix)).count();
    let mut out = Vec::new();
    if database {
        out.push(format!(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET %s', current_database(), {}); END $$;  -- the database's default",
            literal(setting)
        ));
    } else {
        if everywhere || !in_database {
            out.push("ALTER ROLE {app} RESET {setting};".to_string());
        }
        if in_database {
            out.push(format!(
                "DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I RESET %s', {}, current_database(), {}); END $$;",
                literal(app),
                literal(setting)
            ));
        }
    }
    out.join("\n")
}

/// The tenant column of a table that holds it.
fn direct_column(ownership: &Ownership, rel: RelId) -> Option<&str> {
    match ownership.owner(rel) {
        Some(Owner::Direct { column }) => Some(column.as_str()),
        _ => None,
    }
}

/// The foreign key `name` on `r` with the tenant column on both sides:
/// `FOREIGN KEY (org_id, project_id) REFERENCES public.projects (org_id, id) ON DELETE ...`.
fn reference(catalog: &Catalog, ownership: &Ownership, r: &Relation, name: &str) -> Option<String> {
    let fk = r.foreign_keys.iter().find(|f| f.name == name)?;
    let target = catalog.relation(fk.target);
    let (col, tcol) = (direct_column(ownership, r.oid)?, direct_column(ownership, target.oid)?);
    let list = |first: &str, rest: &[String]| {
        std::iter::once(first).chain(rest.iter().map(String::as_str)).map(ident).collect::<Vec<_>>().join(", ")
    };
    let set_columns = || fk.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let action = match fk.on_delete.as_str() {
        "c" => " ON DELETE CASCADE".to_string(),
        "r" => " ON DELETE RESTRICT".to_string(),
        // From PostgreSQL 15 only the referencing columns are set, not the tenant column.
        "n" if catalog.server_version_num >= 150000 => format!(" ON DELETE SET NULL ({})", set_columns()),
        "n" => " ON DELETE SET NULL".to_string(),
        "d" if catalog.server_version_num >= 150000 => format!(" ON DELETE SET DEFAULT ({})", set_columns()),
        "d" => " ON DELETE SET DEFAULT".to_string(),
        _ => String::new(),
    };
    Some(format!(
        "FOREIGN KEY ({}) REFERENCES {} ({}){action}",
        list(col, &fk.columns),
        target.qualified,
        list(tcol, &fk.target_columns)
    ))
}

/// The UNIQUE key the foreign key `name` on `r` needs on its target once it
/// carries the tenant column, when the target has none.
fn target_key(catalog: &Catalog, ownership: &Ownership, r: &Relation, name: &str) -> Option<String> {
    let fk = r.foreign_keys.iter().find(|f| f.name == name)?;
    let target = catalog.relation(fk.target);
    let tcol = direct_column(ownership, target.oid)?;
    let mut want: Vec<&str> = std::iter::once(tcol).chain(fk.target_columns.iter().map(String::as_str)).collect();
    let key = want.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    want.sort_unstable();
    let same = |cols: &[String]| {
        let mut have: Vec<&str> = cols.iter().map(String::as_str).collect();
        have.sort_unstable();
        have == want
    };
    let exists = same(&target.primary_key) || target.uniques.iter().any(|u| same(u));
    (!exists).then(|| format!("ALTER TABLE {} ADD UNIQUE ({key});", target.qualified))
}

/// The unique key `name` on `r` with the tenant column first: `UNIQUE (...)`
/// for a constraint, the `CREATE UNIQUE INDEX` statement for an index; and
/// whether it is a constraint.
fn unique_key(ownership: &Ownership, r: &Relation, name: &str) -> Option<(bool, String)> {
    let col = ident(direct_column(ownership, r.oid)?);
    if let Some(k) = r.unique_keys.iter().find(|k| k.name == name) {
        let cols: Vec<String> = std::iter::once(col).chain(k.columns.iter().map(|c| ident(c))).collect();
        return Some(match k.constraint {
            true => (true, format!("UNIQUE ({})", cols.join(", "))),
            false => (false, format!("CREATE UNIQUE INDEX {} ON {} ({})", ident(name), r.qualified, cols.join(", "))),
        });
    }
    // Partial and expression indexes: the tenant column leads the key list.
    let u = r.unique_indexes.iter().find(|u| u.name == name)?;
    let at = u.definition.find(" USING ")?;
    let open = at + u.definition[at..].find('(')?;
    Some((false, format!("{}{col}, {}", &u.definition[..=open], &u.definition[open + 1..])))
}

/// `"p" ON rel` for the first permissive policy on `rel` that applies to the
/// app and has an OR branch that does not pin the tenant.
fn widening_policies(catalog: &Catalog, ownership: &Ownership, setting: &str, rel: RelId) -> Option<String> {
    let r = catalog.relation(rel);
    let readers = crate::policy::setting_readers(catalog, setting);
    let tenant = crate::policy::Tenant { setting, readers: &readers };
    let column = ownership.key_column(rel);
    r.policies
        .iter()
        .filter(|p| p.applies_to_app && p.permissive)
        .find(|p| p.using_expr().is_some_and(|u| u.or_branches().iter().any(|b| !b.pins_tenant(column, &tenant))))
        .map(|p| format!("{} ON {}", crate::db::ident(&p.name), r.qualified))
}
