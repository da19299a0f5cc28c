//! Filter and `order_by` grammar of `experiments/search` (../shared/spec/mlflow-rest.md §16.2): the attributes `name`,
//! `experiment_id`, `creation_time`, `last_update_time`, and `tags.<key>`.

use super::filter::{self, check_clause, comparators, ParseOptions, RawClause, RawOrderBy, ValueKind};
use super::{Clause, OrderBy};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExperimentKey {
    Name,
    ExperimentId,
    CreationTime,
    LastUpdateTime,
    Tag(String),
}

impl ExperimentKey {
    fn is_numeric(&self) -> bool {
        matches!(self, ExperimentKey::CreationTime | ExperimentKey::LastUpdateTime)
    }
}

const VALID_ATTRIBUTES: &str = "['name', 'experiment_id', 'creation_time', 'last_update_time']";

/// The typed key of `prefix.key`, for filters and `order_by` alike.
fn typed_key(prefix: Option<&str>, key: &str) -> Result<ExperimentKey> {
    match prefix {
        Some("tags" | "tag") => Ok(ExperimentKey::Tag(key.to_string())),
        None | Some("attributes" | "attribute" | "attr") => match key.to_ascii_lowercase().as_str() {
            "name" => Ok(ExperimentKey::Name),
            "experiment_id" => Ok(ExperimentKey::ExperimentId),
            "creation_time" => Ok(ExperimentKey::CreationTime),
            "last_update_time" => Ok(ExperimentKey::LastUpdateTime),
            _ => Err(Error::invalid(format!(
                "Invalid attribute key '{key}' specified. Valid keys are {VALID_ATTRIBUTES}"
            ))),
        },
        Some(other) => {
            Err(Error::invalid(format!("Invalid entity type '{other}'. Valid values are ['attributes', 'tags']")))
        }
    }
}

/// Parses an `experiments/search` filter. Empty or blank text is no clause.
pub fn parse_filter(filter: &str) -> Result<Vec<Clause<ExperimentKey>>> {
    let options = ParseOptions { allow_double_quoted_values: true };
    filter::parse(filter, options)?.into_iter().map(typed_clause).collect()
}

fn typed_clause(raw: RawClause) -> Result<Clause<ExperimentKey>> {
    let key = typed_key(raw.prefix.as_deref(), &raw.key)?;
    match &key {
        ExperimentKey::Tag(tag) => {
            check_clause(&raw, &format!("tag '{tag}'"), comparators::EQUALITY_LIKE_NULL, ValueKind::Text)?
        }
        numeric if numeric.is_numeric() => {
            check_clause(&raw, &format!("attribute '{}'", raw.key), comparators::NUMERIC, ValueKind::Number)?
        }
        // `name` and `experiment_id` are strings; the client looks experiments up by id lists.
        _ => check_clause(&raw, &format!("attribute '{}'", raw.key), comparators::STRING_WITH_IN, ValueKind::Text)?,
    }
    Ok(Clause { key, comparator: raw.comparator, value: raw.value })
}

/// Parses `order_by` entries such as `name`, `creation_time DESC`, `last_update_time`.
pub fn parse_order_by(items: &[String]) -> Result<Vec<OrderBy<ExperimentKey>>> {
    filter::parse_order_by_items(items, order_key)
}

fn order_key(raw: &RawOrderBy) -> Result<ExperimentKey> {
    match typed_key(raw.prefix.as_deref(), &raw.key)? {
        ExperimentKey::Tag(_) => {
            Err(Error::invalid(format!("experiments can only be ordered by the attributes {VALID_ATTRIBUTES}")))
        }
        key => Ok(key),
    }
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
        check("name = 'my-exp'", "Name = Str(\"my-exp\")");
        check(
            "attribute.name LIKE 'exp-%' AND tags.team = 'ml'",
            "Name LIKE Str(\"exp-%\") ; Tag(\"team\") = Str(\"ml\")",
        );
        check("experiment_id IN ('1', '2')", "ExperimentId IN List([\"1\", \"2\"])");
        check("experiment_id NOT IN (0)", "ExperimentId NOT IN List([\"0\"])");
        check(
            "creation_time > 1700000000000 and last_update_time <= 5",
            "CreationTime > Num(1700000000000.0) ; LastUpdateTime <= Num(5.0)",
        );
        check("tags.`mlflow.note.content` ILIKE '%x%'", "Tag(\"mlflow.note.content\") ILIKE Str(\"%x%\")");
        check("tag.t IS NULL AND tags.u IS NOT NULL", "Tag(\"t\") IS NULL None ; Tag(\"u\") IS NOT NULL None");
        check("name = \"quoted\"", "Name = Str(\"quoted\")");
    }

    #[test]
    fn rejected_filters() {
        check_error("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: 'OR'");
        check_error("metrics.a > 1", "Invalid entity type 'metrics'");
        check_error("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'");
        check_error("creation_time LIKE '17%'", "Invalid comparator 'LIKE' for attribute 'creation_time'");
        check_error("creation_time > '17'", "Expected a numeric value for attribute 'creation_time'");
        check_error("name > 'a'", "Invalid comparator '>' for attribute 'name'");
        check_error("name IS NULL", "Invalid comparator 'IS NULL' for attribute 'name'");
        check_error("tags.t IN ('a')", "Invalid comparator 'IN' for tag 't'");
        check_error("tags.t = 1", "Expected a quoted string value for tag 't'");
        check_error("experiment_id IN ()", "the list is empty");
        check_error("name = 'open", "unterminated quoted string");
    }

    #[test]
    fn order_by() {
        assert_eq!(
            render_order(&["name", "experiment_id DESC", "creation_time asc", "attributes.last_update_time DESC"]),
            "Name ASC ; ExperimentId DESC ; CreationTime ASC ; LastUpdateTime DESC"
        );
        assert!(render_order(&["tags.t"]).contains("can only be ordered by the attributes"));
        assert!(render_order(&["start_time"]).contains("Invalid order_by clause 'start_time': Invalid attribute key"));
    }
}
