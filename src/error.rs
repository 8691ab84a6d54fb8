//! The library's error type. Every error means "could not judge" (exit 2);
//! messages read after "rowfence: " and say what to do.

use crate::catalog::CatalogError;
use crate::ownership::OwnershipError;
use crate::probe::runner::ProbeError;
use crate::provision::ProvisionError;
use crate::schema::SchemaError;
use crate::suite::SuiteError;

/// Why a run could not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The suite file is unusable.
    #[error(transparent)]
    Suite(#[from] SuiteError),
    /// No PostgreSQL could be had.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The schema did not apply.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The catalog could not be read, or the app role is missing.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Tenant ownership could not be established.
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    /// Probing failed.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The app role could not log in.
    #[error("cannot log in as the app role {role}: {error}")]
    AppLogin {
        /// The role.
        role: String,
        /// Why.
        error: String,
    },
    /// A setting of the run is unusable.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// The documented exit code for errors.
    pub const EXIT_CODE: i32 = 2;
}
