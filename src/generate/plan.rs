//! Case plans: what proptest generates and shrinks (which tenants a case has,
//! how many rows each table gets and whose they are), and the fixed plans of
//! the dense dataset and of calibration.

use proptest::prelude::*;
use proptest::sample::subsequence;

use super::{MAX_ROWS, MAX_TENANTS, MIN_TENANTS, Model, PROBE_ROW_BASE, TableModel};
use crate::ownership::Owner;

/// One generated row's plan: its tenant (index into the case's tenants, taken
/// modulo their number) and a choice among candidate parents.
#[derive(Debug, Clone, Copy)]
pub struct RowPlan {
    /// Tenant index.
    pub tenant: usize,
    /// Parent choice.
    pub pick: usize,
    /// A shared row: the (nullable) tenant column is NULL. Only planned for
    /// tables whose tenant column allows NULL.
    pub shared: bool,
}

/// What proptest generates and shrinks.
#[derive(Debug, Clone, Default)]
pub struct CasePlan {
    /// Indices into the key pool, in order.
    pub keys: Vec<usize>,
    /// Rows per populated table, in [`Model::tables`] order.
    pub rows: Vec<Vec<RowPlan>>,
}

impl Model {
    /// The proptest strategy for case plans.
    pub fn strategy(&self) -> BoxedStrategy<CasePlan> {
        // Most rows go to the first two tenants, so child tables find parents
        // of their tenant and tables hold rows of two tenants; the others
        // still get some. Shrinking moves rows to the first two.
        let tenant = || prop_oneof![4 => 0..2usize, 1 => 0..MAX_TENANTS];
        let pool: Vec<usize> = (0..self.pool.len()).collect();
        let rows = self
            .tables
            .iter()
            .map(|t| {
                if matches!(t.owner, Owner::Root { .. } | Owner::Global { .. }) {
                    return Just(Vec::new()).boxed(); // their rows are not planned
                }
                // About one row in five is shared where the tenant column allows NULL.
                let row = if t.shared_rows {
                    (tenant(), 0..8usize, 0..5u8)
                        .prop_map(|(tenant, pick, s)| RowPlan { tenant, pick, shared: s == 0 })
                        .boxed()
                } else {
                    (tenant(), 0..8usize).prop_map(|(tenant, pick)| RowPlan { tenant, pick, shared: false }).boxed()
                };
                // Nearly always two rows or more: an empty table tests
                // nothing, and its children lose their parents. Shrinking
                // still tries the empty table first (the first alternative).
                prop_oneof![1 => Just(Vec::new()), 199 => proptest::collection::vec(row, 2..=MAX_ROWS)].boxed()
            })
            .collect::<Vec<_>>();
        (subsequence(pool, MIN_TENANTS..=MAX_TENANTS), rows).prop_map(|(keys, rows)| CasePlan { keys, rows }).boxed()
    }

    /// The dense dataset: one row of each of two tenants in every table, and
    /// a shared row where the tenant column allows NULL. Every table is
    /// probed on it once, whatever the random cases held.
    pub fn dense_plan(&self) -> CasePlan {
        self.two_tenant_plan(2)
    }

    /// The plan calibration loads: every row number a case or a probe uses
    /// (1 to [`PROBE_ROW_BASE`]) in every table. What loads here loads in
    /// every case, the dense dataset included.
    pub fn trial_plan(&self) -> CasePlan {
        self.two_tenant_plan(PROBE_ROW_BASE as usize)
    }

    /// `rows` rows per table alternating the first two tenants, each with its
    /// own parent choice, plus a shared row where the tenant column allows NULL.
    fn two_tenant_plan(&self, rows: usize) -> CasePlan {
        let plan = |t: &TableModel| {
            let shared = t.shared_rows.then_some(RowPlan { tenant: 0, pick: 0, shared: true });
            (0..rows).map(|i| RowPlan { tenant: i % 2, pick: i, shared: false }).chain(shared).collect()
        };
        CasePlan { keys: vec![0, 1], rows: self.tables.iter().map(plan).collect() }
    }
}
