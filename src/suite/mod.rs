//! The suite file: what to check and how the application talks to PostgreSQL.
//!
//! A suite is a small TOML file (format v1, see the README) whose paths are
//! relative to the file itself. Loading validates everything that can be
//! validated without a database, so a typo fails in milliseconds with the file
//! and line, not after a container has started.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::formats::{self, Format};

/// Default number of generated datasets per run.
pub const DEFAULT_CASES: u32 = 64;
/// Default proptest seed, so two runs of the same suite probe the same data.
pub const DEFAULT_SEED: u64 = 1;

/// A validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Display name (the `name` key, or the file stem).
    pub name: String,
    /// The suite file itself.
    pub path: PathBuf,
    /// SQL files to apply, in order (directories already expanded).
    pub schema_files: Vec<SchemaFile>,
    /// The role the application logs in as.
    pub app: AppRole,
    /// The migration/backfill role, if the suite names one.
    pub admin_role: Option<String>,
    /// How rows are attributed to tenants.
    pub tenant: TenantSpec,
    /// How a request sets its tenant: `[context]`, or `tenant.setting` alone.
    pub context: crate::context::ContextSpec,
    /// How much data to generate.
    pub probes: ProbeSettings,
    /// Accepted findings (`[[waive]]`).
    pub waivers: Vec<Waiver>,
    /// What the database has before the schema files (`preset = "supabase"`).
    pub preset: Option<Preset>,
}

/// A platform's database as it is before a project's migrations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Supabase: the auth schema and helpers, the PostgREST roles, storage,
    /// extensions, and the default grants on public.
    Supabase,
}

/// An accepted finding: it stays in every report, marked with the reason, and
/// does not count toward the verdict.
#[derive(Debug, Clone)]
pub struct Waiver {
    /// Rule id.
    pub rule: crate::rules::RuleId,
    /// Relation (`schema.name`); `None` waives the rule everywhere.
    pub relation: Option<String>,
    /// Why it is accepted.
    pub reason: String,
}

/// One SQL file of the schema.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// Absolute (or suite-relative joined) path used to read the file.
    pub path: PathBuf,
    /// The path as a user wrote it, relative to the current directory when possible.
    pub display: String,
    /// The migration tool whose conventions the file follows (dbmate and goose
    /// files have down sections that are not applied).
    pub format: Format,
}

/// The application role.
#[derive(Debug, Clone)]
pub struct AppRole {
    /// Role name, exactly as in the catalog.
    pub role: String,
    /// Create the role (LOGIN, NOSUPERUSER, NOBYPASSRLS) before applying the schema.
    pub create: bool,
    /// The role every request switches to (`SET LOCAL ROLE`), as PostgREST's
    /// `authenticator` switches to `authenticated`: the role policies and
    /// privileges are judged for.
    pub set_role: Option<String>,
    /// The role requests without a tenant run as (PostgREST's `anon`).
    pub anon_role: Option<String>,
}

impl AppRole {
    /// The role the requests' statements run as: `set_role`, else the login role.
    pub fn effective(&self) -> &str {
        self.set_role.as_deref().unwrap_or(&self.role)
    }

    /// The role a session holds between requests (and without a tenant):
    /// `anon_role`, else `set_role`; `None` when requests do not switch.
    pub fn session_role(&self) -> Option<&str> {
        self.anon_role.as_deref().or(self.set_role.as_deref())
    }
}

/// Tenant attribution settings.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    /// The tenant key column, matched by exact name in every schema.
    pub column: String,
    /// The setting that carries the tenant (`tenant.setting`, or the first
    /// `[context]` setting whose template has `{tenant}`).
    pub setting: String,
    /// The table whose rows are the tenants, if not inferred from foreign keys.
    pub root: Option<String>,
    /// Global-by-design tables: readable by all tenants, writable by none.
    pub shared: Vec<String>,
    /// What rows with a NULL tenant (in a nullable tenant column) are for.
    pub shared_rows: SharedRows,
    /// The table saying which users belong to which tenants (`[membership]`).
    pub membership: Option<MembershipSpec>,
}

/// `[membership]`: requests carry a user, and a user reaches the rows of the
/// tenants a membership table lists for them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipSpec {
    /// The membership table (`public.members`); it must be tenant-owned.
    pub table: String,
    /// Its column holding the user (`{user}` in the context).
    pub user_column: String,
}

/// Rows whose tenant column is NULL are shared: every tenant may read them.
/// Whether a tenant may also change or create them is the suite's call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SharedRows {
    /// Readable by every tenant, writable by none (the default): a tenant
    /// that updates, deletes or creates one is `shared_rows_writable`.
    #[default]
    ReadOnly,
    /// Any tenant may change them by design (a shared wiki, say).
    Writable,
}

/// Data generation settings.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSettings {
    /// Number of generated datasets.
    pub cases: u32,
    /// Seed of the generator.
    pub seed: u64,
}

/// Why a suite could not be loaded. Every variant names the suite file.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The file could not be read at all.
    #[error("cannot read suite {path}: {source}")]
    Read {
        /// The suite path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, a missing key, a wrong type or an unknown key.
    #[error("invalid suite {path}: {message}")]
    Parse {
        /// The suite path as given.
        path: String,
        /// The TOML error, with line, column and a snippet.
        message: String,
    },
    /// A value is well-formed TOML but not acceptable.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The suite path as given.
        path: String,
        /// 1-based line of the offending value.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    name: Option<String>,
    schema: Spanned<Vec<Spanned<String>>>,
    app: RawApp,
    admin: Option<RawAdmin>,
    tenant: RawTenant,
    /// Setting name -> value template (suite v2).
    context: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    probes: Option<RawProbes>,
    migrations: Option<RawMigrations>,
    membership: Option<MembershipSpec>,
    /// Setting -> JSON paths in it that the end user can change.
    user_controlled: Option<Spanned<std::collections::BTreeMap<String, Vec<String>>>>,
    preset: Option<Spanned<String>>,
    #[serde(default)]
    waive: Vec<Spanned<RawWaiver>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    rule: String,
    relation: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    role: Spanned<String>,
    #[serde(default)]
    create: bool,
    set_role: Option<String>,
    anon_role: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    column: Spanned<String>,
    setting: Option<Spanned<String>>,
    root: Option<String>,
    #[serde(default)]
    shared: Vec<String>,
    #[serde(default)]
    shared_rows: SharedRows,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMigrations {
    format: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbes {
    cases: Option<Spanned<u32>>,
    seed: Option<u64>,
}

impl Suite {
    /// How requests say who they are: the contexts probed and their names.
    pub fn tenancy(&self) -> crate::vocab::Tenancy {
        crate::vocab::Tenancy {
            membership: self.tenant.membership.is_some(),
            anon: self.app.anon_role.is_some(),
            user_controlled: self.context.has_user_controlled(),
        }
    }

    /// Reads and validates a suite file.
    pub fn load(path: impl AsRef<Path>) -> Result<Suite, SuiteError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = fs::read_to_string(path).map_err(|source| SuiteError::Read { path: shown.clone(), source })?;
        Suite::parse(&text, path)
    }

    /// Validates suite text as if it had been read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Suite, SuiteError> {
        let shown = path.display().to_string();
        let raw: RawSuite = toml::from_str(text)
            .map_err(|e| SuiteError::Parse { path: shown.clone(), message: e.to_string().trim_end().to_string() })?;
        let invalid = |span: Range<usize>, message: String| SuiteError::Invalid {
            path: shown.clone(),
            line: line_of(text, span.start),
            message,
        };
        let base = path.parent().unwrap_or(Path::new(""));

        let schema_span = raw.schema.span();
        let entries = raw.schema.into_inner();
        if entries.is_empty() {
            return Err(invalid(
                schema_span,
                "`schema` is empty: list the schema files or the migrations folder".into(),
            ));
        }
        let forced = match raw.migrations.and_then(|m| m.format) {
            None => None,
            Some(f) => match Format::parse(f.get_ref()) {
                Some(format) => Some(format),
                None => {
                    let known: Vec<&str> = Format::NAMES.iter().map(|(n, _)| *n).collect();
                    return Err(invalid(
                        f.span(),
                        format!(
                            "`migrations.format` = \"{}\" is unknown; use one of {}",
                            f.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
            },
        };
        let mut schema_files = Vec::new();
        for entry in entries {
            let span = entry.span();
            let rel = entry.into_inner();
            let full = base.join(&rel);
            if full.is_dir() {
                let format = match forced {
                    Some(f) => f,
                    None => formats::detect_dir(&full)
                        .map_err(|e| invalid(span.clone(), format!("cannot list schema folder `{rel}`: {e}")))?,
                };
                let files = formats::list(&full, format)
                    .map_err(|e| invalid(span.clone(), format!("cannot list schema folder `{rel}`: {e}")))?;
                if files.is_empty() {
                    return Err(invalid(
                        span,
                        format!(
                            "schema folder `{rel}` (resolved to {}) has no migrations of format {}",
                            full.display(),
                            format.as_str()
                        ),
                    ));
                }
                schema_files.extend(files.into_iter().map(|f| SchemaFile::new(f, forced)));
            } else if full.is_file() {
                schema_files.push(SchemaFile::new(full, forced));
            } else {
                return Err(invalid(
                    span,
                    format!(
                        "schema file `{rel}` not found (resolved to {}); paths are relative to the suite file",
                        full.display()
                    ),
                ));
            }
        }

        let role_span = raw.app.role.span();
        let role = raw.app.role.into_inner();
        if role.trim().is_empty() {
            return Err(invalid(role_span, "`app.role` is empty: name the role the application logs in as".into()));
        }
        let column_span = raw.tenant.column.span();
        let column = raw.tenant.column.into_inner();
        if column.trim().is_empty() {
            return Err(invalid(
                column_span,
                "`tenant.column` is empty: name the tenant key column, e.g. \"org_id\"".into(),
            ));
        }
        // Custom GUCs must be qualified (PostgreSQL rejects `set_config('tenant', ...)`).
        let dotted = |s: &str| s.contains('.') && !s.starts_with('.') && !s.ends_with('.');
        let context = match (raw.tenant.setting, raw.context) {
            (Some(setting), None) => {
                let (span, setting) = (setting.span(), setting.into_inner());
                if !dotted(&setting) {
                    return Err(invalid(
                        span,
                        format!(
                            "`tenant.setting` = \"{setting}\" is not a custom setting name; use a dotted name such as \"app.current_org_id\""
                        ),
                    ));
                }
                crate::context::ContextSpec::single(&setting)
            }
            (None, Some(table)) => {
                let table_span = table.span();
                let mut settings = Vec::new();
                for (name, template) in table.into_inner() {
                    if !dotted(&name) {
                        return Err(invalid(
                            template.span(),
                            format!(
                                "[context] sets \"{name}\", which is not a custom setting name; use a dotted name such as \"request.jwt.claims\""
                            ),
                        ));
                    }
                    settings.push((name, template.into_inner()));
                }
                crate::context::ContextSpec::templates(settings, raw.membership.is_some()).ok_or_else(|| {
                    let what = if raw.membership.is_some() { "`{tenant}` or `{user}`" } else { "`{tenant}`" };
                    invalid(table_span, format!("[context] must put {what} into at least one setting's value"))
                })?
            }
            (Some(setting), Some(_)) => {
                return Err(invalid(
                    setting.span(),
                    "give the tenant's settings either as `tenant.setting` or under [context], not both".into(),
                ));
            }
            (None, None) => {
                return Err(invalid(
                    column_span.clone(),
                    "[tenant] needs `setting` (the setting holding the tenant key), or a [context] table".into(),
                ));
            }
        };
        let setting = context.primary().to_string();
        let mut context = context.with_role(raw.app.set_role.clone());
        if let Some(table) = raw.user_controlled {
            let span = table.span();
            for (name, paths) in table.into_inner() {
                for path in paths {
                    context = context.with_user_controlled(&name, &path).map_err(|m| invalid(span.clone(), m))?;
                }
            }
        }

        let probes = raw.probes.unwrap_or(RawProbes { cases: None, seed: None });
        let cases = match probes.cases {
            Some(c) if *c.get_ref() == 0 => {
                return Err(invalid(c.span(), "`probes.cases` must be at least 1".into()));
            }
            Some(c) => c.into_inner(),
            None => DEFAULT_CASES,
        };

        let mut waivers = Vec::new();
        for w in raw.waive {
            let span = w.span();
            let w = w.into_inner();
            let reason = match w.reason.filter(|r| !r.trim().is_empty()) {
                Some(r) => r,
                None => {
                    return Err(invalid(
                        span,
                        format!("[[waive]] of `{}` has no `reason`: say why the finding is accepted", w.rule),
                    ));
                }
            };
            let Some(rule) = crate::rules::RuleId::parse(&w.rule) else {
                return Err(invalid(
                    span,
                    format!("[[waive]] names unknown rule `{}` (`rowfence rules` lists them)", w.rule),
                ));
            };
            waivers.push(Waiver { rule, relation: w.relation, reason });
        }
        let preset = match raw.preset {
            None => None,
            Some(p) if p.get_ref() == "supabase" => Some(Preset::Supabase),
            Some(p) => {
                return Err(invalid(
                    p.span(),
                    format!("unknown `preset` \"{}\"; the one rowfence knows is \"supabase\"", p.get_ref()),
                ));
            }
        };
        let name = raw.name.unwrap_or_else(|| {
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "suite".into())
        });
        Ok(Suite {
            name,
            path: path.to_path_buf(),
            schema_files,
            app: AppRole { role, create: raw.app.create, set_role: raw.app.set_role, anon_role: raw.app.anon_role },
            admin_role: raw.admin.map(|a| a.role),
            context,
            tenant: TenantSpec {
                column,
                setting,
                root: raw.tenant.root,
                shared: raw.tenant.shared,
                shared_rows: raw.tenant.shared_rows,
                membership: raw.membership,
            },
            probes: ProbeSettings { cases, seed: probes.seed.unwrap_or(DEFAULT_SEED) },
            waivers,
            preset,
        })
    }
}

impl SchemaFile {
    /// A file of `format`, or of the format its markers show (dbmate, goose).
    fn new(path: PathBuf, format: Option<Format>) -> SchemaFile {
        let display = std::env::current_dir()
            .ok()
            .and_then(|cwd| relative_to(&path, &cwd))
            .unwrap_or_else(|| path.display().to_string());
        // Unreadable files fail later, when applied, with their name.
        let format =
            format.unwrap_or_else(|| fs::read_to_string(&path).map_or(Format::Plain, |t| formats::detect_file(&t)));
        SchemaFile { path, display, format }
    }
}

/// A path relative to `base` with `..` normalised away, if it lies below it.
fn relative_to(path: &Path, base: &Path) -> Option<String> {
    let abs = if path.is_absolute() { path.to_path_buf() } else { base.join(path) };
    let mut norm = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                norm.pop();
            }
            std::path::Component::CurDir => {}
            other => norm.push(other),
        }
    }
    norm.strip_prefix(base).ok().map(|p| p.display().to_string())
}

/// 1-based line number of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests;
