//! Filter and `order_by` grammar of evaluation-dataset search (`datasets/search`, field
//! `filter_string`, ../shared/spec/mlflow-rest.md §16.7).
//!
//! This is the one search where the client itself sends double-quoted values
//! (`get_dataset(name=)` sends `name = "qa-dataset"`), so they are always accepted here.

use super::filter::{self, check_clause, comparators, ParseOptions, RawClause, RawOrderBy, ValueKind};
use super::{Clause, OrderBy};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetKey {
    Name,
    CreatedBy,
    LastUpdatedBy,
    CreatedTime,
    LastUpdateTime,
    Tag(String),
}

fn typed_key(prefix: Option<&str>, key: &str) -> Result<DatasetKey> {
    match prefix {
        Some("tags" | "tag") => Ok(DatasetKey::Tag(key.to_string())),
        None | Some("attributes" | "attribute") => match key.to_ascii_lowercase().as_str() {
            "name" => Ok(DatasetKey::Name),
            "created_by" => Ok(DatasetKey::CreatedBy),
            "last_updated_by" => Ok(DatasetKey::LastUpdatedBy),
            "created_time" => Ok(DatasetKey::CreatedTime),
            "last_update_time" => Ok(DatasetKey::LastUpdateTime),
            _ => Err(Error::invalid(format!(
                "Invalid attribute key '{key}' specified. Valid keys are ['name', 'created_by', \
                 'last_updated_by', 'created_time', 'last_update_time']"
            ))),
        },
        Some(other) => {
            Err(Error::invalid(format!("Invalid entity type '{other}'. Valid values are ['attributes', 'tags']")))
        }
    }
}

/// Parses a `datasets/search` `filter_string`. Empty or blank text is no clause.
pub fn parse_filter(filter: &str) -> Result<Vec<Clause<DatasetKey>>> {
    let options = ParseOptions { allow_double_quoted_values: true };
    filter::parse(filter, options)?.into_iter().map(typed_clause).collect()
}

fn typed_clause(raw: RawClause) -> Result<Clause<DatasetKey>> {
    let key = typed_key(raw.prefix.as_deref(), &raw.key)?;
    let what = format!("attribute '{}'", raw.key);
    match &key {
        DatasetKey::Tag(tag) => {
            check_clause(&raw, &format!("tag '{tag}'"), comparators::EQUALITY_AND_LIKE, ValueKind::Text)?
        }
        DatasetKey::CreatedTime | DatasetKey::LastUpdateTime => {
            check_clause(&raw, &what, comparators::NUMERIC, ValueKind::Number)?
        }
        // `get_dataset(name=)` looks datasets up by name, so only `name` takes IN.
        DatasetKey::Name => check_clause(&raw, &what, comparators::STRING_WITH_IN, ValueKind::Text)?,
        DatasetKey::CreatedBy | DatasetKey::LastUpdatedBy => {
            check_clause(&raw, &what, comparators::EQUALITY_AND_LIKE, ValueKind::Text)?
        }
    }
    Ok(Clause { key, comparator: raw.comparator, value: raw.value })
}

/// Parses `order_by` entries such as `created_time DESC` (the client's default), `name`.
pub fn parse_order_by(items: &[String]) -> Result<Vec<OrderBy<DatasetKey>>> {
    filter::parse_order_by_items(items, |raw: &RawOrderBy| match typed_key(raw.prefix.as_deref(), &raw.key)? {
        key @ (DatasetKey::Name | DatasetKey::CreatedTime | DatasetKey::LastUpdateTime) => Ok(key),
        _ => Err(Error::invalid("datasets can only be ordered by ['name', 'created_time', 'last_update_time']")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::checks;

    fn render(filter: &str) -> String {
        checks::render_clauses(parse_filter(filter))
    }

    fn check(filter: &str, expected: &str) {
        assert_eq!(render(filter), expected, "filter: {filter}");
    }

    fn check_error(filter: &str, expected_part: &str) {
        checks::assert_invalid(parse_filter(filter), filter, expected_part);
    }

    fn render_order(items: &[&str]) -> String {
        checks::render_orders(parse_order_by(&checks::strings(items)))
    }

    #[test]
    fn accepted_filters() {
        check("", "");
        check("name = \"qa-dataset\"", "Name = Str(\"qa-dataset\")");
        check("name = 'qa-dataset'", "Name = Str(\"qa-dataset\")");
        check("created_time >= 1700000000000", "CreatedTime >= Num(1700000000000.0)");
        check(
            "name IN (\"a\", 'b') AND last_update_time < 5",
            "Name IN List([\"a\", \"b\"]) ; LastUpdateTime < Num(5.0)",
        );
        check(
            "created_by = 'alice' AND last_updated_by LIKE 'b%'",
            "CreatedBy = Str(\"alice\") ; LastUpdatedBy LIKE Str(\"b%\")",
        );
        check(
            "tags.env ILIKE 'PROD' AND tag.`a.b` != 'x'",
            "Tag(\"env\") ILIKE Str(\"PROD\") ; Tag(\"a.b\") != Str(\"x\")",
        );
    }

    #[test]
    fn rejected_filters() {
        check_error("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: 'OR'");
        check_error("records.x = 'y'", "Invalid entity type 'records'");
        check_error("digest = 'x'", "Invalid attribute key 'digest'");
        check_error("created_by IN ('a')", "Invalid comparator 'IN' for attribute 'created_by'");
        check_error("created_time = \"yesterday\"", "Expected a numeric value for attribute 'created_time'");
        check_error("tags.env IS NULL", "Invalid comparator 'IS NULL' for tag 'env'");
        check_error("name IN ()", "the list is empty");
        check_error("name = \"qa", "unterminated quoted string");
    }

    #[test]
    fn order_by() {
        assert_eq!(
            render_order(&["created_time DESC", "name", "last_update_time asc"]),
            "CreatedTime DESC ; Name ASC ; LastUpdateTime ASC"
        );
        assert!(render_order(&["created_by"]).contains("can only be ordered by"));
        assert!(render_order(&["size"]).contains("Invalid attribute key 'size'"));
    }
}
