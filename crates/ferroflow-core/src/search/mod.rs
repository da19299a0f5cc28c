//! The search filter grammar of MLflow (`filter`, `filter_string`, `order_by`) and page tokens.
//!
//! One tokenizer and one clause parser ([`filter`]) serve every entity; each entity module
//! turns raw clauses into typed keys and rejects what its grammar does not allow, with
//! `INVALID_PARAMETER_VALUE`. Stores translate the typed clauses into their own query language.

#[cfg(test)]
mod checks;
pub mod datasets;
pub mod experiments;
pub mod filter;
pub mod logged_models;
pub mod page_token;
pub mod registry;
pub mod runs;
pub mod traces;

/// A comparison operator of the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    RLike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Comparator {
    /// The comparator as written in a filter (keywords upper-case).
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::RLike => "RLIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
            Comparator::IsNull => "IS NULL",
            Comparator::IsNotNull => "IS NOT NULL",
        }
    }
}

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    /// The list of `IN (...)` / `NOT IN (...)`, as strings.
    List(Vec<String>),
    /// For `IS NULL` / `IS NOT NULL`.
    None,
}

impl Literal {
    /// The literal as text (a number prints as MLflow compares it).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Literal::Str(s) => Some(s.clone()),
            Literal::Num(n) => {
                Some(if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", *n as i64) } else { n.to_string() })
            }
            _ => None,
        }
    }
}

/// One `key comparator value` clause with a typed key.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause<K> {
    pub key: K,
    pub comparator: Comparator,
    pub value: Literal,
}

/// One `order_by` entry with a typed key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy<K> {
    pub key: K,
    pub ascending: bool,
}
