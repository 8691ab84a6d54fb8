//! What the probes really exercised. A probe that errored, a relation that
//! never held rows of two tenants, or a tenant that never saw its own rows
//! proves nothing about isolation: such cells are `untested`, never passes.

use std::collections::{BTreeMap, BTreeSet};

use super::{Context, GroundTruth, Probe, ProbeKind, RowRef};
use crate::catalog::RelId;
use crate::db::{Outcome, sqlstate};
use crate::generate::Dataset;
use crate::vocab::{ContextKind, Operation};

/// A probe kind on a relation under a kind of context.
pub type ProbeCell = (RelId, ProbeKind, ContextKind);

/// The evidence the probes gathered, merged over every case.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Probes that answered: they succeeded, or the schema said no.
    pub conclusive: BTreeSet<ProbeCell>,
    /// Probes that failed for a reason other than isolation, first error each.
    pub errored: BTreeMap<ProbeCell, String>,
    /// Relations that held rows of at least two tenants in a loaded case.
    pub two_tenants: BTreeSet<RelId>,
    /// Relations where a tenant owned rows and its SELECT ran.
    pub own_expected: BTreeSet<RelId>,
    /// Relations where a tenant's SELECT returned at least one of its own rows.
    pub own_seen: BTreeSet<RelId>,
    /// Generated cases whose data loaded (counted by the runner).
    pub loaded: u32,
    /// Per relation, the loaded generated cases in which it held rows.
    pub populated: BTreeMap<RelId, u32>,
}

impl Coverage {
    /// Notes the relations of a loaded case that held rows of two tenants.
    pub fn note_case(&mut self, relations: impl Iterator<Item = RelId>, truth: &GroundTruth) {
        for rel in relations {
            let entry = self.populated.entry(rel).or_default();
            *entry += u32::from(!truth.rows(rel).is_empty());
            let owners: BTreeSet<&str> = truth.rows(rel).iter().filter_map(|r| r.owner.as_deref()).collect();
            if owners.len() >= 2 {
                self.two_tenants.insert(rel);
            }
        }
    }

    /// Notes what one probe's outcome shows.
    pub fn note_probe(
        &mut self,
        data: &Dataset,
        truth: &GroundTruth,
        ctx: Context,
        probe: &Probe,
        outcome: &Result<Outcome, tokio_postgres::Error>,
    ) {
        let cell = (probe.rel, probe.kind, ctx.kind());
        match inconclusive(ctx, probe, outcome) {
            Some(why) => {
                self.errored.entry(cell).or_insert(why);
            }
            None => {
                self.conclusive.insert(cell);
            }
        }
        // Under its own context a tenant must see its own rows: if it never
        // does, the policy fails closed and "no foreign row" means nothing.
        if let (ProbeKind::Select, Context::Tenant(_), Some(RowRef::RowId(rel)), Some(own), Ok(out)) =
            (probe.kind, ctx, probe.reads, ctx.key(data), outcome)
        {
            let mine = |owner: Option<&str>| owner == Some(own.0.as_str()); // a tenant's single member
            if truth.rows(rel).iter().any(|r| mine(r.owner.as_deref())) {
                self.own_expected.insert(rel);
                let seen = out
                    .rows
                    .iter()
                    .filter_map(|r| r.first().cloned().flatten())
                    .any(|id| truth.by_id(rel, &id).is_some_and(|t| mine(t.owner.as_deref())));
                if seen {
                    self.own_seen.insert(rel);
                }
            }
        }
    }

    /// Adds another lane's or case's evidence.
    pub fn merge(&mut self, other: Coverage) {
        self.conclusive.extend(other.conclusive);
        for (cell, why) in other.errored {
            self.errored.entry(cell).or_insert(why);
        }
        self.two_tenants.extend(other.two_tenants);
        self.own_expected.extend(other.own_expected);
        self.own_seen.extend(other.own_seen);
        self.loaded += other.loaded;
        for (rel, n) in other.populated {
            *self.populated.entry(rel).or_default() += n;
        }
    }

    /// Relations whose tenants never saw their own rows though they owned some.
    pub fn own_rows_invisible(&self) -> impl Iterator<Item = RelId> + '_ {
        self.own_expected.difference(&self.own_seen).copied()
    }

    /// The first probe of operation `op` on `rel` under `cx` that never
    /// answered, with its error.
    pub fn first_failure(&self, rel: RelId, op: Operation, cx: ContextKind) -> Option<(ProbeKind, &str)> {
        self.errored
            .iter()
            .filter(|((r, k, c), _)| *r == rel && *c == cx && k.operation() == op)
            .find_map(|((_, k, _), _)| self.failed(rel, *k, cx).map(|why| (*k, why)))
    }

    /// Why probe `kind` on `rel` under `cx` proved nothing, if it never answered.
    pub fn failed(&self, rel: RelId, kind: ProbeKind, cx: ContextKind) -> Option<&str> {
        let cell = (rel, kind, cx);
        (!self.conclusive.contains(&cell)).then(|| self.errored.get(&cell).map(String::as_str)).flatten()
    }
}

/// Errors that are the schema saying no: a permission or row-security
/// denial, a foreign key, or (without a tenant context) the context's own
/// absence (`current_setting` of an unset setting, `''::uuid`, a RAISE).
/// Not a foreign key for a keyed DELETE: that fails only on the row it names,
/// so it reached that row (a violation, see [`super::judge`]). A blind
/// DELETE stopped by a foreign key stays a "no": almost every tenant owns a
/// referenced row, and the keyed probes test the other tenants' rows.
fn denial(ctx: Context, kind: ProbeKind, code: Option<&str>) -> bool {
    let keyed_delete = matches!(kind, ProbeKind::KeyedDelete | ProbeKind::SharedDelete);
    let always = matches!(code, Some("42501" | "P0001")) || (code == Some("23503") && !keyed_delete);
    // Without a context, a NOT NULL or CHECK failure is a default or trigger
    // that stamps the tenant from the (missing) setting.
    let without_context = matches!(ctx, Context::NoneFresh | Context::NoneAfterReset)
        && matches!(code, Some("42704" | "22P02" | "22023" | "22004" | "23502" | "23514"));
    always || without_context
}

/// Why a probe's failure says nothing about isolation: it failed, and not
/// with a denial. Under a tenant's context a missing setting or a failing cast
/// means the policy needs more than the tenant setting (a second setting, a
/// claim): the probe is inconclusive, never a pass.
pub fn inconclusive(ctx: Context, probe: &Probe, outcome: &Result<Outcome, tokio_postgres::Error>) -> Option<String> {
    let Err(e) = outcome else { return None };
    // Oracles and TRUNCATE are judged on their errors.
    if matches!(
        probe.kind,
        ProbeKind::UniqueOracle | ProbeKind::ConflictOracle | ProbeKind::Truncate | ProbeKind::NoForce
    ) {
        return None;
    }
    (!denial(ctx, probe.kind, sqlstate(e))).then(|| format!("`{}` failed: {}", probe.sql, crate::db::describe(e)))
}
