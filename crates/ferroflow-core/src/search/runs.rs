//! Filter and `order_by` grammar of `runs/search` (../shared/spec/mlflow-rest.md §16.1): typed keys for metrics,
//! params, tags, run attributes and logged datasets, and which comparators each accepts.

use super::filter::{self, check_clause, comparators, ParseOptions, RawClause, RawOrderBy, ValueKind};
use super::{Clause, Comparator, OrderBy};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAttribute {
    RunId,
    RunName,
    Status,
    UserId,
    ArtifactUri,
    StartTime,
    EndTime,
}

impl RunAttribute {
    fn is_numeric(&self) -> bool {
        matches!(self, RunAttribute::StartTime | RunAttribute::EndTime)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetField {
    Name,
    Digest,
    Context,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunKey {
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(RunAttribute),
    Dataset(DatasetField),
}

/// The kinds of identifier a prefix selects.
enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

fn entity(prefix: Option<&str>) -> Result<Entity> {
    match prefix {
        None | Some("attributes" | "attribute" | "attr" | "run") => Ok(Entity::Attribute),
        Some("metrics" | "metric") => Ok(Entity::Metric),
        Some("params" | "param" | "parameter" | "parameters") => Ok(Entity::Param),
        Some("tags" | "tag") => Ok(Entity::Tag),
        Some("datasets" | "dataset") => Ok(Entity::Dataset),
        Some(other) => Err(Error::invalid(format!(
            "Invalid entity type '{other}'. Valid values are ['metrics', 'params', 'tags', 'attributes', 'datasets']"
        ))),
    }
}

fn attribute(key: &str) -> Result<RunAttribute> {
    // Attribute names are matched without regard to case; `run name` is how the UI spells it
    // and `created` is the reference's alias for the start time.
    Ok(match key.to_ascii_lowercase().as_str() {
        "run_id" => RunAttribute::RunId,
        "run_name" | "run name" => RunAttribute::RunName,
        "status" => RunAttribute::Status,
        "user_id" => RunAttribute::UserId,
        "artifact_uri" => RunAttribute::ArtifactUri,
        "start_time" | "created" => RunAttribute::StartTime,
        "end_time" => RunAttribute::EndTime,
        _ => {
            return Err(Error::invalid(format!(
                "Invalid attribute key '{key}' specified. Valid keys are ['run_id', 'run_name', 'status', \
                 'user_id', 'artifact_uri', 'start_time', 'end_time', 'created']"
            )))
        }
    })
}

fn dataset_field(key: &str) -> Result<DatasetField> {
    match key.to_ascii_lowercase().as_str() {
        "name" => Ok(DatasetField::Name),
        "digest" => Ok(DatasetField::Digest),
        "context" => Ok(DatasetField::Context),
        _ => Err(Error::invalid(format!(
            "Invalid dataset key '{key}' specified. Valid keys are ['name', 'digest', 'context']"
        ))),
    }
}

/// Parses a `runs/search` filter. Empty or blank text is no clause.
pub fn parse_filter(filter: &str) -> Result<Vec<Clause<RunKey>>> {
    // The reference reads `params.x = "y"` as a string, so double quotes are tolerated.
    let options = ParseOptions { allow_double_quoted_values: true };
    filter::parse(filter, options)?.into_iter().map(typed_clause).collect()
}

fn typed_clause(raw: RawClause) -> Result<Clause<RunKey>> {
    use Comparator::*;
    let key = match entity(raw.prefix.as_deref())? {
        Entity::Metric => {
            check_clause(&raw, &format!("metric '{}'", raw.key), comparators::NUMERIC, ValueKind::Number)?;
            RunKey::Metric(raw.key)
        }
        Entity::Param => {
            check_clause(&raw, &format!("param '{}'", raw.key), comparators::EQUALITY_LIKE_NULL, ValueKind::Text)?;
            RunKey::Param(raw.key)
        }
        Entity::Tag => {
            check_clause(&raw, &format!("tag '{}'", raw.key), comparators::EQUALITY_LIKE_NULL, ValueKind::Text)?;
            RunKey::Tag(raw.key)
        }
        Entity::Attribute => {
            let attribute = attribute(&raw.key)?;
            let what = format!("attribute '{}'", raw.key);
            if attribute.is_numeric() {
                check_clause(&raw, &what, comparators::NUMERIC, ValueKind::Number)?;
            } else if attribute == RunAttribute::RunId {
                check_clause(&raw, &what, comparators::STRING_WITH_IN, ValueKind::Text)?;
            } else {
                // The reference takes IN only for run_id.
                check_clause(&raw, &what, &[Eq, Ne, Like, ILike], ValueKind::Text)?;
            }
            RunKey::Attribute(attribute)
        }
        Entity::Dataset => {
            let field = dataset_field(&raw.key)?;
            check_clause(&raw, &format!("dataset '{}'", raw.key), comparators::STRING_WITH_IN, ValueKind::Text)?;
            RunKey::Dataset(field)
        }
    };
    Ok(Clause { key, comparator: raw.comparator, value: raw.value })
}

/// Parses `order_by` entries such as `metrics.acc DESC`, `start_time`, ``tags.`a b` ASC``.
pub fn parse_order_by(items: &[String]) -> Result<Vec<OrderBy<RunKey>>> {
    filter::parse_order_by_items(items, order_key)
}

fn order_key(raw: &RawOrderBy) -> Result<RunKey> {
    Ok(match entity(raw.prefix.as_deref())? {
        Entity::Metric => RunKey::Metric(raw.key.clone()),
        Entity::Param => RunKey::Param(raw.key.clone()),
        Entity::Tag => RunKey::Tag(raw.key.clone()),
        Entity::Attribute => RunKey::Attribute(attribute(&raw.key)?),
        Entity::Dataset => return Err(Error::invalid("runs cannot be ordered by dataset fields")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::checks;

    /// Renders parsed clauses as `Key comparator value` joined by ` ; `, or `error: ...`.
    fn render(filter: &str) -> String {
        checks::render_clauses(parse_filter(filter))
    }

    fn check(filter: &str, expected: &str) {
        assert_eq!(render(filter), expected, "filter: {filter}");
    }

    fn check_error(filter: &str, expected_part: &str) {
        checks::assert_invalid(parse_filter(filter), filter, expected_part);
    }

    #[test]
    fn captured_filters() {
        check(
            "metrics.loss < 1 and params.model = 'tiny' and tags.stage = 'dev'",
            "Metric(\"loss\") < Num(1.0) ; Param(\"model\") = Str(\"tiny\") ; Tag(\"stage\") = Str(\"dev\")",
        );
        check("attributes.status = 'FINISHED'", "Attribute(Status) = Str(\"FINISHED\")");
        check("attributes.run_name LIKE 'run-%'", "Attribute(RunName) LIKE Str(\"run-%\")");
        check("", "");
    }

    #[test]
    fn prefixes_and_aliases() {
        check("metric.a >= 0.5", "Metric(\"a\") >= Num(0.5)");
        check(
            "param.a = 'x' AND parameter.b = 'y' AND parameters.c = 'z'",
            "Param(\"a\") = Str(\"x\") ; Param(\"b\") = Str(\"y\") ; Param(\"c\") = Str(\"z\")",
        );
        check("tag.`mlflow.runName` ILIKE '%x%'", "Tag(\"mlflow.runName\") ILIKE Str(\"%x%\")");
        check("tags.mlflow.user = 'me'", "Tag(\"mlflow.user\") = Str(\"me\")");
        check(
            "attr.user_id = 'u' AND run.artifact_uri LIKE 's3://%'",
            "Attribute(UserId) = Str(\"u\") ; Attribute(ArtifactUri) LIKE Str(\"s3://%\")",
        );
        check("status != 'FAILED'", "Attribute(Status) != Str(\"FAILED\")");
        check("attributes.`run name` = 'r'", "Attribute(RunName) = Str(\"r\")");
        check("created > 1700000000000", "Attribute(StartTime) > Num(1700000000000.0)");
        check("end_time <= 5 AND start_time != 3", "Attribute(EndTime) <= Num(5.0) ; Attribute(StartTime) != Num(3.0)");
        check("run_id IN ('a', 'b')", "Attribute(RunId) IN List([\"a\", \"b\"])");
        check("attributes.run_id NOT IN ('a')", "Attribute(RunId) NOT IN List([\"a\"])");
        check(
            "datasets.name IN ('d1') AND dataset.digest = 'abc' AND datasets.context LIKE 'tr%'",
            "Dataset(Name) IN List([\"d1\"]) ; Dataset(Digest) = Str(\"abc\") ; Dataset(Context) LIKE Str(\"tr%\")",
        );
        check(
            "params.model IS NULL AND tags.t IS NOT NULL",
            "Param(\"model\") IS NULL None ; Tag(\"t\") IS NOT NULL None",
        );
        check("params.model = \"tiny\"", "Param(\"model\") = Str(\"tiny\")");
    }

    #[test]
    fn rejected_filters() {
        check_error("metrics.loss < 1 OR params.a = 'x'", "Invalid clause(s) in filter string: 'OR'");
        check_error("foo.bar = 'x'", "Invalid entity type 'foo'");
        check_error("loss < 1", "Invalid attribute key 'loss'");
        check_error("datasets.size = 'x'", "Invalid dataset key 'size'");
        check_error("metrics.loss LIKE '1%'", "Invalid comparator 'LIKE' for metric 'loss'");
        check_error("metrics.loss = '1'", "Expected a numeric value for metric 'loss'");
        check_error("metrics.loss IS NULL", "Invalid comparator 'IS NULL' for metric 'loss'");
        check_error("params.lr = 0.1", "Expected a quoted string value for param 'lr'");
        check_error("params.lr > '0.1'", "Invalid comparator '>' for param 'lr'");
        check_error("tags.t RLIKE 'x'", "Invalid comparator 'RLIKE' for tag 't'");
        check_error("status IN ('FINISHED')", "Invalid comparator 'IN' for attribute 'status'");
        check_error("start_time LIKE '17%'", "Invalid comparator 'LIKE' for attribute 'start_time'");
        check_error("start_time > '17'", "Expected a numeric value for attribute 'start_time'");
        check_error("run_id IN ()", "the list is empty");
        check_error("tags.t = 'unterminated", "unterminated quoted string");
    }

    #[test]
    fn order_by() {
        let render_order = |items: &[&str]| -> String {
            let items: Vec<String> = items.iter().map(|item| item.to_string()).collect();
            match parse_order_by(&items) {
                Ok(entries) => entries
                    .iter()
                    .map(|entry| format!("{:?} {}", entry.key, if entry.ascending { "ASC" } else { "DESC" }))
                    .collect::<Vec<_>>()
                    .join(" ; "),
                Err(err) => format!("error: {}", err.message),
            }
        };
        assert_eq!(render_order(&["metrics.acc DESC"]), "Metric(\"acc\") DESC");
        assert_eq!(
            render_order(&["start_time", "attributes.end_time desc", "params.`a b` ASC", "tags.mlflow.runName"]),
            "Attribute(StartTime) ASC ; Attribute(EndTime) DESC ; Param(\"a b\") ASC ; Tag(\"mlflow.runName\") ASC"
        );
        assert_eq!(
            render_order(&["run_name", "status", "run_id", "user_id", "artifact_uri"]).matches("ASC").count(),
            5
        );
        assert_eq!(render_order(&[]), "");
        assert!(render_order(&["foo"]).contains("Invalid order_by clause 'foo': Invalid attribute key 'foo'"));
        assert!(render_order(&["datasets.name"]).contains("cannot be ordered by dataset"));
        assert!(render_order(&["metrics.acc sideways"]).contains("expected ASC or DESC"));
    }
}
