//! What decides each relation's isolation, as one digest per relation, so
//! `--per-migration` re-probes after a step only what the step changed.
//!
//! A relation's digest covers the relation as the catalog reads it (columns
//! and types, RLS enabled and forced, policies with their commands, roles and
//! expressions, the app role's privileges, owner, triggers, foreign keys,
//! checks and keys; for views their definition, `security_invoker` and base
//! relations), how row ownership classifies it, and the source, rights and
//! volatility of every function its policies or triggers call, that returns
//! its rows or names it, and of the functions those call in turn. What holds
//! for every relation (the app role's attributes and memberships, database
//! settings, roles that bypass RLS, the tenant key) is one global digest: when
//! it changes, every relation changed.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use crate::catalog::{Catalog, Function, RelId, Relation};
use crate::ownership::Ownership;
use crate::policy::word_in;

/// The digests of one catalog state (after one migration step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprints {
    global: u64,
    relations: BTreeMap<RelId, u64>,
}

impl Fingerprints {
    /// The digests of `catalog` as `ownership` classifies it.
    pub fn of(catalog: &Catalog, ownership: &Ownership) -> Fingerprints {
        let global = digest(&[
            json(&catalog.app),
            json(&catalog.database_settings),
            json(&catalog.bypass_roles),
            format!(
                "{}|{}|{:?}|{:?}",
                ownership.column,
                ownership.key_type,
                ownership.root,
                ownership.membership.as_ref().map(|m| (m.rel, &m.user_column, &m.users))
            ),
        ]);
        let relations = catalog
            .relations
            .iter()
            .map(|r| {
                let mut parts =
                    vec![json(r), format!("{:?}", ownership.owner(r.oid)), ownership.describe(catalog, r.oid)];
                parts.extend(functions_of(catalog, r).into_iter().map(json));
                (r.oid, digest(&parts))
            })
            .collect();
        Fingerprints { global, relations }
    }

    /// The relations of `catalog` (this state) that are new or different
    /// since `earlier`, with what depends on them: views over them, tables
    /// whose policies read them, and foreign-key children (whose rows they
    /// own). Without an earlier state, every relation.
    pub fn changed_since(&self, earlier: Option<&Fingerprints>, catalog: &Catalog) -> Changed {
        let Some(earlier) = earlier.filter(|e| e.global == self.global) else {
            return Changed { relations: self.relations.keys().copied().collect(), global: true };
        };
        let mut changed: BTreeSet<RelId> = self
            .relations
            .iter()
            .filter(|(oid, d)| earlier.relations.get(oid) != Some(d))
            .map(|(oid, _)| *oid)
            .collect();
        // Dependents, until nothing new joins.
        loop {
            let joining: Vec<RelId> = catalog
                .relations
                .iter()
                .filter(|r| !changed.contains(&r.oid) && depends_on(r).any(|d| changed.contains(&d)))
                .map(|r| r.oid)
                .collect();
            if joining.is_empty() {
                break;
            }
            changed.extend(joining);
        }
        Changed { relations: changed, global: false }
    }
}

/// What one step changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Changed {
    /// Relations whose isolation may have changed.
    pub relations: BTreeSet<RelId>,
    /// Something every relation depends on changed (or nothing was known before).
    pub global: bool,
}

/// The relations whose change may change `r`'s isolation.
fn depends_on(r: &Relation) -> impl Iterator<Item = RelId> + '_ {
    r.depends_on
        .iter()
        .copied()
        .chain(r.foreign_keys.iter().map(|fk| fk.target))
        .chain(r.policies.iter().flat_map(|p| p.relations.iter().copied()))
        .chain(r.parent)
}

/// Functions that bear on `rel`: those its policies and triggers call, those
/// returning its rows or naming it, and, transitively, those they name.
fn functions_of<'c>(catalog: &'c Catalog, rel: &Relation) -> Vec<&'c Function> {
    let name = rel.name.to_lowercase();
    let direct: BTreeSet<u32> = rel
        .policies
        .iter()
        .flat_map(|p| p.functions.iter().copied())
        .chain(rel.triggers.iter().map(|t| t.function))
        .chain(
            catalog
                .functions
                .iter()
                .filter(|f| f.return_rel == Some(rel.oid) || word_in(&f.source.to_lowercase(), &name))
                .map(|f| f.oid),
        )
        .collect();
    let mut reached: BTreeSet<u32> = direct;
    loop {
        let sources: Vec<String> =
            reached.iter().filter_map(|o| catalog.function(*o)).map(|f| f.source.to_lowercase()).collect();
        let joining: Vec<u32> = catalog
            .functions
            .iter()
            .filter(|f| !reached.contains(&f.oid))
            .filter(|f| sources.iter().any(|s| word_in(s, &f.name.to_lowercase())))
            .map(|f| f.oid)
            .collect();
        if joining.is_empty() {
            break;
        }
        reached.extend(joining);
    }
    reached.iter().filter_map(|o| catalog.function(*o)).collect()
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn digest(parts: &[String]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}
