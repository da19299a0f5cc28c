//! Filter and `order_by` grammar of the model registry: `registered-models/search`
//! (../shared/spec/mlflow-rest.md §16.4, which also serves prompts) and `model-versions/search`
//! (§16.5).
//!
//! Prompt partitioning (prompts are registered models tagged `mlflow.prompt.is_prompt`) is
//! the store's job; here the tag is an ordinary [`RegisteredModelKey::Tag`] clause, often
//! written back-quoted: ``tags.`mlflow.prompt.is_prompt` = 'true'``.

use super::filter::{self, check_clause, comparators, ParseOptions, RawClause, RawOrderBy, ValueKind};
use super::{Clause, Comparator, Literal, OrderBy};
use crate::entities::PROMPT_TAG_KEY;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisteredModelKey {
    Name,
    Tag(String),
}

/// What registered models can be ordered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisteredModelOrderKey {
    Name,
    CreationTimestamp,
    LastUpdatedTimestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelVersionKey {
    Name,
    RunId,
    VersionNumber,
    SourcePath,
    Tag(String),
}

/// What model versions can be ordered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelVersionOrderKey {
    Name,
    VersionNumber,
    CreationTimestamp,
    LastUpdatedTimestamp,
}

/// Both searches share the tag prefixes and reject every other prefix the same way.
fn is_tag_prefix(prefix: Option<&str>) -> Result<bool> {
    match prefix {
        None => Ok(false),
        Some("tags" | "tag") => Ok(true),
        Some(other) => Err(Error::invalid(format!("Invalid entity type '{other}'. Valid values are ['tags']"))),
    }
}

/// Tags take `= != LIKE ILIKE`; the reference has a dedicated message for IS [NOT] NULL.
fn check_tag(raw: &RawClause, search: &str) -> Result<()> {
    if matches!(raw.comparator, Comparator::IsNull | Comparator::IsNotNull) {
        return Err(Error::invalid(format!("IS NULL / IS NOT NULL is not supported for {search} search.")));
    }
    check_clause(raw, &format!("tag '{}'", raw.key), comparators::EQUALITY_AND_LIKE, ValueKind::Text)
}

const OPTIONS: ParseOptions = ParseOptions { allow_double_quoted_values: true };

/// Parses a `registered-models/search` filter. Empty or blank text is no clause.
pub fn parse_registered_model_filter(filter: &str) -> Result<Vec<Clause<RegisteredModelKey>>> {
    filter::parse(filter, OPTIONS)?
        .into_iter()
        .map(|raw| {
            let key = if is_tag_prefix(raw.prefix.as_deref())? {
                check_tag(&raw, "registered model")?;
                RegisteredModelKey::Tag(raw.key.clone())
            } else if raw.key.eq_ignore_ascii_case("name") {
                check_clause(&raw, "attribute 'name'", comparators::STRING_WITH_IN, ValueKind::Text)?;
                RegisteredModelKey::Name
            } else {
                return Err(Error::invalid(format!(
                    "Invalid attribute key '{}' specified. Valid keys are ['name']",
                    raw.key
                )));
            };
            Ok(Clause { key, comparator: raw.comparator, value: raw.value })
        })
        .collect()
}

/// Parses `registered-models/search` `order_by` entries such as `name ASC`, `timestamp DESC`.
pub fn parse_registered_model_order_by(items: &[String]) -> Result<Vec<OrderBy<RegisteredModelOrderKey>>> {
    filter::parse_order_by_items(items, |raw: &RawOrderBy| {
        if raw.prefix.is_some() {
            return Err(Error::invalid("registered models can only be ordered by attributes"));
        }
        match raw.key.to_ascii_lowercase().as_str() {
            "name" => Ok(RegisteredModelOrderKey::Name),
            "creation_timestamp" => Ok(RegisteredModelOrderKey::CreationTimestamp),
            // The reference reads `timestamp` as the last update, the order the UI shows.
            "last_updated_timestamp" | "timestamp" => Ok(RegisteredModelOrderKey::LastUpdatedTimestamp),
            _ => Err(Error::invalid(format!(
                "Invalid order_by key '{}'. Valid keys are ['name', 'creation_timestamp', 'timestamp', \
                 'last_updated_timestamp']",
                raw.key
            ))),
        }
    })
}

/// Parses a `model-versions/search` filter. Empty or blank text is no clause.
pub fn parse_model_version_filter(filter: &str) -> Result<Vec<Clause<ModelVersionKey>>> {
    filter::parse(filter, OPTIONS)?
        .into_iter()
        .map(|raw| {
            let key = if is_tag_prefix(raw.prefix.as_deref())? {
                check_tag(&raw, "model version")?;
                ModelVersionKey::Tag(raw.key.clone())
            } else {
                let key = match raw.key.to_ascii_lowercase().as_str() {
                    "name" => ModelVersionKey::Name,
                    "run_id" => ModelVersionKey::RunId,
                    "version_number" => ModelVersionKey::VersionNumber,
                    "source_path" => ModelVersionKey::SourcePath,
                    _ => {
                        return Err(Error::invalid(format!(
                            "Invalid attribute key '{}' specified. Valid keys are ['name', 'run_id', \
                             'version_number', 'source_path']",
                            raw.key
                        )))
                    }
                };
                let what = format!("attribute '{}'", raw.key);
                if key == ModelVersionKey::VersionNumber {
                    check_clause(&raw, &what, comparators::NUMERIC, ValueKind::TextOrNumber)?;
                    let value = version_number(&raw.value, &raw.key)?;
                    return Ok(Clause { key, comparator: raw.comparator, value });
                } else if key == ModelVersionKey::SourcePath {
                    // The reference takes IN lists for `name` and `run_id` only.
                    check_clause(&raw, &what, comparators::EQUALITY_AND_LIKE, ValueKind::Text)?;
                } else {
                    check_clause(&raw, &what, comparators::STRING_WITH_IN, ValueKind::Text)?;
                }
                key
            };
            Ok(Clause { key, comparator: raw.comparator, value: raw.value })
        })
        .collect()
}

/// Version numbers are integers; like the reference, a quoted integer (`version_number = '2'`)
/// is read as one, and a fraction is an error rather than a comparison that can never match.
fn version_number(value: &Literal, key: &str) -> Result<Literal> {
    let number = match value {
        Literal::Num(number) => Some(*number),
        Literal::Str(text) => text.trim().parse::<i64>().ok().map(|n| n as f64),
        _ => None,
    };
    match number {
        Some(number) if number.fract() == 0.0 => Ok(Literal::Num(number)),
        _ => Err(Error::invalid(format!(
            "Invalid value for numeric attribute '{key}': {}",
            value.as_text().unwrap_or_default()
        ))),
    }
}

/// Parses `model-versions/search` `order_by` entries such as `version_number DESC`.
pub fn parse_model_version_order_by(items: &[String]) -> Result<Vec<OrderBy<ModelVersionOrderKey>>> {
    filter::parse_order_by_items(items, |raw: &RawOrderBy| {
        if raw.prefix.is_some() {
            return Err(Error::invalid("model versions can only be ordered by attributes"));
        }
        match raw.key.to_ascii_lowercase().as_str() {
            "name" => Ok(ModelVersionOrderKey::Name),
            "version_number" => Ok(ModelVersionOrderKey::VersionNumber),
            "creation_timestamp" | "timestamp" => Ok(ModelVersionOrderKey::CreationTimestamp),
            "last_updated_timestamp" => Ok(ModelVersionOrderKey::LastUpdatedTimestamp),
            _ => Err(Error::invalid(format!(
                "Invalid order_by key '{}'. Valid keys are ['name', 'version_number', 'creation_timestamp', \
                 'last_updated_timestamp']",
                raw.key
            ))),
        }
    })
}

/// Which side of the prompt/model divide a registry search sees (../shared/spec/mlflow-rest.md §16.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptScope {
    /// Only registered models tagged as prompts (and their versions).
    Prompts,
    /// Only models without the prompt tag: the default, whatever else the filter says.
    Models,
}

/// Keys that can name a tag, so both registry searches share [`split_prompt_scope`].
pub trait RegistryTagKey {
    fn tag_key(&self) -> Option<&str>;
}

impl RegistryTagKey for RegisteredModelKey {
    fn tag_key(&self) -> Option<&str> {
        match self {
            RegisteredModelKey::Tag(key) => Some(key),
            RegisteredModelKey::Name => None,
        }
    }
}

impl RegistryTagKey for ModelVersionKey {
    fn tag_key(&self) -> Option<&str> {
        match self {
            ModelVersionKey::Tag(key) => Some(key),
            _ => None,
        }
    }
}

/// Decides the prompt scope of a filter, as the reference does: the first clause on the
/// prompt tag asks for prompts when it is `= 'true'` or `!= 'false'` (any case), and then every
/// clause stays. Otherwise the search sees only models and clauses on the prompt tag are
/// dropped, because models do not carry the tag at all: `tag.`mlflow.prompt.is_prompt` !=
/// 'true'` must match them, which a tag comparison never could.
pub fn split_prompt_scope<K: RegistryTagKey>(clauses: Vec<Clause<K>>) -> (PromptScope, Vec<Clause<K>>) {
    let asks_for_prompts =
        clauses.iter().find(|clause| clause.key.tag_key() == Some(PROMPT_TAG_KEY)).is_some_and(|clause| {
            let value = clause.value.as_text().unwrap_or_default().to_ascii_lowercase();
            (clause.comparator == Comparator::Eq && value == "true")
                || (clause.comparator == Comparator::Ne && value == "false")
        });
    if asks_for_prompts {
        return (PromptScope::Prompts, clauses);
    }
    let rest = clauses.into_iter().filter(|clause| clause.key.tag_key() != Some(PROMPT_TAG_KEY)).collect();
    (PromptScope::Models, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::checks;
    use std::fmt::Debug;

    fn render<K: Debug>(parsed: Result<Vec<Clause<K>>>) -> String {
        match parsed {
            Ok(clauses) => clauses
                .iter()
                .map(|clause| format!("{:?} {} {:?}", clause.key, clause.comparator.as_str(), clause.value))
                .collect::<Vec<_>>()
                .join(" ; "),
            Err(err) => format!("error: {}", err.message),
        }
    }

    fn render_order<K: Debug>(parse: fn(&[String]) -> Result<Vec<OrderBy<K>>>, items: &[&str]) -> String {
        checks::render_orders(parse(&checks::strings(items)))
    }

    fn check_model(filter: &str, expected: &str) {
        assert_eq!(render(parse_registered_model_filter(filter)), expected, "filter: {filter}");
    }

    fn check_version(filter: &str, expected: &str) {
        assert_eq!(render(parse_model_version_filter(filter)), expected, "filter: {filter}");
    }

    #[test]
    fn registered_model_filters() {
        check_model("", "");
        check_model(
            "tags.`mlflow.prompt.is_prompt` != 'true' AND name LIKE 'a%'",
            "Tag(\"mlflow.prompt.is_prompt\") != Str(\"true\") ; Name LIKE Str(\"a%\")",
        );
        check_model("tags.`mlflow.prompt.is_prompt` = 'true'", "Tag(\"mlflow.prompt.is_prompt\") = Str(\"true\")");
        check_model("tag.`mlflow.prompt.is_prompt` != 'true'", "Tag(\"mlflow.prompt.is_prompt\") != Str(\"true\")");
        check_model("name = 'qa-prompt'", "Name = Str(\"qa-prompt\")");
        check_model(
            "name IN ('a', 'b') AND name NOT IN ('c')",
            "Name IN List([\"a\", \"b\"]) ; Name NOT IN List([\"c\"])",
        );
        check_model(
            "name ILIKE '%QA%' AND tags.team LIKE 'ml%'",
            "Name ILIKE Str(\"%QA%\") ; Tag(\"team\") LIKE Str(\"ml%\")",
        );
        check_model("tags.x IS NULL", "error: IS NULL / IS NOT NULL is not supported for registered model search.");
        check_model("tags.x IS NOT NULL", "error: IS NULL / IS NOT NULL is not supported for registered model search.");
        check_model(
            "name = 'a' OR name = 'b'",
            "error: Invalid clause(s) in filter string: 'OR' (OR is not supported; combine clauses with AND)",
        );
        check_model("metrics.a > 1", "error: Invalid entity type 'metrics'. Valid values are ['tags']");
        check_model("version = '1'", "error: Invalid attribute key 'version' specified. Valid keys are ['name']");
        check_model(
            "name > 'a'",
            "error: Invalid comparator '>' for attribute 'name'; expected one of: =, !=, LIKE, ILIKE, IN, NOT IN",
        );
        check_model(
            "tags.t IN ('a')",
            "error: Invalid comparator 'IN' for tag 't'; expected one of: =, !=, LIKE, ILIKE",
        );
        check_model("name = 1", "error: Expected a quoted string value for attribute 'name', got 1");
    }

    #[test]
    fn model_version_filters() {
        check_version(
            "name = 'qa-prompt' AND tag.`mlflow.prompt.is_prompt` = 'true'",
            "Name = Str(\"qa-prompt\") ; Tag(\"mlflow.prompt.is_prompt\") = Str(\"true\")",
        );
        check_version("run_id IN ('r1','r2')", "RunId IN List([\"r1\", \"r2\"])");
        check_version("version_number >= 2", "VersionNumber >= Num(2.0)");
        check_version("source_path LIKE 'runs:/%'", "SourcePath LIKE Str(\"runs:/%\")");
        check_version(
            "source_path IN ('a')",
            "error: Invalid comparator 'IN' for attribute 'source_path'; expected one of: =, !=, LIKE, ILIKE",
        );
        check_version("tags.t IS NULL", "error: IS NULL / IS NOT NULL is not supported for model version search.");
        check_version("version_number = '2'", "VersionNumber = Num(2.0)");
        check_version("version_number = 2.5", "error: Invalid value for numeric attribute 'version_number': 2.5");
        check_version("version_number = 'two'", "error: Invalid value for numeric attribute 'version_number': two");
        check_version(
            "version_number LIKE '2'",
            "error: Invalid comparator 'LIKE' for attribute 'version_number'; expected one of: =, !=, <, <=, >, >=",
        );
        check_version("stage = 'Production'", "error: Invalid attribute key 'stage' specified. Valid keys are ['name', 'run_id', 'version_number', 'source_path']");
        check_version("run_id IN ()", "error: Invalid IN list after 'run_id': the list is empty");
        check_version("name = 'x", "error: Invalid filter string: unterminated quoted string 'x");
    }

    #[test]
    fn order_by() {
        assert_eq!(
            render_order(
                parse_registered_model_order_by,
                &["name", "timestamp DESC", "creation_timestamp", "last_updated_timestamp desc"]
            ),
            "Name ASC ; LastUpdatedTimestamp DESC ; CreationTimestamp ASC ; LastUpdatedTimestamp DESC"
        );
        assert!(render_order(parse_registered_model_order_by, &["version_number"])
            .contains("Invalid order_by key 'version_number'"));
        assert!(render_order(parse_registered_model_order_by, &["tags.t"]).contains("only be ordered by attributes"));
        assert_eq!(
            render_order(
                parse_model_version_order_by,
                &["version_number DESC", "name", "creation_timestamp", "last_updated_timestamp"]
            ),
            "VersionNumber DESC ; Name ASC ; CreationTimestamp ASC ; LastUpdatedTimestamp ASC"
        );
        assert!(render_order(parse_model_version_order_by, &["run_id"]).contains("Invalid order_by key 'run_id'"));
    }

    fn scope_of(filter: &str) -> (PromptScope, String) {
        let (scope, clauses) = split_prompt_scope(parse_registered_model_filter(filter).unwrap());
        (scope, render(Ok(clauses)))
    }

    #[test]
    fn prompt_scopes() {
        assert_eq!(scope_of(""), (PromptScope::Models, String::new()));
        assert_eq!(
            scope_of("tags.`mlflow.prompt.is_prompt` = 'true' AND name LIKE 'qa%'"),
            (
                PromptScope::Prompts,
                "Tag(\"mlflow.prompt.is_prompt\") = Str(\"true\") ; Name LIKE Str(\"qa%\")".to_string()
            )
        );
        assert_eq!(scope_of("tag.`mlflow.prompt.is_prompt` = 'TRUE'").0, PromptScope::Prompts);
        assert_eq!(scope_of("tag.`mlflow.prompt.is_prompt` != 'false'").0, PromptScope::Prompts);
        // The client's "models only" filter: the prompt clause goes, the rest stays.
        assert_eq!(
            scope_of("name LIKE 'my_%' AND tag.`mlflow.prompt.is_prompt` != 'true'"),
            (PromptScope::Models, "Name LIKE Str(\"my_%\")".to_string())
        );
        assert_eq!(scope_of("tags.`mlflow.prompt.is_prompt` = 'false'"), (PromptScope::Models, String::new()));
        assert_eq!(scope_of("name = 'qa-prompt'").0, PromptScope::Models);
        let (scope, clauses) = split_prompt_scope(
            parse_model_version_filter("name = 'qa-prompt' AND tag.`mlflow.prompt.is_prompt` = 'true'").unwrap(),
        );
        assert_eq!(scope, PromptScope::Prompts);
        assert_eq!(clauses.len(), 2);
    }
}
