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
    /// JSON paths inside settings that the end user can change (Supabase's
    /// `user_metadata`): (setting, path).
    user_controlled: Vec<(String, Vec<String>)>,
}

impl ContextSpec {
    /// One setting holding the key itself (suite v1).
    pub fn single(setting: &str) -> ContextSpec {
        ContextSpec {
            settings: vec![(setting.to_string(), TENANT.to_string())],
            role: None,
            user_controlled: Vec::new(),
        }
    }

    /// Settings with value templates; `None` unless one carries `{tenant}`
    /// (or, where memberships decide the tenants, `{user}`).
    pub fn templates(settings: Vec<(String, String)>, membership: bool) -> Option<ContextSpec> {
        let carries = |t: &String| t.contains(TENANT) || membership && t.contains(USER);
        settings.iter().any(|(_, t)| carries(t)).then_some(ContextSpec {
            settings,
            role: None,
            user_controlled: Vec::new(),
        })
    }

    /// Requests switch to `role` first (`[app] set_role`).
    pub fn with_role(mut self, role: Option<String>) -> ContextSpec {
        self.role = role;
        self
    }

    /// Declares JSON paths (`user_metadata.org_id`) inside `setting` that the
    /// end user can change. Errors name a setting the context does not set.
    pub fn with_user_controlled(mut self, setting: &str, path: &str) -> Result<ContextSpec, String> {
        if !self.settings.iter().any(|(s, _)| s == setting) {
            return Err(format!("[user_controlled] names \"{setting}\", which [context] does not set"));
        }
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        if parts.iter().any(String::is_empty) {
            return Err(format!(
                "[user_controlled] path \"{path}\" is not a dotted JSON path such as \"user_metadata.org_id\""
            ));
        }
        self.user_controlled.push((setting.to_string(), parts));
        Ok(self)
    }

    /// Whether some claim is the end user's to change.
    pub fn has_user_controlled(&self) -> bool {
        !self.user_controlled.is_empty()
    }

    /// The setting that carries the tenant: the first whose template has
    /// `{tenant}`, else (memberships) the first with `{user}`. Static
    /// analysis treats reading it as reading the tenant.
    pub fn primary(&self) -> &str {
        let with = |p: &str| self.settings.iter().find(|(_, t)| t.contains(p)).map(|(s, _)| s.as_str());
        with(TENANT).or_else(|| with(USER)).expect("checked on creation")
    }

    /// Whether a request names its tenant (`{tenant}` in some setting), not
    /// only its user.
    pub fn names_tenant(&self) -> bool {
        self.settings.iter().any(|(_, t)| t.contains(TENANT))
    }

    /// Whether the context is more than the key in one setting.
    pub fn is_templated(&self) -> bool {
        self.settings.len() > 1 || self.settings[0].1 != TENANT
    }

    /// The settings and their values for a request of `who`; a forged
    /// request also writes its key into every user-controlled path.
    pub fn values(&self, who: &Identity) -> Vec<(&str, String)> {
        self.settings
            .iter()
            .map(|(s, t)| {
                let mut value = t.replace(TENANT, &who.tenant.0).replace(USER, &who.user);
                if let Some(forged) = &who.forged {
                    for (_, path) in self.user_controlled.iter().filter(|(u, _)| u == s) {
                        value = forge(&value, path, &forged.0);
                    }
                }
                (s.as_str(), value)
            })
            .collect()
    }

    /// What a request of `who` runs first: the role switch, if any, then one
    /// statement setting every setting, all transaction-local.
    pub fn set_sql(&self, who: &Identity) -> String {
        let calls: Vec<String> = self
            .values(who)
            .into_iter()
            .map(|(s, v)| format!("set_config({}, {}, true)", literal(s), literal(&v)))
            .collect();
        let role =
            self.role.as_deref().map(|r| format!("SET LOCAL ROLE {}; ", crate::db::ident(r))).unwrap_or_default();
        format!("{role}SELECT {}", calls.join(", "))
    }
}

/// Who a request is: the tenant it names and the user it runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The tenant key (`{tenant}`).
    pub tenant: TenantKey,
    /// The user (`{user}`).
    pub user: String,
    /// A key the user wrote into the claims they control (`[user_controlled]`).
    pub forged: Option<TenantKey>,
}

impl Identity {
    /// Tenant `key`'s own user.
    pub fn of(key: &TenantKey) -> Identity {
        Identity { tenant: key.clone(), user: user_of(key), forged: None }
    }
}

/// `value` (JSON; anything else counts as `{}`) with `path` set to `key`.
fn forge(value: &str, path: &[String], key: &str) -> String {
    let mut root: serde_json::Value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::json!({}));
    let mut at = &mut root;
    for part in path {
        if !at.is_object() {
            *at = serde_json::json!({});
        }
        at = at.as_object_mut().expect("made an object").entry(part.clone()).or_insert(serde_json::Value::Null);
    }
    *at = serde_json::Value::String(key.to_string());
    root.to_string()
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

/// The user who is a member of every tenant in `keys` (`[membership]`).
pub fn user_of_all(keys: &[TenantKey]) -> String {
    let joined: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    user_of(&TenantKey(format!("members of {}", joined.join(" and "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_tenant_and_user_into_json() {
        let spec = ContextSpec::templates(
            vec![
                ("request.jwt.claims".into(), r#"{"sub":"{user}","app_metadata":{"org_id":"{tenant}"}}"#.into()),
                ("app.role".into(), "member".into()),
            ],
            false,
        )
        .unwrap();
        assert_eq!(spec.primary(), "request.jwt.claims");
        let key = TenantKey("k1".into());
        let sql = spec.set_sql(&Identity::of(&key));
        assert!(sql.contains(r#""org_id":"k1""#), "{sql}");
        assert!(sql.contains(&user_of(&key)), "{sql}");
        assert!(sql.contains("set_config('app.role', 'member', true)"), "{sql}");
        assert_ne!(user_of(&key), user_of(&TenantKey("k2".into())));
        assert!(ContextSpec::templates(vec![("a.b".into(), "x".into())], false).is_none());
        let user_only = vec![("a.b".into(), "{user}".into())];
        assert!(ContextSpec::templates(user_only.clone(), false).is_none());
        assert_eq!(ContextSpec::templates(user_only, true).unwrap().primary(), "a.b");
        let forged = spec.clone().with_user_controlled("request.jwt.claims", "user_metadata.org_id").unwrap();
        let who = Identity { forged: Some(TenantKey("k2".into())), ..Identity::of(&key) };
        let sql = forged.set_sql(&who);
        assert!(sql.contains(r#""user_metadata":{"org_id":"k2"}"#) && sql.contains(r#""org_id":"k1""#), "{sql}");
        assert!(spec.clone().with_user_controlled("app.nope", "a").is_err());
        assert!(spec.with_user_controlled("request.jwt.claims", "a..b").is_err());
        assert!(!ContextSpec::single("app.org").is_templated());
    }
}
