//! The store's failures: a sqlx error together with what the store was doing, turned into the
//! core's error once, here. Nothing is logged here: the server logs an internal error once, at
//! the edge, and its message carries this context ("loading trace tr-…: database is locked").

use ferroflow_core::Error;

/// A database failure and what the store was doing when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct StoreError {
    context: String,
    #[source]
    source: sqlx::Error,
}

impl StoreError {
    pub fn new(context: impl Into<String>, source: sqlx::Error) -> Self {
        StoreError { context: context.into(), source }
    }
}

/// A row that had to be there is `RESOURCE_DOES_NOT_EXIST`; anything else is internal, with
/// the context and the cause in the message (which goes to the log, never to the client).
impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
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
        self.map_err(|source| StoreError::new(what(), source).into())
    }
}

/// Stored data that does not decode (JSON the store wrote, damaged since): an internal error
/// naming what it was, never an empty value.
pub use ferroflow_store_common::{corrupt, stored_enum};

/// True when the error is a UNIQUE/PRIMARY KEY violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_core::ErrorCode;
    use std::error::Error as _;

    #[test]
    fn store_errors_keep_their_source_and_say_what_failed() {
        let error = StoreError::new("loading trace tr-1", sqlx::Error::PoolTimedOut);
        assert!(error.source().is_some_and(|source| source.to_string().contains("timed out")));
        let mapped: Error = Err::<(), _>(sqlx::Error::PoolTimedOut).context(|| "loading trace tr-1").unwrap_err();
        assert_eq!(mapped.code, ErrorCode::InternalError);
        assert!(mapped.message.starts_with("loading trace tr-1: "), "{}", mapped.message);
        let missing: Error = StoreError::new("loading run r", sqlx::Error::RowNotFound).into();
        assert!(missing.is_not_found());
    }

    /// A statement that fails for real says what the store was doing, and for whom.
    #[tokio::test]
    async fn a_failed_statement_names_its_operation() {
        use ferroflow_core::entities::Tag;
        use ferroflow_core::ids::ExperimentId;
        use ferroflow_core::store::TrackingStore;
        let (_dir, store) = crate::test_store().await;
        sqlx::query("DROP TABLE experiment_tags").execute(&store.write).await.expect("drop");
        let error = store.delete_experiment_tag(ExperimentId::DEFAULT, "k").await.expect_err("no table");
        assert_eq!(error.code, ErrorCode::InternalError);
        assert!(error.message.starts_with("deleting tag k of experiment 0: "), "{}", error.message);
        assert!(error.message.contains("experiment_tags"), "{}", error.message);
        let error = store.set_experiment_tag(ExperimentId::DEFAULT, &Tag::new("k", "v")).await.expect_err("no table");
        assert_eq!(error.code, ErrorCode::InternalError);
        assert!(error.message.starts_with("writing experiment_tags of 0: "), "{}", error.message);
    }
}
