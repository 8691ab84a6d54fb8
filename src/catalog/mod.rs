//! Reading the catalog: relations, columns, constraints, RLS flags, policies,
//! and the application role's attributes and privileges.
//!
//! Everything later stages need is read here, in a handful of queries, into
//! plain types; no other stage queries `pg_catalog` for structure.

mod anon;
mod objects;
mod queries;

/// User relations: not system schemas, not objects that belong to an extension.
const RELS: &str = "
WITH rels AS (
  SELECT c.* FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r','p','v','m','f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp)'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
)";

use std::collections::BTreeMap;

pub use anon::AnonReach;

use serde::Serialize;

use crate::db::Db;
use crate::policy::{Expr, PolicyTree, Side};

/// Catalog oid of a relation.
pub type RelId = u32;

/// What kind of relation it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelKind {
    /// An ordinary table (`r`).
    Table,
    /// A partitioned table (`p`).
    Partitioned,
    /// A view (`v`).
    View,
    /// A materialized view (`m`).
    MaterializedView,
    /// A foreign table (`f`).
    Foreign,
}

impl RelKind {
    fn from_code(code: &str) -> Option<RelKind> {
        Some(match code {
            "r" => RelKind::Table,
            "p" => RelKind::Partitioned,
            "v" => RelKind::View,
            "m" => RelKind::MaterializedView,
            "f" => RelKind::Foreign,
            _ => return None,
        })
    }

    /// Tables hold rows of their own (and can carry RLS).
    pub fn is_table(self) -> bool {
        matches!(self, RelKind::Table | RelKind::Partitioned)
    }
}

/// The app role's privileges on one relation (table- or column-level).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Privileges {
    /// SELECT on the table or on any column.
    pub select: bool,
    /// INSERT on the table or on any column.
    pub insert: bool,
    /// UPDATE on the table or on any column.
    pub update: bool,
    /// DELETE.
    pub delete: bool,
    /// TRUNCATE.
    pub truncate: bool,
    /// REFERENCES.
    pub references: bool,
    /// TRIGGER.
    pub trigger: bool,
}

impl Privileges {
    /// Whether the app holds any privilege at all.
    pub fn any(&self) -> bool {
        self.select || self.insert || self.update || self.delete || self.truncate || self.references || self.trigger
    }
}

/// One column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Name.
    pub name: String,
    /// `pg_attribute.attnum`: how policy trees refer to the column.
    pub attnum: i16,
    /// `format_type` of the column, usable in casts (`character varying(20)`).
    pub sql_type: String,
    /// Name of the underlying base type (domains resolved), e.g. `uuid`, `int4`.
    pub base_type: String,
    /// `pg_type.typcategory` of the base type (`S` string, `N` numeric, `A` array, `E` enum ...).
    pub category: String,
    /// Enum labels in order, when the base type is an enum.
    pub enum_labels: Vec<String>,
    /// NOT NULL.
    pub not_null: bool,
    /// Has a default (including serial and identity).
    pub has_default: bool,
    /// `a` (ALWAYS), `d` (BY DEFAULT) or empty.
    pub identity: String,
    /// Non-empty for generated columns.
    pub generated: String,
}

/// A foreign key.
#[derive(Debug, Clone, Serialize)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns, in key order.
    pub columns: Vec<String>,
    /// Referenced relation.
    pub target: RelId,
    /// Referenced columns, in key order.
    pub target_columns: Vec<String>,
    /// `confdeltype`: a no action, r restrict, c cascade, n set null, d set default.
    pub on_delete: String,
}

/// A CHECK constraint.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Constraint name.
    pub name: String,
    /// Columns it references.
    pub columns: Vec<String>,
    /// `pg_get_constraintdef`.
    pub definition: String,
}

/// What a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyCommand {
    /// FOR ALL.
    All,
    /// FOR SELECT.
    Select,
    /// FOR INSERT.
    Insert,
    /// FOR UPDATE.
    Update,
    /// FOR DELETE.
    Delete,
}

impl PolicyCommand {
    fn from_code(code: &str) -> PolicyCommand {
        match code {
            "r" => PolicyCommand::Select,
            "a" => PolicyCommand::Insert,
            "w" => PolicyCommand::Update,
            "d" => PolicyCommand::Delete,
            _ => PolicyCommand::All,
        }
    }

    /// Whether a policy for this command takes part in `other`.
    pub fn covers(self, other: PolicyCommand) -> bool {
        self == PolicyCommand::All || self == other
    }
}

/// A UNIQUE constraint or a plain unique index (a column list).
#[derive(Debug, Clone, Serialize)]
pub struct UniqueKey {
    /// Constraint or index name.
    pub name: String,
    /// Its columns, in key order.
    pub columns: Vec<String>,
    /// A constraint (`ALTER TABLE ... DROP CONSTRAINT`); else an index (`DROP INDEX`).
    pub constraint: bool,
}

/// A unique index that is not a plain column list: partial or on expressions.
#[derive(Debug, Clone, Serialize)]
pub struct UniqueIndex {
    /// Index name.
    pub name: String,
    /// Its plain columns (expressions left out).
    pub columns: Vec<String>,
    /// `CREATE UNIQUE INDEX ...` as PostgreSQL prints it.
    pub definition: String,
}

/// A row-level security policy.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Catalog oid.
    pub oid: u32,
    /// Name.
    pub name: String,
    /// PERMISSIVE (OR-ed) or RESTRICTIVE (AND-ed).
    pub permissive: bool,
    /// The command it applies to.
    pub command: PolicyCommand,
    /// Role names (`public` for PUBLIC).
    pub roles: Vec<String>,
    /// USING expression (`pg_get_expr`, for messages).
    pub using: Option<String>,
    /// WITH CHECK expression (`pg_get_expr`, for messages).
    pub with_check: Option<String>,
    /// USING as PostgreSQL analysed it, for judging (see [`crate::policy`]).
    #[serde(skip)]
    pub using_tree: Option<PolicyTree>,
    /// WITH CHECK as PostgreSQL analysed it.
    #[serde(skip)]
    pub check_tree: Option<PolicyTree>,
    /// Whether it applies to the app role (PUBLIC, or a role the app is a member of).
    pub applies_to_app: bool,
    /// Functions its expressions call (user functions only).
    pub functions: Vec<u32>,
    /// Other relations its expressions read.
    pub relations: Vec<RelId>,
}

/// A relation of a user schema.
#[derive(Debug, Clone, Serialize)]
pub struct Relation {
    /// Catalog oid.
    pub oid: RelId,
    /// Schema name.
    pub schema: String,
    /// Relation name.
    pub name: String,
    /// Quoted, schema-qualified name, safe to paste into SQL (`public."Notes"`).
    pub qualified: String,
    /// Kind.
    pub kind: RelKind,
    /// Owner role.
    pub owner: String,
    /// `relrowsecurity`.
    pub rls_enabled: bool,
    /// `relforcerowsecurity`.
    pub rls_forced: bool,
    /// A partition of a partitioned table.
    pub is_partition: bool,
    /// The parent of a partition or inheritance child.
    pub parent: Option<RelId>,
    /// Whether the app role owns it (directly or through membership).
    pub app_owns: bool,
    /// The app role's privileges.
    pub privileges: Privileges,
    /// Columns in attribute order.
    pub columns: Vec<Column>,
    /// Primary key columns (empty if none).
    pub primary_key: Vec<String>,
    /// Columns of UNIQUE constraints and of plain unique indexes (what ORMs
    /// emit instead of constraints).
    pub uniques: Vec<Vec<String>>,
    /// The same keys as `uniques`, with their names.
    pub unique_keys: Vec<UniqueKey>,
    /// Unique indexes on expressions or with a WHERE clause (`lower(email)`,
    /// `(org_id) WHERE is_default`): their definitions.
    pub unique_indexes: Vec<UniqueIndex>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// CHECK constraints.
    pub checks: Vec<Check>,
    /// Policies on this relation.
    pub policies: Vec<Policy>,
    /// Partition key columns (partitioned tables).
    pub partition_key: Vec<String>,
    /// `FOR VALUES ...` or `DEFAULT` (partitions).
    pub partition_bound: Option<String>,
    /// Views: `security_invoker` is set.
    pub security_invoker: bool,
    /// Views and materialized views: their definition.
    pub definition: Option<String>,
    /// Views and materialized views: relations they read.
    pub depends_on: Vec<RelId>,
    /// Sequences owned by this table's columns (serial, identity).
    pub sequences: Vec<Sequence>,
    /// Triggers (not internal ones).
    pub triggers: Vec<Trigger>,
}

/// A sequence that numbers a table's rows.
#[derive(Debug, Clone, Serialize)]
pub struct Sequence {
    /// Quoted, qualified name.
    pub qualified: String,
    /// The app may call nextval/currval/setval or read it (USAGE, SELECT or UPDATE).
    pub app_can_use: bool,
}

/// A trigger on a table.
#[derive(Debug, Clone, Serialize)]
pub struct Trigger {
    /// Name.
    pub name: String,
    /// The trigger function.
    pub function: u32,
}

/// A user-defined function.
#[derive(Debug, Clone, Serialize)]
pub struct Function {
    /// Catalog oid.
    pub oid: u32,
    /// `schema.name(argtypes)`.
    pub signature: String,
    /// Plain name.
    pub name: String,
    /// Owner role.
    pub owner: String,
    /// The owner is a superuser or has BYPASSRLS.
    pub owner_bypasses_rls: bool,
    /// SECURITY DEFINER.
    pub security_definer: bool,
    /// `i` immutable, `s` stable, `v` volatile.
    pub volatility: String,
    /// LEAKPROOF.
    pub leakproof: bool,
    /// `SET` options (`search_path=...`).
    pub config: Vec<String>,
    /// Source text (SQL and PL bodies).
    pub source: String,
    /// The app role may EXECUTE it.
    pub app_can_execute: bool,
    /// Quoted, schema-qualified name, to call it.
    pub qualified: String,
    /// A plain function (not a procedure, aggregate or window function).
    pub plain: bool,
    /// Returns a set.
    pub returns_set: bool,
    /// Returns `trigger` (or `event_trigger`).
    pub is_trigger: bool,
    /// Returns the row type of this relation.
    pub return_rel: Option<RelId>,
    /// Names of OUT/TABLE result columns.
    pub result_columns: Vec<String>,
    /// Types of the IN arguments (`format_type`).
    pub arg_types: Vec<String>,
}

/// A role the app is a member of.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Membership {
    /// Role name.
    pub role: String,
    /// That role is a superuser.
    pub superuser: bool,
    /// That role has BYPASSRLS.
    pub bypassrls: bool,
    /// The app inherits its privileges (and ownerships).
    pub inherits: bool,
    /// The app may `SET ROLE` to it (always before PostgreSQL 16).
    pub can_set: bool,
}

impl Policy {
    /// The typed USING expression; `None` when there is none or its tree could not be read.
    pub fn using_expr(&self) -> Option<&Expr> {
        self.using_tree.as_ref().and_then(|t| t.as_ref().ok())
    }

    /// The typed WITH CHECK expression; `None` when there is none or its tree could not be read.
    pub fn check_expr(&self) -> Option<&Expr> {
        self.check_tree.as_ref().and_then(|t| t.as_ref().ok())
    }

    /// USING, as text and tree.
    pub fn using_side(&self) -> Option<Side<'_>> {
        self.using.as_deref().map(|text| Side { text, tree: self.using_expr() })
    }

    /// WITH CHECK, as text and tree.
    pub fn check_side(&self) -> Option<Side<'_>> {
        self.with_check.as_deref().map(|text| Side { text, tree: self.check_expr() })
    }

    /// Why a stored tree could not be read, if one could not.
    pub fn unreadable(&self) -> Option<String> {
        [&self.using_tree, &self.check_tree].into_iter().flatten().find_map(|t| t.as_ref().err()).map(|e| e.to_string())
    }
}

impl Relation {
    /// The column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether `column` is part of the primary key or a unique constraint.
    pub fn is_unique_column(&self, column: &str) -> bool {
        self.primary_key.iter().any(|c| c == column) || self.uniques.iter().any(|u| u.iter().any(|c| c == column))
    }

    /// Whether `column` is part of a foreign key.
    pub fn is_fk_column(&self, column: &str) -> bool {
        self.foreign_keys.iter().any(|fk| fk.columns.iter().any(|c| c == column))
    }

    /// Policies that apply to the app role for `command`.
    pub fn app_policies(&self, command: PolicyCommand) -> impl Iterator<Item = &Policy> {
        self.policies.iter().filter(move |p| p.applies_to_app && p.command.covers(command))
    }
}

/// A role's attributes.
#[derive(Debug, Clone, Serialize)]
pub struct RoleInfo {
    /// Name.
    pub name: String,
    /// SUPERUSER.
    pub superuser: bool,
    /// BYPASSRLS.
    pub bypassrls: bool,
    /// LOGIN.
    pub login: bool,
    /// Every role it is a member of, directly or indirectly.
    pub member_of: Vec<String>,
    /// Role-level settings (`ALTER ROLE ... SET`), as `name=value`.
    pub settings: Vec<String>,
    /// The part of `settings` set for this database only (`ALTER ROLE ... IN DATABASE ... SET`).
    pub settings_in_database: Vec<String>,
    /// Memberships with the attributes that matter for RLS.
    pub memberships: Vec<Membership>,
}

/// Everything rowfence knows about the schema under test.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    /// `server_version`, e.g. `17.2 (Debian ...)`.
    pub server_version: String,
    /// `server_version_num`, e.g. 170002.
    pub server_version_num: i32,
    /// The role that applied the schema and reads the catalog (`current_user`):
    /// every object the schema files did not give to another role is its.
    pub schema_owner: String,
    /// User relations, ordered by qualified name.
    pub relations: Vec<Relation>,
    /// The application role.
    pub app: RoleInfo,
    /// Database-level settings (`ALTER DATABASE ... SET`) as `name=value`.
    pub database_settings: Vec<String>,
    /// User-defined functions.
    pub functions: Vec<Function>,
    /// Roles that bypass row-level security (superusers and BYPASSRLS roles).
    pub bypass_roles: Vec<String>,
    /// What the anonymous role reaches, with `[app] anon_role`.
    #[serde(skip)]
    pub anon: Option<AnonReach>,
    #[serde(skip)]
    index: BTreeMap<RelId, usize>,
}

/// Why the catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The app role is missing.
    #[error(
        "the app role `{0}` does not exist after the schema was applied: create it in the schema, or set `create = true` under [app] in the suite"
    )]
    MissingAppRole(String),
    /// A catalog query failed.
    #[error("cannot read the catalog: {0}")]
    Query(String),
}

impl Catalog {
    /// Reads the catalog of the database `db` is connected to.
    pub async fn read(db: &Db, app_role: &str, anon_role: Option<&str>) -> Result<Catalog, CatalogError> {
        let mut catalog = queries::read(db, app_role).await?;
        objects::read(db, app_role, &mut catalog).await.map_err(queries::q)?;
        if let Some(anon) = anon_role {
            catalog.read_anon(db, anon).await.map_err(queries::q)?;
        }
        Ok(catalog)
    }

    /// Defaults of `setting` a fresh login gets (`name=value` entries): the
    /// app role's (`ALTER ROLE ... SET`), then the database's (`ALTER DATABASE ... SET`).
    pub fn setting_defaults(&self, setting: &str) -> (Vec<&str>, Vec<&str>) {
        fn matching<'a>(prefix: &str, list: &'a [String]) -> Vec<&'a str> {
            list.iter().filter(|s| s.starts_with(prefix)).map(String::as_str).collect()
        }
        let prefix = format!("{setting}=");
        (matching(&prefix, &self.app.settings), matching(&prefix, &self.database_settings))
    }

    /// The relation with this oid, if the catalog read it (a standalone
    /// composite type a function returns, say, is no relation here).
    pub fn get(&self, oid: RelId) -> Option<&Relation> {
        self.index.get(&oid).map(|&i| &self.relations[i])
    }

    /// The relation with this oid.
    pub fn relation(&self, oid: RelId) -> &Relation {
        &self.relations[self.index[&oid]]
    }

    /// Finds a relation by `name` or `schema.name` (unquoted).
    pub fn find(&self, name: &str) -> Option<&Relation> {
        self.relations
            .iter()
            .find(|r| format!("{}.{}", r.schema, r.name) == name || r.qualified == name)
            .or_else(|| self.relations.iter().find(|r| r.name == name))
    }

    /// The user function with this oid.
    pub fn function(&self, oid: u32) -> Option<&Function> {
        self.functions.iter().find(|f| f.oid == oid)
    }

    /// The role to hand what the app owns to: the owner of most relations
    /// that neither the app nor a role it belongs to owns (the role that ran
    /// the migrations), or, where there is none, the role that applied the
    /// schema. Never the app, a role it is a member of, or the anonymous role.
    pub fn migration_role(&self) -> &str {
        let mut owners: BTreeMap<&str, usize> = BTreeMap::new();
        let anon = self.anon.as_ref().map(|a| a.role.as_str());
        for r in self.relations.iter().filter(|r| !r.app_owns) {
            let o = r.owner.as_str();
            if o != self.app.name && !self.app.member_of.iter().any(|m| m == o) && Some(o) != anon {
                *owners.entry(o).or_default() += 1;
            }
        }
        // The most relations; on a tie, the first name.
        owners
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
            .map_or(self.schema_owner.as_str(), |(o, _)| o)
    }

    /// The major version, e.g. 17.
    pub fn major_version(&self) -> i32 {
        self.server_version_num / 10000
    }
}
