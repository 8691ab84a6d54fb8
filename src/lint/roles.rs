//! B. Role bypass, and role/database defaults of the tenant setting.

use super::{Hit, LintContext};

const PRIVILEGED_PREDEFINED: &[&str] = &[
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_maintain",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
];

pub(super) fn app_superuser(cx: &LintContext<'_>) -> Vec<Hit> {
    if !cx.catalog.app.superuser {
        return Vec::new();
    }
    vec![Hit::global(format!("{} is a superuser: row-level security never applies to it", cx.app)).role(cx.app)]
}

pub(super) fn app_bypassrls(cx: &LintContext<'_>) -> Vec<Hit> {
    if !cx.catalog.app.bypassrls || cx.catalog.app.superuser {
        return Vec::new();
    }
    vec![Hit::global(format!("{} has BYPASSRLS: every policy is ignored for it", cx.app)).role(cx.app)]
}

/// The app owns (directly or by inheriting the owner) a tenant table without FORCE.
pub(super) fn app_owns_table(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.tenant_tables()
        .filter(|r| r.app_owns)
        .map(|r| {
            let how = if r.owner == cx.app {
                "owns".to_string()
            } else {
                format!("inherits ownership (through {}) of", r.owner)
            };
            if r.rls_forced {
                // FORCE holds the owner only until it runs NO FORCE, DROP POLICY or DISABLE.
                Hit::on(r, format!("{} {how} {}: FORCE ROW LEVEL SECURITY is set, but an owner can turn it off (ALTER TABLE ... NO FORCE ROW LEVEL SECURITY), drop the policies or TRUNCATE, and REVOKE does not bind an owner", cx.app, r.qualified)).severity(crate::rules::Severity::High)
            } else {
                Hit::on(
                    r,
                    format!(
                        "{} {how} {} and FORCE ROW LEVEL SECURITY is not set: owners bypass the policies",
                        cx.app, r.qualified
                    ),
                )
            }
        })
        .collect()
}

/// Membership in a superuser, BYPASSRLS or table-owning role the app can SET ROLE to.
pub(super) fn app_can_become_bypass_role(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for m in cx.catalog.app.memberships.iter().filter(|m| m.can_set) {
        let owns: Vec<&str> =
            cx.tenant_tables().filter(|r| r.owner == m.role && !r.rls_forced).map(|r| r.qualified.as_str()).collect();
        let why = if m.superuser {
            "a superuser".to_string()
        } else if m.bypassrls {
            "a BYPASSRLS role".to_string()
        } else if !owns.is_empty() && !m.inherits {
            format!("the owner of {} (without FORCE)", owns.join(", "))
        } else {
            continue;
        };
        out.push(
            Hit::global(format!(
                "{} is a member of {}, {why}: `SET ROLE {}` escapes every policy",
                cx.app, m.role, m.role
            ))
            .role(&m.role),
        );
    }
    out
}

pub(super) fn app_privileged_predefined_role(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.catalog
        .app
        .memberships
        .iter()
        .filter(|m| PRIVILEGED_PREDEFINED.contains(&m.role.as_str()))
        .map(|m| {
            Hit::global(format!("{} is a member of {}, which reaches beyond row-level security", cx.app, m.role))
                .target(&crate::db::ident(&m.role))
        })
        .collect()
}

/// `ALTER ROLE/DATABASE ... SET <tenant setting>`: context-less sessions get a tenant.
pub(super) fn guc_role_or_db_default(cx: &LintContext<'_>) -> Vec<Hit> {
    let (role, database) = cx.catalog.setting_defaults(cx.setting);
    let mut out = Vec::new();
    for s in role {
        out.push(
            Hit::global(format!(
                "role {} has a default `{s}`: a session that forgets to set the tenant gets this one",
                cx.app
            ))
            .role(cx.app),
        );
    }
    for s in database {
        out.push(
            Hit::global(format!(
                "the database has a default `{s}`: a session that forgets to set the tenant gets this one"
            ))
            .subject(|s| s.database = true),
        );
    }
    out
}
