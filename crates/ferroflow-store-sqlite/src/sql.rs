//! Pieces shared by the query builders of every area: comparators, LIKE semantics, id lists.

use ferroflow_core::search::{Comparator, Literal};
use ferroflow_core::{Error, Result};
use sqlx::{QueryBuilder, Sqlite};

/// Appends `<column> <op> <value>` for a string column.
///
/// SQLite's LIKE ignores ASCII case, while MLflow's LIKE is case-sensitive; so LIKE becomes
/// GLOB with the pattern translated, and ILIKE compares lower-cased text with GLOB.
pub fn push_string_comparison(
    builder: &mut QueryBuilder<'_, Sqlite>,
    column: &str,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    match comparator {
        Comparator::IsNull => {
            builder.push(format!("{column} IS NULL"));
        }
        Comparator::IsNotNull => {
            builder.push(format!("{column} IS NOT NULL"));
        }
        Comparator::In | Comparator::NotIn => {
            let Literal::List(items) = value else {
                return Err(Error::invalid("IN expects a list of values"));
            };
            builder.push(column);
            builder.push(if comparator == Comparator::In { " IN (" } else { " NOT IN (" });
            let mut separated = builder.separated(", ");
            for item in items {
                separated.push_bind(item.clone());
            }
            builder.push(")");
        }
        Comparator::Like => {
            builder.push(format!("{column} GLOB "));
            builder.push_bind(like_to_glob(&text_of(value)?));
        }
        Comparator::ILike => {
            builder.push(format!("lower({column}) GLOB "));
            builder.push_bind(like_to_glob(&text_of(value)?.to_lowercase()));
        }
        Comparator::RLike => {
            builder.push(format!("{column} REGEXP "));
            builder.push_bind(text_of(value)?);
        }
        op => {
            builder.push(format!("{column} {} ", sql_operator(op)));
            builder.push_bind(text_of(value)?);
        }
    }
    Ok(())
}

/// Appends `<column> <op> <number>` for a numeric column.
pub fn push_numeric_comparison(
    builder: &mut QueryBuilder<'_, Sqlite>,
    column: &str,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    match (comparator, value) {
        (Comparator::IsNull, _) => {
            builder.push(format!("{column} IS NULL"));
        }
        (Comparator::IsNotNull, _) => {
            builder.push(format!("{column} IS NOT NULL"));
        }
        (Comparator::In | Comparator::NotIn, Literal::List(items)) => {
            builder.push(column);
            builder.push(if comparator == Comparator::In { " IN (" } else { " NOT IN (" });
            let mut separated = builder.separated(", ");
            for item in items {
                let number: f64 = item
                    .parse()
                    .map_err(|_| Error::invalid(format!("Expected a number in the IN list, got '{item}'")))?;
                separated.push_bind(number);
            }
            builder.push(")");
        }
        (op, Literal::Num(number)) => {
            builder.push(format!("{column} {} ", sql_operator(op)));
            builder.push_bind(*number);
        }
        (op, Literal::Str(text)) => {
            let number: f64 =
                text.parse().map_err(|_| Error::invalid(format!("Expected a numeric value, got '{text}'")))?;
            builder.push(format!("{column} {} ", sql_operator(op)));
            builder.push_bind(number);
        }
        _ => return Err(Error::invalid("Invalid numeric comparison")),
    }
    Ok(())
}

pub fn sql_operator(comparator: Comparator) -> &'static str {
    match comparator {
        Comparator::Eq => "=",
        Comparator::Ne => "!=",
        Comparator::Lt => "<",
        Comparator::Le => "<=",
        Comparator::Gt => ">",
        Comparator::Ge => ">=",
        Comparator::Like | Comparator::ILike => "GLOB",
        Comparator::RLike => "REGEXP",
        Comparator::In => "IN",
        Comparator::NotIn => "NOT IN",
        Comparator::IsNull => "IS",
        Comparator::IsNotNull => "IS NOT",
    }
}

fn text_of(value: &Literal) -> Result<String> {
    value.as_text().ok_or_else(|| Error::invalid("Expected a single value"))
}

/// Translates a SQL LIKE pattern (`%`, `_`, `\` escapes) into a GLOB pattern.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '\\' => match chars.next() {
                Some(escaped) => push_glob_literal(&mut out, escaped),
                None => push_glob_literal(&mut out, '\\'),
            },
            other => push_glob_literal(&mut out, other),
        }
    }
    out
}

fn push_glob_literal(out: &mut String, c: char) {
    match c {
        '*' | '?' | '[' => {
            out.push('[');
            out.push(c);
            out.push(']');
        }
        other => out.push(other),
    }
}

/// A list of ids as one JSON parameter, for `IN (SELECT value FROM json_each(?))`.
pub fn json_list<S: AsRef<str>>(ids: &[S]) -> String {
    serde_json::Value::Array(ids.iter().map(|s| serde_json::Value::String(s.as_ref().to_string())).collect())
        .to_string()
}

/// Appends `LIMIT max+1 OFFSET offset`: the one extra row tells whether another page follows.
pub fn push_page(builder: &mut QueryBuilder<'_, Sqlite>, max_results: u64, offset: u64) {
    builder.push(" LIMIT ");
    builder.push_bind((max_results + 1) as i64);
    builder.push(" OFFSET ");
    builder.push_bind(offset as i64);
}

/// Keeps one page of `rows` and says where the next begins (one extra row was fetched).
pub fn split_page<T>(mut rows: Vec<T>, max_results: u64, offset: u64) -> (Vec<T>, Option<u64>) {
    if rows.len() as u64 > max_results {
        rows.truncate(max_results as usize);
        (rows, Some(offset + max_results))
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::like_to_glob;

    #[test]
    fn like_patterns() {
        assert_eq!(like_to_glob("run-%"), "run-*");
        assert_eq!(like_to_glob("a_c"), "a?c");
        assert_eq!(like_to_glob("100\\%"), "100%");
        assert_eq!(like_to_glob("[x]*"), "[[]x][*]");
    }
}
