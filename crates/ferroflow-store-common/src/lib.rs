//! What every store backend shares below the `Store` trait: the text formats of values kept in
//! a column, so SQLite and PostgreSQL write and read them identically (and a database copied
//! from one to the other reads back the same).

pub mod issues;
pub mod span_details;

/// A stored value that no longer decodes: an error naming what it was, never an empty value.
pub fn corrupt(what: impl std::fmt::Display, error: impl std::fmt::Display) -> ferroflow_core::Error {
    ferroflow_core::Error::internal(format!("corrupt stored {what}: {error}"))
}

/// An enum value read back from a column the store wrote with its `as_str`: one it does not
/// name is corruption, an error, never a default that would answer as if it were stored.
pub fn stored_enum<T>(what: &str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> ferroflow_core::Result<T> {
    parse(text).ok_or_else(|| corrupt(what, format_args!("unknown value '{text}'")))
}
