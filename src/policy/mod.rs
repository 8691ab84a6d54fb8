//! Policy reading: what a policy expression means for the tenant.
//!
//! PostgreSQL stores a policy's USING and WITH CHECK as analysed trees
//! (`pg_policy.polqual`, `polwithcheck`; `pg_node_tree` text). Judging those
//! instead of `pg_get_expr` text makes the judgements exact: `org_id IS NOT
//! NULL AND current_setting(...) <> ''` reads the setting but compares it
//! with nothing, which no substring test can tell from `org_id =
//! current_setting(...)::uuid`.
//!
//! [`node`] reads the text format generically (any node type, any
//! PostgreSQL version); [`build`] turns a tree into an [`Expr`] with names
//! resolved; the judgements are methods on [`Expr`] ([`Expr::pins_tenant`],
//! [`Expr::fallback_open`], [`Expr::broad_match`], ...).

mod expr;
mod judge;
pub mod node;
mod readers;

pub use expr::{Expr, FunctionName, Names, SubLink, SubLinkKind, Value, build, oids, uncast};
pub use judge::Tenant;
pub use node::TreeError;
pub use readers::{setting_readers, source_reads_setting, word_in};

/// One side of a policy (USING or WITH CHECK): the text for messages, and
/// the analysed tree for judgements (`None` when it could not be read).
#[derive(Debug, Clone, Copy)]
pub struct Side<'p> {
    /// `pg_get_expr` text.
    pub text: &'p str,
    /// The typed tree.
    pub tree: Option<&'p Expr>,
}

impl Side<'_> {
    /// Whether the side is the constant `value`.
    pub fn is_const(&self, value: bool) -> bool {
        self.tree.is_some_and(|e| e.is_const(value))
    }
}

/// A policy expression as read from the catalog: the typed tree, or why the
/// stored tree could not be read (callers treat that as unclassified).
pub type PolicyTree = Result<Expr, TreeError>;

/// Parses and builds in one step, for a tree whose names are already known.
pub fn read(text: &str, column: &dyn Fn(i64) -> Option<String>, names: &Names) -> PolicyTree {
    Ok(build(&node::parse(text)?, column, names))
}

#[cfg(test)]
mod tests;
