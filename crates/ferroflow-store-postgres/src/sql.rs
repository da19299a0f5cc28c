//! Pieces shared by the query builders of every area: comparators, LIKE semantics, pages, and
//! [`upsert_pairs`], the one way key/value child rows (tags, params, metadata) are written.
//!
//! User-supplied keys and values are always bound as parameters, never spliced into SQL text:
//! only column and table names chosen by the code are formatted in. Lists of ids are bound as
//! one array parameter (`= ANY($1)`).

use crate::error::Context;
use ferroflow_core::search::{Comparator, Literal};
use ferroflow_core::{Error, Result};
use sqlx::query_builder::Separated;
use sqlx::{PgConnection, Postgres, QueryBuilder};

/// PostgreSQL's limit on bound parameters in one statement.
const MAX_VARIABLES: usize = 65_535;

/// Rows of `binds_per_row` parameters that fit in one multi-row INSERT, capped at 1,000 so a
/// statement stays a modest size.
pub fn rows_per_statement(binds_per_row: usize) -> usize {
    (MAX_VARIABLES / binds_per_row.max(1)).min(1000)
}

/// The owner of a child row, bound into its owner columns: a text id (`&str`), an integer id
/// (`i64`) or two integers (`(i64, i64)`, e.g. a model version).
pub trait Owner: Copy + Send + Sync + PartialEq + std::fmt::Debug {
    /// How many owner columns it fills.
    const COLUMNS: usize;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Postgres, &'static str>)
    where
        Self: 'args;
}

impl Owner for &str {
    const COLUMNS: usize = 1;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Postgres, &'static str>)
    where
        Self: 'args,
    {
        row.push_bind(self);
    }
}

impl Owner for i64 {
    const COLUMNS: usize = 1;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Postgres, &'static str>)
    where
        Self: 'args,
    {
        row.push_bind(self);
    }
}

impl Owner for (i64, i64) {
    const COLUMNS: usize = 2;
    fn push<'args>(self, row: &mut Separated<'_, 'args, Postgres, &'static str>)
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
/// chunked to PostgreSQL's parameter limit. A (owner, key) given twice in one call keeps its
/// last value (PostgreSQL refuses to touch one row twice in one statement, so duplicates are
/// folded first).
pub async fn upsert_pairs<O: Owner>(
    conn: &mut PgConnection,
    table: &str,
    owner_columns: &[&str],
    rows: &[(O, &str, &str)],
    on_conflict: OnConflict,
) -> Result<()> {
    debug_assert_eq!(owner_columns.len(), O::COLUMNS);
    if rows.is_empty() {
        return Ok(());
    }
    // Rows of one owner are consecutive in every caller; a key may repeat across owners (the
    // tags of several traces), so the fold is on (owner, key).
    let mut seen: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    let mut folded: Vec<(O, &str, &str)> = Vec::with_capacity(rows.len());
    for &(owner, key, value) in rows {
        let indexes = seen.entry(key).or_default();
        match indexes.iter().copied().find(|&index| folded[index].0 == owner) {
            Some(index) => {
                if on_conflict == OnConflict::Replace {
                    folded[index] = (owner, key, value);
                }
            }
            None => {
                indexes.push(folded.len());
                folded.push((owner, key, value));
            }
        }
    }
    let owners = owner_columns.join(", ");
    let action = match on_conflict {
        OnConflict::Replace => "UPDATE SET value = EXCLUDED.value",
        OnConflict::Keep => "NOTHING",
    };
    for chunk in folded.chunks(rows_per_statement(O::COLUMNS + 2)) {
        let mut builder: QueryBuilder<Postgres> =
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

/// A stored metric value: NaN is kept as a flag beside a NULL value, as in the SQLite store,
/// so comparisons and orderings never meet a NaN.
pub fn metric_value(value: Option<f64>, is_nan: bool) -> f64 {
    if is_nan {
        f64::NAN
    } else {
        value.unwrap_or(f64::NAN)
    }
}

/// Appends `<column> <op> <value>` for a string column. PostgreSQL's LIKE is case-sensitive
/// with `\` as its escape, as MLflow's is, so the pattern goes through unchanged; ILIKE is
/// PostgreSQL's own and RLIKE is `~`.
pub fn push_string_comparison(
    builder: &mut QueryBuilder<'_, Postgres>,
    column: &str,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    push_string_comparison_on(
        builder,
        &|builder: &mut QueryBuilder<'_, Postgres>| {
            builder.push(column);
        },
        comparator,
        value,
    )
}

/// [`push_string_comparison`] on an expression that `operand` pushes, for expressions that
/// hold a bound value themselves.
pub fn push_string_comparison_on<'args>(
    builder: &mut QueryBuilder<'args, Postgres>,
    operand: &dyn Fn(&mut QueryBuilder<'args, Postgres>),
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
            if comparator == Comparator::NotIn {
                builder.push("NOT (");
            }
            operand(builder);
            builder.push(" = ANY(");
            builder.push_bind(items.clone());
            builder.push(")");
            if comparator == Comparator::NotIn {
                builder.push(")");
            }
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
    builder: &mut QueryBuilder<'_, Postgres>,
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
            let numbers = items
                .iter()
                .map(|item| {
                    item.parse::<f64>()
                        .map_err(|_| Error::invalid(format!("Expected a number in the IN list, got '{item}'")))
                })
                .collect::<Result<Vec<f64>>>()?;
            builder.push(if comparator == Comparator::In { "(" } else { "NOT (" });
            builder.push(format!("{column}::float8 = ANY("));
            builder.push_bind(numbers);
            builder.push("))");
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
        Comparator::Like => "LIKE",
        Comparator::ILike => "ILIKE",
        Comparator::RLike => "~",
        Comparator::In => "IN",
        Comparator::NotIn => "NOT IN",
        Comparator::IsNull => "IS",
        Comparator::IsNotNull => "IS NOT",
    }
}

fn text_of(value: &Literal) -> Result<String> {
    value.as_text().ok_or_else(|| Error::invalid("Expected a single value"))
}

/// Appends `LIMIT max+1 OFFSET offset`: the one extra row tells whether another page follows.
pub fn push_page(builder: &mut QueryBuilder<'_, Postgres>, max_results: u64, offset: u64) {
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
