//! sqlx failures mapped to the core error, once, here.

use ferroflow_core::Error;

/// Maps a sqlx error: a missing row is `RESOURCE_DOES_NOT_EXIST`, anything else is internal
/// (its text goes to the log, not to the client).
pub fn map_sqlx(error: sqlx::Error) -> Error {
    match error {
        sqlx::Error::RowNotFound => Error::not_found("not found"),
        other => {
            tracing::error!(error = %other, "sqlite failure");
            Error::internal(other.to_string())
        }
    }
}

/// True when the error is a UNIQUE/PRIMARY KEY violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
