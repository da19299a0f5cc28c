//! What every store backend shares below the `Store` trait: the text formats of values kept in
//! a column, so SQLite and PostgreSQL write and read them identically (and a database copied
//! from one to the other reads back the same).

pub mod issues;
pub mod span_details;

/// A stored value that no longer decodes: an error naming what it was, never an empty value.
pub fn corrupt(what: impl std::fmt::Display, error: impl std::fmt::Display) -> ferroflow_core::Error {
    ferroflow_core::Error::internal(format!("corrupt stored {what}: {error}"))
}
