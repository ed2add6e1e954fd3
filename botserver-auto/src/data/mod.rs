//! The bot's own tables: declarations, rows stored per bot on both backends, and the filter
//! language compiled to bound parameters.
//!
//! - [`filter`]: the small, safe filter language of `FIND`, `UPDATE`, `DELETE` and `FILTER`
//!   (parsed from text and interpolated values, never SQL text from the script).
//! - [`tables`]: `TABLE` definitions and the per-bot SQL tables behind `SAVE`, `INSERT`,
//!   `UPDATE`, `DELETE`, `MERGE`, `FIND` and `SEARCH`, with the catalog (`bot_tables`) every
//!   server instance reads.
//! - [`rows`]: in-memory `FILTER`, `AGGREGATE`, `JOIN`, `GROUP BY` and `SORT` over rows.
//!
//! The catalog table is created by the migration `2026-11-26-000200_bot_tables` of
//! [`crate::MIGRATIONS`] (folders `migrations/sqlite` and `migrations/postgres`);
//! [`ensure_catalog`] applies the same SQL idempotently for callers that do not run the
//! migration set.

pub mod filter;
pub mod rows;
mod sql;
pub mod tables;

use botlib::AppError;
use botstate::{AnyConnection, DbErr};
use diesel::connection::SimpleConnection;
use std::fmt;

pub use filter::{Filter, FilterError, FilterPiece};
pub use tables::{ColumnDef, ColumnType, DefError, TableDef, TableInfo, Tables};

/// The SQL of the catalog migration (`up.sql`), SQLite flavour.
const CATALOG_SQLITE: &str = include_str!("../../migrations/sqlite/2026-11-26-000200_bot_tables/up.sql");
/// The SQL of the catalog migration (`up.sql`), PostgreSQL flavour.
const CATALOG_POSTGRES: &str = include_str!("../../migrations/postgres/2026-11-26-000200_bot_tables/up.sql");

/// Creates the catalog table (`bot_tables`) when it does not exist yet: the same SQL as the
/// `bot_tables` migration, which is written to be applied more than once.
pub fn ensure_catalog(conn: &mut AnyConnection) -> Result<(), DataError> {
    match conn {
        AnyConnection::Sqlite(c) => c.batch_execute(CATALOG_SQLITE)?,
        AnyConnection::Postgresql(c) => c.batch_execute(CATALOG_POSTGRES)?,
    }
    Ok(())
}

/// What a data operation can fail with.
#[derive(Debug)]
pub enum DataError {
    /// A name, a value or a limit is wrong; the message says which (shown to the author).
    Invalid(String),
    /// The filter does not parse, or names a column the table does not have.
    Filter(FilterError),
    /// A row with the same key already exists (`INSERT`).
    Conflict(String),
    /// The database failed.
    Database(diesel::result::Error),
}

impl DataError {
    pub(crate) fn invalid(message: impl Into<String>) -> DataError {
        DataError::Invalid(message.into())
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Invalid(m) | DataError::Conflict(m) => f.write_str(m),
            DataError::Filter(e) => write!(f, "filter: {e}"),
            DataError::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Filter(e) => Some(e),
            DataError::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for DataError {
    fn from(e: diesel::result::Error) -> Self {
        DataError::Database(e)
    }
}

impl From<FilterError> for DataError {
    fn from(e: FilterError) -> Self {
        DataError::Filter(e)
    }
}

impl From<DataError> for AppError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Invalid(m) => AppError::BadRequest(m),
            DataError::Filter(e) => AppError::BadRequest(format!("filter: {e}")),
            DataError::Conflict(m) => AppError::Conflict(m),
            DataError::Database(e) => botstate::db::diesel_to_app(e),
        }
    }
}

impl From<DataError> for DbErr {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Database(e) => DbErr::Diesel(e),
            other => DbErr::App(other.into()),
        }
    }
}
