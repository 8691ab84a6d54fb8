//! How a request carries its tenant: the settings the application sets per
//! transaction (`set_config(name, value, true)`), each a template with
//! `{tenant}` and `{user}` placeholders. One plain setting holding the key is
//! suite v1 (`tenant.setting`); `[context]` (v2) allows several, and JSON
//! such as the `request.jwt.claims` PostgREST and Supabase set.

use crate::db::literal;
use crate::generate::TenantKey;

/// The settings a tenant's transaction sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSpec {
    /// (setting, value template), in the order they are set.
    settings: Vec<(String, String)>,
    /// The role a request switches to before setting them (`SET LOCAL ROLE`).
    role: Option<String>,
}

impl ContextSpec {
    /// One setting holding the key itself (suite v1).
    pub fn single(setting: &str) -> ContextSpec {
        ContextSpec { settings: vec![(setting.to_string(), TENANT.to_string())], role: None }
    }

    /// Settings with value templates; `None` unless one carries `{tenant}`.
    pub fn templates(settings: Vec<(String, String)>) -> Option<ContextSpec> {
        settings.iter().any(|(_, t)| t.contains(TENANT)).then_some(ContextSpec { settings, role: None })
    }

    /// Requests switch to `role` first (`[app] set_role`).
    pub fn with_role(mut self, role: Option<String>) -> ContextSpec {
        self.role = role;
        self
    }

    /// The setting that carries the tenant: the first whose template has
    /// `{tenant}`. Static analysis treats reading it as reading the tenant.
    pub fn primary(&self) -> &str {
        self.settings.iter().find(|(_, t)| t.contains(TENANT)).map(|(s, _)| s.as_str()).expect("checked on creation")
    }

    /// Whether the context is more than the key in one setting.
    pub fn is_templated(&self) -> bool {
        self.settings.len() > 1 || self.settings[0].1 != TENANT
    }

    /// The settings and their values for tenant `key`.
    pub fn values(&self, key: &TenantKey) -> Vec<(&str, String)> {
        let user = user_of(key);
        self.settings.iter().map(|(s, t)| (s.as_str(), t.replace(TENANT, &key.0).replace(USER, &user))).collect()
    }

    /// What a request for tenant `key` runs first: the role switch, if any,
    /// then one statement setting every setting, all transaction-local.
    pub fn set_sql(&self, key: &TenantKey) -> String {
        let calls: Vec<String> = self
            .values(key)
            .into_iter()
            .map(|(s, v)| format!("set_config({}, {}, true)", literal(s), literal(&v)))
            .collect();
        let role =
            self.role.as_deref().map(|r| format!("SET LOCAL ROLE {}; ", crate::db::ident(r))).unwrap_or_default();
        format!("{role}SELECT {}", calls.join(", "))
    }
}

const TENANT: &str = "{tenant}";
const USER: &str = "{user}";

/// The user a tenant's requests run as, for `{user}`: a uuid derived from the
/// key, so each tenant has its own and every run the same.
pub fn user_of(key: &TenantKey) -> String {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let hash = key.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("00000000-0000-4000-a000-{:012x}", hash & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_tenant_and_user_into_json() {
        let spec = ContextSpec::templates(vec![
            ("request.jwt.claims".into(), r#"{"sub":"{user}","app_metadata":{"org_id":"{tenant}"}}"#.into()),
            ("app.role".into(), "member".into()),
        ])
        .unwrap();
        assert_eq!(spec.primary(), "request.jwt.claims");
        let key = TenantKey("k1".into());
        let sql = spec.set_sql(&key);
        assert!(sql.contains(r#""org_id":"k1""#), "{sql}");
        assert!(sql.contains(&user_of(&key)), "{sql}");
        assert!(sql.contains("set_config('app.role', 'member', true)"), "{sql}");
        assert_ne!(user_of(&key), user_of(&TenantKey("k2".into())));
        assert!(ContextSpec::templates(vec![("a.b".into(), "x".into())]).is_none());
        assert!(!ContextSpec::single("app.org").is_templated());
    }
}
