//! Memberships (`[membership]`): which users belong to which tenants.
//!
//! Each tenant's requests run as the tenant's own user
//! ([`crate::context::user_of`]), a member of that tenant alone; with three
//! tenants or more, one more user is a member of the first two. Random
//! membership rows would make those users members of tenants they should not
//! see, so the membership table (and the users table it references) hold
//! exactly these rows: the oracle stays "a user reaches only the rows of the
//! tenants it belongs to".

use super::{Dataset, Model, Row, TenantKey};
use crate::catalog::{Catalog, ForeignKey, RelId};
use crate::context::{user_of, user_of_all};
use crate::db::literal;
use crate::ownership::Owner;

/// Users and the tenants they belong to, for `data`'s tenants.
pub(super) struct Members {
    /// (user, tenant index) membership rows.
    pub rows: Vec<(String, usize)>,
    /// Users that exist, with the tenant that owns their row where users
    /// belong to tenants; the non-member user has none.
    pub users: Vec<(String, Option<usize>)>,
    /// Whether a user belongs to two tenants.
    pub two_tenant_user: bool,
}

impl Members {
    /// The memberships of a case with tenants `keys` and unused key `unknown`.
    pub fn of(keys: &[TenantKey], unknown: &TenantKey) -> Members {
        let mut rows: Vec<(String, usize)> = keys.iter().enumerate().map(|(i, k)| (user_of(k), i)).collect();
        let mut users: Vec<(String, Option<usize>)> = rows.iter().map(|(u, i)| (u.clone(), Some(*i))).collect();
        // Two tenants are one user's only when a third one's rows stay foreign.
        let two_tenant_user = keys.len() >= 3;
        if two_tenant_user {
            let both = user_of_all(&keys[..2]);
            rows.extend([(both.clone(), 0), (both.clone(), 1)]);
            users.push((both, Some(0)));
        }
        users.push((user_of(unknown), None));
        Members { rows, users, two_tenant_user }
    }
}

impl Model {
    /// A tenant's row that references a user references one of the tenant's
    /// members (rows are written by the tenant's own users), where one is
    /// among `candidates`.
    pub(super) fn members_first<'r>(
        &self,
        data: &Dataset,
        fk: &ForeignKey,
        tenant: Option<usize>,
        candidates: Vec<&'r Row>,
    ) -> Vec<&'r Row> {
        let Some((users, col)) = self.membership.as_ref().and_then(|m| m.users.as_ref()) else {
            return candidates;
        };
        let Some(t) = tenant.filter(|_| fk.target == *users && fk.target_columns.len() == 1) else {
            return candidates;
        };
        let theirs: Vec<String> = data.memberships.iter().filter(|(_, m)| *m == t).map(|(u, _)| literal(u)).collect();
        let mine: Vec<&Row> = candidates
            .iter()
            .copied()
            .filter(|r| r.get(col).is_some_and(|v| theirs.iter().any(|u| v.starts_with(u.as_str()))))
            .collect();
        if mine.is_empty() { candidates } else { mine }
    }

    /// The rows `rel` holds instead of generated ones, when it is the
    /// membership table or the users table: `None` for any other table.
    pub(super) fn member_rows(
        &self,
        catalog: &Catalog,
        data: &Dataset,
        rel_id: RelId,
        owner: &Owner,
        members: &Members,
    ) -> Option<Vec<Row>> {
        let m = self.membership.as_ref()?;
        let rel = catalog.relation(rel_id);
        let (column, wanted): (&str, Vec<(String, Option<usize>)>) = if rel_id == m.rel {
            (&m.user_column, members.rows.iter().map(|(u, t)| (u.clone(), Some(*t))).collect())
        } else if let Some((_, col)) = m.users.as_ref().filter(|(u, _)| *u == rel_id) {
            let owned = owner.is_tenant_owned();
            // A tenant-owned users table has no row for the non-member.
            let users = members.users.iter().filter(|(_, t)| t.is_some() || !owned);
            (col, users.map(|(u, t)| (u.clone(), t.filter(|_| owned))).collect())
        } else {
            return None;
        };
        let ty = rel.column(column).map_or("text", |c| c.sql_type.as_str()).to_string();
        let mut rows = Vec::new();
        for (i, (user, tenant)) in wanted.into_iter().enumerate() {
            let key = tenant.map(|t| data.keys[t].clone());
            let Ok(mut row) = self.row(catalog, data, rel, owner, tenant, key.as_ref(), i, i as u64 + 1) else {
                continue;
            };
            row.set(column, format!("{}::{ty}", literal(&user)));
            rows.push(row);
        }
        Some(rows)
    }
}
