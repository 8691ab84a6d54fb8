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
pub use readers::setting_readers;

/// A policy expression as read from the catalog: the typed tree, or why the
/// stored tree could not be read (callers treat that as unclassified).
pub type PolicyTree = Result<Expr, TreeError>;

/// Parses and builds in one step, for a tree whose names are already known.
pub fn read(text: &str, column: &dyn Fn(i64) -> Option<String>, names: &Names) -> PolicyTree {
    Ok(build(&node::parse(text)?, column, names))
}

#[cfg(test)]
mod tests;
