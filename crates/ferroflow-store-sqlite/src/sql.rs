//! Pieces shared by the query builders of every area: comparators, LIKE semantics, id lists,
//! and [`upsert_pairs`], the one way key/value child rows (tags, params, metadata) are written.
//!
//! User-supplied keys and values are always bound as parameters, never spliced into SQL text:
//! only column and table names chosen by the code are formatted in.

use crate::error::Context;
use ferroflow_core::search::{Comparator, Literal};
use ferroflow_core::{Error, Result};
use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

/// SQLite's limit on bound variables in one statement (`SQLITE_MAX_VARIABLE_NUMBER`, 32,766
/// since 3.32, which the bundled library is).
const MAX_VARIABLES: usize = 32_766;

/// Rows of `binds_per_row` variables that fit in one multi-row INSERT. Capped at 1,000 so a
/// statement stays a modest size; full chunks share one SQL text, so their prepared statement
/// is taken from the connection's statement cache.
pub fn rows_per_statement(binds_per_row: usize) -> usize {
    (MAX_VARIABLES / binds_per_row.max(1)).min(1000)
}

/// The owner of a child row, bound into its owner columns: a text id (`&str`), an integer id
/// (`i64`) or two integers (`(i64, i64)`, e.g. a model version).
pub trait Owner: Copy + Send + Sync + PartialEq + std::fmt::Debug {
    /// How many owner columns it fills.
    const COLUMNS: usize;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Sqlite, &'static str>)
    where
        Self: 'args;
}

impl Owner for &str {
    const COLUMNS: usize = 1;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Sqlite, &'static str>)
    where
        Self: 'args,
    {
        row.push_bind(self);
    }
}

impl Owner for i64 {
    const COLUMNS: usize = 1;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Sqlite, &'static str>)
    where
        Self: 'args,
    {
        row.push_bind(self);
    }
}

impl Owner for (i64, i64) {
    const COLUMNS: usize = 2;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Sqlite, &'static str>)
    where
        Self: 'args,
    {
        row.push_bind(self.0);
        row.push_bind(self.1);
    }
}

/// What [`upsert_pairs`] does with a key the owner has already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// The new value replaces the stored one (tags, metadata).
    Replace,
    /// The stored value stays (params, whose values never change once logged).
    Keep,
}

/// Writes key/value child rows `(owner, key, value)` into `table`, whose columns are
/// `owner_columns`, `key` and `value` with `(owner_columns, key)` unique: multi-row INSERTs
/// chunked to SQLite's variable limit. A replaced row keeps its rowid (an upsert, not a
/// delete and insert), so tables read in rowid order keep the order keys were first set.
pub async fn upsert_pairs<O: Owner>(
    conn: &mut SqliteConnection,
    table: &str,
    owner_columns: &[&str],
    rows: &[(O, &str, &str)],
    on_conflict: OnConflict,
) -> Result<()> {
    debug_assert_eq!(owner_columns.len(), O::COLUMNS);
    if rows.is_empty() {
        return Ok(());
    }
    let owners = owner_columns.join(", ");
    let action = match on_conflict {
        OnConflict::Replace => "UPDATE SET value = excluded.value",
        OnConflict::Keep => "NOTHING",
    };
    for chunk in rows.chunks(rows_per_statement(O::COLUMNS + 2)) {
        let mut builder: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("INSERT INTO {table} ({owners}, key, value) "));
        builder.push_values(chunk, |mut row, &(owner, key, value)| {
            owner.push(&mut row);
            row.push_bind(key).push_bind(value);
        });
        builder.push(format!(" ON CONFLICT ({owners}, key) DO {action}"));
        builder.build().execute(&mut *conn).await.context(|| writing(table, chunk))?;
    }
    Ok(())
}

/// What a failed [`upsert_pairs`] statement was writing: the table and its rows' owner
/// ("writing experiment_tags of 0"), for the error's context.
fn writing<O: Owner>(table: &str, rows: &[(O, &str, &str)]) -> String {
    let first = rows[0].0;
    let more = if rows.iter().all(|row| row.0 == first) { "" } else { " and others" };
    format!("writing {table} of {first:?}{more}")
}

/// `(owner, key, value)` rows for [`upsert_pairs`] from one owner's tags.
pub fn tag_rows<O: Owner>(owner: O, tags: &[ferroflow_core::entities::Tag]) -> Vec<(O, &str, &str)> {
    tags.iter().map(|tag| (owner, tag.key.as_str(), tag.value.as_str())).collect()
}

/// A stored metric value: NaN is kept as a flag beside a NULL value (SQLite has no NaN).
pub fn metric_value(value: Option<f64>, is_nan: bool) -> f64 {
    if is_nan {
        f64::NAN
    } else {
        value.unwrap_or(f64::NAN)
    }
}

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
    push_string_comparison_on(
        builder,
        &|builder: &mut QueryBuilder<'_, Sqlite>| {
            builder.push(column);
        },
        comparator,
        value,
    )
}

/// [`push_string_comparison`] on an expression that `operand` pushes, for expressions that
/// hold a bound value themselves (e.g. the attribute of a user-given key).
pub fn push_string_comparison_on<'args>(
    builder: &mut QueryBuilder<'args, Sqlite>,
    operand: &dyn Fn(&mut QueryBuilder<'args, Sqlite>),
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    match comparator {
        Comparator::IsNull => {
            operand(builder);
            builder.push(" IS NULL");
        }
        Comparator::IsNotNull => {
            operand(builder);
            builder.push(" IS NOT NULL");
        }
        Comparator::In | Comparator::NotIn => {
            let Literal::List(items) = value else {
                return Err(Error::invalid("IN expects a list of values"));
            };
            operand(builder);
            builder.push(if comparator == Comparator::In { " IN (" } else { " NOT IN (" });
            let mut separated = builder.separated(", ");
            for item in items {
                separated.push_bind(item.clone());
            }
            builder.push(")");
        }
        Comparator::Like => {
            operand(builder);
            builder.push(" GLOB ");
            builder.push_bind(like_to_glob(&text_of(value)?));
        }
        Comparator::ILike => {
            builder.push("lower(");
            operand(builder);
            builder.push(") GLOB ");
            builder.push_bind(like_to_glob(&text_of(value)?.to_lowercase()));
        }
        Comparator::RLike => {
            operand(builder);
            builder.push(" REGEXP ");
            builder.push_bind(text_of(value)?);
        }
        op => {
            operand(builder);
            builder.push(format!(" {} ", sql_operator(op)));
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
