//! Filter and `order_by` grammar of `logged-models/search` (../shared/spec/mlflow-rest.md §16.6): model attributes,
//! `metrics.<key>`, `params.<key>` and `tags.<key>`.
//!
//! Unlike the other searches, `order_by` arrives as objects (`{field_name, ascending,
//! dataset_name, dataset_digest}`), so only the field name is parsed here
//! ([`parse_order_by_field`]); the caller keeps the direction and the dataset restriction.

use super::filter::{self, check_clause, comparators, ParseOptions, RawClause, ValueKind};
use super::{Clause, Comparator, Literal};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedModelAttribute {
    Name,
    ModelId,
    ModelType,
    Status,
    SourceRunId,
    CreationTimestamp,
    LastUpdatedTimestamp,
}

impl LoggedModelAttribute {
    fn is_numeric(&self) -> bool {
        matches!(self, LoggedModelAttribute::CreationTimestamp | LoggedModelAttribute::LastUpdatedTimestamp)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedModelKey {
    Attribute(LoggedModelAttribute),
    Metric(String),
    Param(String),
    Tag(String),
}

/// The statuses a filter may name. They are the short names: the reference rejects the enum
/// spelling `LOGGED_MODEL_READY`, so we do too rather than silently matching nothing.
const STATUSES: &[&str] = &["READY", "PENDING", "UPLOAD_FAILED"];

fn typed_key(prefix: Option<&str>, key: &str) -> Result<LoggedModelKey> {
    match prefix {
        Some("metrics" | "metric") => Ok(LoggedModelKey::Metric(key.to_string())),
        Some("params" | "param") => Ok(LoggedModelKey::Param(key.to_string())),
        Some("tags" | "tag") => Ok(LoggedModelKey::Tag(key.to_string())),
        None | Some("attributes" | "attribute") => Ok(LoggedModelKey::Attribute(attribute(key)?)),
        Some(other) => Err(Error::invalid(format!(
            "Invalid entity type '{other}'. Valid values are ['attributes', 'metrics', 'params', 'tags']"
        ))),
    }
}

fn attribute(key: &str) -> Result<LoggedModelAttribute> {
    Ok(match key.to_ascii_lowercase().as_str() {
        "name" => LoggedModelAttribute::Name,
        "model_id" => LoggedModelAttribute::ModelId,
        "model_type" => LoggedModelAttribute::ModelType,
        "status" => LoggedModelAttribute::Status,
        "source_run_id" => LoggedModelAttribute::SourceRunId,
        "creation_timestamp" | "creation_time" => LoggedModelAttribute::CreationTimestamp,
        "last_updated_timestamp" | "last_updated_time" => LoggedModelAttribute::LastUpdatedTimestamp,
        _ => {
            return Err(Error::invalid(format!(
                "Invalid attribute key '{key}' specified. Valid keys are ['name', 'model_id', 'model_type', \
                 'status', 'source_run_id', 'creation_timestamp', 'creation_time', 'last_updated_timestamp', \
                 'last_updated_time']"
            )))
        }
    })
}

/// Parses a `logged-models/search` filter. Empty or blank text is no clause.
pub fn parse_filter(filter: &str) -> Result<Vec<Clause<LoggedModelKey>>> {
    let options = ParseOptions { allow_double_quoted_values: true };
    filter::parse(filter, options)?.into_iter().map(typed_clause).collect()
}

fn typed_clause(raw: RawClause) -> Result<Clause<LoggedModelKey>> {
    let key = typed_key(raw.prefix.as_deref(), &raw.key)?;
    match &key {
        LoggedModelKey::Metric(metric) => {
            check_clause(&raw, &format!("metric '{metric}'"), comparators::NUMERIC, ValueKind::Number)?
        }
        LoggedModelKey::Param(param) => {
            check_clause(&raw, &format!("param '{param}'"), comparators::EQUALITY_AND_LIKE, ValueKind::Text)?
        }
        LoggedModelKey::Tag(tag) => {
            check_clause(&raw, &format!("tag '{tag}'"), comparators::EQUALITY_AND_LIKE, ValueKind::Text)?
        }
        LoggedModelKey::Attribute(attribute) => {
            let what = format!("attribute '{}'", raw.key);
            if attribute.is_numeric() {
                check_clause(&raw, &what, comparators::NUMERIC, ValueKind::Number)?;
            } else {
                check_clause(&raw, &what, comparators::STRING_WITH_IN, ValueKind::Text)?;
            }
            if *attribute == LoggedModelAttribute::Status {
                check_statuses(&raw)?;
            }
        }
    }
    Ok(Clause { key, comparator: raw.comparator, value: raw.value })
}

/// Exact comparisons of `status` must name a known short status; patterns are left alone.
fn check_statuses(raw: &RawClause) -> Result<()> {
    if matches!(raw.comparator, Comparator::Like | Comparator::ILike) {
        return Ok(());
    }
    let values: Vec<&str> = match &raw.value {
        Literal::Str(value) => vec![value.as_str()],
        Literal::List(values) => values.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    match values.into_iter().find(|value| !STATUSES.contains(value)) {
        Some(bad) => Err(Error::invalid(format!(
            "Invalid logged model status '{bad}'. Valid values are ['READY', 'PENDING', 'UPLOAD_FAILED']"
        ))),
        None => Ok(()),
    }
}

/// Parses the `field_name` of one `order_by` object: `metrics.<key>` or an attribute such as
/// `creation_timestamp`, `name`, `last_updated_timestamp`.
pub fn parse_order_by_field(field_name: &str) -> Result<LoggedModelKey> {
    let raw = filter::parse_order_by_item(field_name)?;
    if raw.direction_written {
        // The direction belongs in `ascending`; a field name carrying one is a client mistake.
        return Err(Error::invalid(format!(
            "Invalid order_by field_name '{field_name}': give the direction in 'ascending'"
        )));
    }
    match typed_key(raw.prefix.as_deref(), &raw.key) {
        Ok(key @ (LoggedModelKey::Attribute(_) | LoggedModelKey::Metric(_))) => Ok(key),
        Ok(_) => Err(Error::invalid(format!(
            "Invalid order_by field_name '{field_name}': logged models can be ordered by attributes and \
             metrics.<key> only"
        ))),
        Err(err) => Err(Error::invalid(format!("Invalid order_by field_name '{field_name}': {}", err.message))),
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

    fn check_order(field_name: &str, expected: &str) {
        let rendered = match parse_order_by_field(field_name) {
            Ok(key) => format!("{key:?}"),
            Err(err) => format!("error: {}", err.message),
        };
        assert!(rendered.starts_with(expected), "field_name: {field_name}\ngot: {rendered}");
    }

    #[test]
    fn accepted_filters() {
        check("", "");
        check("name='active-agent'", "Attribute(Name) = Str(\"active-agent\")");
        check(
            "model_type = 'agent' AND source_run_id IN ('r1')",
            "Attribute(ModelType) = Str(\"agent\") ; Attribute(SourceRunId) IN List([\"r1\"])",
        );
        check("model_id != 'm-1'", "Attribute(ModelId) != Str(\"m-1\")");
        check("status = 'READY'", "Attribute(Status) = Str(\"READY\")");
        check("status IN ('PENDING', 'UPLOAD_FAILED')", "Attribute(Status) IN List([\"PENDING\", \"UPLOAD_FAILED\"])");
        check("status LIKE 'READ%'", "Attribute(Status) LIKE Str(\"READ%\")");
        check(
            "creation_time > 1 AND last_updated_timestamp <= 2",
            "Attribute(CreationTimestamp) > Num(1.0) ; Attribute(LastUpdatedTimestamp) <= Num(2.0)",
        );
        check(
            "creation_timestamp >= 1 AND last_updated_time < 2",
            "Attribute(CreationTimestamp) >= Num(1.0) ; Attribute(LastUpdatedTimestamp) < Num(2.0)",
        );
        check("metrics.accuracy > 0.9", "Metric(\"accuracy\") > Num(0.9)");
        check(
            "params.lr = '0.01' AND tags.`mlflow.source` LIKE '%nb%'",
            "Param(\"lr\") = Str(\"0.01\") ; Tag(\"mlflow.source\") LIKE Str(\"%nb%\")",
        );
    }

    #[test]
    fn rejected_filters() {
        check_error("status = 'LOGGED_MODEL_READY'", "Invalid logged model status 'LOGGED_MODEL_READY'");
        check_error("status NOT IN ('READY', 'DONE')", "Invalid logged model status 'DONE'");
        check_error("name = 'a' OR name = 'b'", "Invalid clause(s) in filter string: 'OR'");
        check_error("datasets.name = 'd'", "Invalid entity type 'datasets'");
        check_error("flavor = 'x'", "Invalid attribute key 'flavor'");
        check_error("metrics.acc = 'high'", "Expected a numeric value for metric 'acc'");
        check_error("params.lr IS NULL", "Invalid comparator 'IS NULL' for param 'lr'");
        check_error("tags.t IN ('x')", "Invalid comparator 'IN' for tag 't'");
        check_error("creation_time = 'yesterday'", "Expected a numeric value for attribute 'creation_time'");
        check_error("name IN ()", "the list is empty");
        check_error("name = 'active-agent", "unterminated quoted string");
    }

    #[test]
    fn order_by_fields() {
        check_order("metrics.accuracy", "Metric(\"accuracy\")");
        check_order("metrics.`val acc`", "Metric(\"val acc\")");
        check_order("creation_timestamp", "Attribute(CreationTimestamp)");
        check_order("creation_time", "Attribute(CreationTimestamp)");
        check_order("last_updated_timestamp", "Attribute(LastUpdatedTimestamp)");
        check_order("name", "Attribute(Name)");
        check_order(
            "params.lr",
            "error: Invalid order_by field_name 'params.lr': logged models can be ordered by attributes",
        );
        check_order("flavor", "error: Invalid order_by field_name 'flavor': Invalid attribute key 'flavor'");
        check_order("name DESC", "error: Invalid order_by field_name 'name DESC': give the direction in 'ascending'");
        check_order("name ASC", "error: Invalid order_by field_name 'name ASC'");
        check_order("metrics.`a` ASC", "error: Invalid order_by field_name 'metrics.`a` ASC'");
        check_order("", "error: Invalid order_by clause ''");
    }
}
