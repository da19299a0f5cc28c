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

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_core::ErrorCode;

    #[test]
    fn store_errors_say_what_failed() {
        let mapped: Error = Err::<(), _>(sqlx::Error::PoolTimedOut).context(|| "loading trace tr-1").unwrap_err();
        assert_eq!(mapped.code, ErrorCode::InternalError);
        assert!(mapped.message.starts_with("loading trace tr-1: "), "{}", mapped.message);
        let missing = Err::<(), _>(sqlx::Error::RowNotFound).context(|| "loading run r").unwrap_err();
        assert!(missing.is_not_found());
        assert_eq!(missing.message, "loading run r: not found");
    }

    /// A statement that fails for real says what the store was doing, and for whom.
    #[tokio::test]
    async fn a_failed_statement_names_its_operation() {
        use ferroflow_core::entities::Tag;
        use ferroflow_core::ids::ExperimentId;
        use ferroflow_core::store::TrackingStore;
        let (_database, store) = crate::tests::test_store().await;
        sqlx::query("DROP TABLE experiment_tags CASCADE").execute(&store.pool).await.expect("drop");
        let error = store.delete_experiment_tag(ExperimentId::DEFAULT, "k").await.expect_err("no table");
        assert_eq!(error.code, ErrorCode::InternalError);
        assert!(error.message.starts_with("deleting tag k of experiment 0: "), "{}", error.message);
        assert!(error.message.contains("experiment_tags"), "{}", error.message);
        let error = store.set_experiment_tag(ExperimentId::DEFAULT, &Tag::new("k", "v")).await.expect_err("no table");
        assert_eq!(error.code, ErrorCode::InternalError);
        assert!(error.message.starts_with("writing experiment_tags of 0: "), "{}", error.message);
    }
}
