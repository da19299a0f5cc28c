//! The store's failures: a sqlx error together with what the store was doing, turned into the
//! core's error once, here (as the SQLite store does). Nothing is logged here: the server logs
//! an internal error once, at the edge.

use ferroflow_core::Error;

/// A database failure and what the store was doing when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct StoreError {
    context: String,
    #[source]
    source: sqlx::Error,
}

/// A row that had to be there is `RESOURCE_DOES_NOT_EXIST`; anything else is internal, with
/// the context and the cause in the message (which goes to the log, never to the client).
impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        // PostgreSQL text cannot hold a NUL character (SQLSTATE 22021, or 22P05 where it is
        // escaped in JSON): the client's value is refused, it is not our failure.
        if matches!(sqlstate(&error.source).as_deref(), Some("22021" | "22P05")) {
            return Error::invalid(format!(
                "{}: a value contains a NUL character, which this PostgreSQL-backed server cannot store",
                error.context
            ));
        }
        // SQLSTATE 2201B: a filter's RLIKE pattern that PostgreSQL's regular expressions do not
        // read (the core has checked it with the SQLite store's syntax; the two differ a little).
        if sqlstate(&error.source).as_deref() == Some("2201B") {
            let reason = match &error.source {
                sqlx::Error::Database(db) => db.message().to_string(),
                other => other.to_string(),
            };
            return Error::invalid(format!("Invalid regular expression in filter: {reason}"));
        }
        match error.source {
            sqlx::Error::RowNotFound => Error::not_found(format!("{}: not found", error.context)),
            _ => Error::internal(error.to_string()),
        }
    }
}

/// Names what a statement was for, on its failure: `query.await.context(|| format!("loading
/// run {id}"))?`.
pub trait Context<T> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, Error> {
        self.map_err(|source| StoreError { context: what().into(), source }.into())
    }
}

/// Maps a sqlx error that needs no more context than the store it came from.
pub fn map_sqlx(error: sqlx::Error) -> Error {
    StoreError { context: "postgres store".into(), source: error }.into()
}

/// Stored data that does not decode: an internal error naming what it was, never an empty
/// value.
pub use ferroflow_store_common::{corrupt, stored_enum};

/// True when the error is a UNIQUE/PRIMARY KEY violation (SQLSTATE 23505).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The SQLSTATE of a database error, if it is one.
pub fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}
