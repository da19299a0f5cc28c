//! Test helpers shared by the grammar modules: parsed clauses and orders rendered as one line,
//! so that each test case is an input and the text it must parse to.

use super::{Clause, OrderBy};
use crate::{ErrorCode, Result};
use std::fmt::Debug;

/// `Key op Value ; Key op Value`, or `error: <message>`.
pub fn render_clauses<K: Debug>(parsed: Result<Vec<Clause<K>>>) -> String {
    match parsed {
        Ok(clauses) => clauses
            .iter()
            .map(|clause| format!("{:?} {} {:?}", clause.key, clause.comparator.as_str(), clause.value))
            .collect::<Vec<_>>()
            .join(" ; "),
        Err(err) => format!("error: {}", err.message),
    }
}

/// `Key ASC ; Key DESC`, or `error: <message>`.
pub fn render_orders<K: Debug>(parsed: Result<Vec<OrderBy<K>>>) -> String {
    match parsed {
        Ok(entries) => entries
            .iter()
            .map(|entry| format!("{:?} {}", entry.key, if entry.ascending { "ASC" } else { "DESC" }))
            .collect::<Vec<_>>()
            .join(" ; "),
        Err(err) => format!("error: {}", err.message),
    }
}

/// Asserts a parse failed with `INVALID_PARAMETER_VALUE` and a message containing `part`.
pub fn assert_invalid<T: Debug>(parsed: Result<T>, input: &str, part: &str) {
    let err = parsed.expect_err(input);
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(err.message.contains(part), "input: {input}\nmessage: {}", err.message);
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}
