//! Filter and `order_by` grammar of `traces/search` (../shared/spec/mlflow-rest.md §16.3): trace attributes, tags,
//! request metadata, span fields, assessments (feedback and expectations) and issues.
//!
//! Several attributes are views onto other storage (`name` is the tag `mlflow.traceName`,
//! `run_id` the metadata `mlflow.sourceRun`, `prompt` the tag `mlflow.linkedPrompts`, `text`
//! a full-text match over span content); the typed key says which attribute was asked for and
//! the store decides where to look.

use super::filter::{self, check_clause, comparators, ParseOptions, RawClause, RawOrderBy, ValueKind};
use super::{Clause, Comparator, Literal, OrderBy};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceAttribute {
    RequestId,
    Status,
    ClientRequestId,
    TimestampMs,
    ExecutionTimeMs,
    EndTimeMs,
    Name,
    RunId,
    /// A linked prompt, written `name/version` (e.g. `prompt = 'qa-prompt/2'`).
    Prompt,
    /// Full text over span content; only `trace.text LIKE/ILIKE '...'`.
    Text,
    ExperimentId,
}

impl TraceAttribute {
    fn is_numeric(&self) -> bool {
        matches!(self, TraceAttribute::TimestampMs | TraceAttribute::ExecutionTimeMs | TraceAttribute::EndTimeMs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanField {
    Name,
    Type,
    Status,
    /// `span.attributes.<attr>`: compared with the attribute's stored JSON text.
    Attribute(String),
    Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceKey {
    Attribute(TraceAttribute),
    Tag(String),
    Metadata(String),
    Span(SpanField),
    /// A feedback assessment, by name.
    Feedback(String),
    /// An expectation assessment, by name.
    Expectation(String),
    /// `issue.id`.
    IssueId,
}

/// The kinds of identifier a prefix selects.
enum Entity {
    /// `trace.` is remembered apart from the other attribute prefixes because only it may
    /// precede `text`.
    Attribute {
        trace_prefix: bool,
    },
    Tag,
    Metadata,
    Span,
    Feedback,
    Expectation,
    Issue,
}

fn entity(prefix: Option<&str>) -> Result<Entity> {
    Ok(match prefix {
        None | Some("attributes" | "attribute" | "attr") => Entity::Attribute { trace_prefix: false },
        Some("trace") => Entity::Attribute { trace_prefix: true },
        Some("tags" | "tag") => Entity::Tag,
        Some("metadata" | "request_metadata") => Entity::Metadata,
        Some("span") => Entity::Span,
        Some("feedback") => Entity::Feedback,
        Some("expectation") => Entity::Expectation,
        Some("issue") => Entity::Issue,
        Some(other) => {
            return Err(Error::invalid(format!(
                "Invalid entity type '{other}'. Valid values are ['attributes', 'trace', 'tags', 'metadata', \
                 'request_metadata', 'span', 'feedback', 'expectation', 'issue']"
            )))
        }
    })
}

fn attribute(key: &str) -> Result<TraceAttribute> {
    Ok(match key.to_ascii_lowercase().as_str() {
        "request_id" | "trace_id" => TraceAttribute::RequestId,
        "status" => TraceAttribute::Status,
        "client_request_id" => TraceAttribute::ClientRequestId,
        "timestamp_ms" | "timestamp" => TraceAttribute::TimestampMs,
        "execution_time_ms" | "execution_time" => TraceAttribute::ExecutionTimeMs,
        "end_time_ms" | "end_time" => TraceAttribute::EndTimeMs,
        "name" => TraceAttribute::Name,
        "run_id" => TraceAttribute::RunId,
        "prompt" => TraceAttribute::Prompt,
        "text" => TraceAttribute::Text,
        "experiment_id" => TraceAttribute::ExperimentId,
        _ => {
            return Err(Error::invalid(format!(
                "Invalid attribute key '{key}' specified. Valid keys are ['request_id', 'status', \
                 'client_request_id', 'timestamp_ms', 'execution_time_ms', 'end_time_ms', 'name', 'run_id', \
                 'prompt', 'text', 'experiment_id']"
            )))
        }
    })
}

fn span_field(key: &str) -> Result<SpanField> {
    let lowered = key.to_ascii_lowercase();
    Ok(match lowered.as_str() {
        "name" => SpanField::Name,
        "type" => SpanField::Type,
        "status" => SpanField::Status,
        "content" => SpanField::Content,
        _ if lowered.starts_with("attributes.") => SpanField::Attribute(key["attributes.".len()..].to_string()),
        _ => {
            return Err(Error::invalid(format!(
                "Invalid span key '{key}' specified. Valid keys are ['name', 'type', 'status', 'content', \
                 'attributes.<attribute>']"
            )))
        }
    })
}

/// Parses a `traces/search` filter. Empty or blank text is no clause.
pub fn parse_filter(filter: &str) -> Result<Vec<Clause<TraceKey>>> {
    let options = ParseOptions { allow_double_quoted_values: true };
    filter::parse(filter, options)?.into_iter().map(typed_clause).collect()
}

fn typed_clause(raw: RawClause) -> Result<Clause<TraceKey>> {
    use Comparator::*;
    const STRING_NO_IN: &[Comparator] = &[Eq, Ne, Like, ILike, RLike];
    const STRING_WITH_IN: &[Comparator] = &[Eq, Ne, In, NotIn, Like, ILike, RLike];
    const KEY_VALUE: &[Comparator] = &[Eq, Ne, Like, ILike, RLike, IsNull, IsNotNull];
    const ASSESSMENT: &[Comparator] = &[Eq, Ne, Lt, Le, Gt, Ge, Like, ILike, RLike, IsNull, IsNotNull];

    let key = match entity(raw.prefix.as_deref())? {
        Entity::Attribute { trace_prefix } => {
            let attribute = attribute(&raw.key)?;
            let what = format!("attribute '{}'", raw.key);
            match attribute {
                TraceAttribute::Text if !trace_prefix => {
                    return Err(Error::invalid(
                        "The 'text' attribute can only be searched with the 'trace.' prefix, e.g. \
                         trace.text LIKE '%word%'",
                    ))
                }
                TraceAttribute::Text => check_clause(&raw, &what, &[Like, ILike], ValueKind::Text)?,
                ref numeric if numeric.is_numeric() => {
                    check_clause(&raw, &what, comparators::NUMERIC, ValueKind::Number)?
                }
                TraceAttribute::Prompt => check_clause(&raw, &what, STRING_NO_IN, ValueKind::Text)?,
                _ => check_clause(&raw, &what, STRING_WITH_IN, ValueKind::Text)?,
            }
            TraceKey::Attribute(attribute)
        }
        Entity::Tag => {
            check_clause(&raw, &format!("tag '{}'", raw.key), KEY_VALUE, ValueKind::Text)?;
            TraceKey::Tag(raw.key.clone())
        }
        Entity::Metadata => {
            check_clause(&raw, &format!("metadata '{}'", raw.key), KEY_VALUE, ValueKind::Text)?;
            TraceKey::Metadata(raw.key.clone())
        }
        Entity::Span => {
            let field = span_field(&raw.key)?;
            let what = format!("span key '{}'", raw.key);
            match field {
                SpanField::Content => check_clause(&raw, &what, &[Like, ILike], ValueKind::Text)?,
                _ => check_clause(&raw, &what, STRING_WITH_IN, ValueKind::Text)?,
            }
            TraceKey::Span(field)
        }
        entity @ (Entity::Feedback | Entity::Expectation) => {
            let is_feedback = matches!(entity, Entity::Feedback);
            let what = format!("{} '{}'", if is_feedback { "feedback" } else { "expectation" }, raw.key);
            // Assessment values are strings, numbers or booleans: ordering needs a number,
            // pattern matching needs text, and equality takes either.
            let kind = match raw.comparator {
                Lt | Le | Gt | Ge => ValueKind::Number,
                Like | ILike | RLike => ValueKind::Text,
                _ => ValueKind::TextOrNumber,
            };
            check_clause(&raw, &what, ASSESSMENT, kind)?;
            if is_feedback {
                TraceKey::Feedback(raw.key.clone())
            } else {
                TraceKey::Expectation(raw.key.clone())
            }
        }
        Entity::Issue => {
            if !raw.key.eq_ignore_ascii_case("id") {
                return Err(Error::invalid(format!(
                    "Invalid issue key '{}' specified. Valid keys are ['id']",
                    raw.key
                )));
            }
            check_clause(&raw, "issue 'id'", &[Eq], ValueKind::Text)?;
            TraceKey::IssueId
        }
    };
    if let (RLike, Literal::Str(pattern)) = (raw.comparator, &raw.value) {
        filter::check_regex(pattern)?;
    }
    Ok(Clause { key, comparator: raw.comparator, value: raw.value })
}

/// Parses `order_by` entries such as `timestamp_ms DESC`, `execution_time_ms`, `tags.env`.
/// An empty list is returned as is; the store applies the default `timestamp_ms DESC`.
pub fn parse_order_by(items: &[String]) -> Result<Vec<OrderBy<TraceKey>>> {
    filter::parse_order_by_items(items, order_key)
}

fn order_key(raw: &RawOrderBy) -> Result<TraceKey> {
    match entity(raw.prefix.as_deref())? {
        Entity::Attribute { .. } => {
            let attribute = attribute(&raw.key)?;
            match attribute {
                TraceAttribute::TimestampMs
                | TraceAttribute::ExecutionTimeMs
                | TraceAttribute::EndTimeMs
                | TraceAttribute::Status
                | TraceAttribute::RequestId
                | TraceAttribute::Name
                | TraceAttribute::RunId
                | TraceAttribute::ExperimentId => Ok(TraceKey::Attribute(attribute)),
                _ => Err(Error::invalid(format!("traces cannot be ordered by attribute '{}'", raw.key))),
            }
        }
        Entity::Tag => Ok(TraceKey::Tag(raw.key.clone())),
        Entity::Metadata => Ok(TraceKey::Metadata(raw.key.clone())),
        _ => Err(Error::invalid("traces can only be ordered by attributes, tags.<key> and metadata.<key>")),
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
    fn captured_filters() {
        check("tags.env = 'test'", "Tag(\"env\") = Str(\"test\")");
        check("status = 'ERROR'", "Attribute(Status) = Str(\"ERROR\")");
        check("trace.status = 'OK'", "Attribute(Status) = Str(\"OK\")");
        check("timestamp_ms > 1700000000000", "Attribute(TimestampMs) > Num(1700000000000.0)");
        check("span.name = 'llm-call'", "Span(Name) = Str(\"llm-call\")");
        check("span.type = 'LLM'", "Span(Type) = Str(\"LLM\")");
        check("metadata.`mlflow.trace.user` = 'alice'", "Metadata(\"mlflow.trace.user\") = Str(\"alice\")");
        check("request_metadata.custom_meta = 'm'", "Metadata(\"custom_meta\") = Str(\"m\")");
        check("trace.name = 'agent'", "Attribute(Name) = Str(\"agent\")");
        check("execution_time_ms > 0", "Attribute(ExecutionTimeMs) > Num(0.0)");
        check("attribute.run_id = 'abc123'", "Attribute(RunId) = Str(\"abc123\")");
        check("feedback.helpfulness = 'false'", "Feedback(\"helpfulness\") = Str(\"false\")");
        check("span.attributes.model LIKE '%gpt%'", "Span(Attribute(\"model\")) LIKE Str(\"%gpt%\")");
        check("trace.text LIKE '%x%'", "Attribute(Text) LIKE Str(\"%x%\")");
        check("status IN ('OK','ERROR')", "Attribute(Status) IN List([\"OK\", \"ERROR\"])");
    }

    #[test]
    fn more_accepted_filters() {
        check("timestamp >= 1 AND execution_time < 2 AND end_time != 3", "Attribute(TimestampMs) >= Num(1.0) ; Attribute(ExecutionTimeMs) < Num(2.0) ; Attribute(EndTimeMs) != Num(3.0)");
        check("end_time_ms <= 4", "Attribute(EndTimeMs) <= Num(4.0)");
        check(
            "request_id NOT IN ('tr-1') AND client_request_id = 'c'",
            "Attribute(RequestId) NOT IN List([\"tr-1\"]) ; Attribute(ClientRequestId) = Str(\"c\")",
        );
        check("prompt = 'qa-prompt/2'", "Attribute(Prompt) = Str(\"qa-prompt/2\")");
        check("name RLIKE '^agent.*'", "Attribute(Name) RLIKE Str(\"^agent.*\")");
        check("trace.text ILIKE '%X%'", "Attribute(Text) ILIKE Str(\"%X%\")");
        check("tag.t IS NULL AND metadata.m IS NOT NULL", "Tag(\"t\") IS NULL None ; Metadata(\"m\") IS NOT NULL None");
        check(
            "span.status != 'ERROR' AND span.content ILIKE '%hi%'",
            "Span(Status) != Str(\"ERROR\") ; Span(Content) ILIKE Str(\"%hi%\")",
        );
        check("span.attributes.`llm.model` IN ('a')", "Span(Attribute(\"llm.model\")) IN List([\"a\"])");
        check(
            "feedback.score > 0.5 AND feedback.x IS NOT NULL",
            "Feedback(\"score\") > Num(0.5) ; Feedback(\"x\") IS NOT NULL None",
        );
        check("feedback.score = 1", "Feedback(\"score\") = Num(1.0)");
        check("expectation.answer LIKE '%Paris%'", "Expectation(\"answer\") LIKE Str(\"%Paris%\")");
        check("issue.id = 'iss-1'", "IssueId = Str(\"iss-1\")");
    }

    #[test]
    fn rlike_patterns_must_compile() {
        check_error("name RLIKE '('", "Invalid regular expression '(' in filter: unclosed group");
        check_error("tag.t RLIKE 'a{2,1}'", "Invalid regular expression 'a{2,1}' in filter");
        check_error("feedback.q RLIKE '[z-a]'", "Invalid regular expression '[z-a]' in filter");
        check("name RLIKE '[[:alpha:]]+'", "Attribute(Name) RLIKE Str(\"[[:alpha:]]+\")");
        // LIKE patterns are not regular expressions.
        check("name LIKE '(%'", "Attribute(Name) LIKE Str(\"(%\")");
    }

    #[test]
    fn rejected_filters() {
        check_error("trace.user = 'alice'", "Invalid attribute key 'user'");
        check_error("assessment.x = 'y'", "Invalid entity type 'assessment'");
        check_error("status = 'OK' OR status = 'ERROR'", "Invalid clause(s) in filter string: 'OR'");
        check_error("text LIKE '%x%'", "only be searched with the 'trace.' prefix");
        check_error("attributes.text LIKE '%x%'", "only be searched with the 'trace.' prefix");
        check_error("trace.text = 'x'", "Invalid comparator '=' for attribute 'text'");
        check_error("timestamp_ms LIKE '17%'", "Invalid comparator 'LIKE' for attribute 'timestamp_ms'");
        check_error("timestamp_ms > '17'", "Expected a numeric value for attribute 'timestamp_ms'");
        check_error("status > 'OK'", "Invalid comparator '>' for attribute 'status'");
        check_error("prompt IN ('a/1')", "Invalid comparator 'IN' for attribute 'prompt'");
        check_error("tags.t IN ('a')", "Invalid comparator 'IN' for tag 't'");
        check_error("span.kind = 'x'", "Invalid span key 'kind'");
        check_error("span.attributes = 'x'", "Invalid span key 'attributes'");
        check_error("span.content = 'x'", "Invalid comparator '=' for span key 'content'");
        check_error("span.name IS NULL", "Invalid comparator 'IS NULL' for span key 'name'");
        check_error("feedback.score > 'high'", "Expected a numeric value for feedback 'score'");
        check_error("feedback.score LIKE 1", "Expected a quoted string value for feedback 'score'");
        check_error("issue.name = 'x'", "Invalid issue key 'name'");
        check_error("issue.id != 'x'", "Invalid comparator '!=' for issue 'id'");
        check_error("status IN ()", "the list is empty");
        check_error("tags.env = 'test", "unterminated quoted string");
    }

    #[test]
    fn order_by() {
        assert_eq!(
            render_order(&["timestamp_ms DESC", "timestamp", "execution_time_ms", "end_time_ms", "status"]),
            "Attribute(TimestampMs) DESC ; Attribute(TimestampMs) ASC ; Attribute(ExecutionTimeMs) ASC ; \
             Attribute(EndTimeMs) ASC ; Attribute(Status) ASC"
        );
        assert_eq!(
            render_order(&[
                "request_id",
                "name",
                "run_id",
                "experiment_id desc",
                "tags.env",
                "metadata.`mlflow.user` DESC"
            ]),
            "Attribute(RequestId) ASC ; Attribute(Name) ASC ; Attribute(RunId) ASC ; Attribute(ExperimentId) DESC ; \
             Tag(\"env\") ASC ; Metadata(\"mlflow.user\") DESC"
        );
        assert_eq!(render_order(&["trace.timestamp_ms"]), "Attribute(TimestampMs) ASC");
        assert!(render_order(&["prompt"]).contains("cannot be ordered by attribute 'prompt'"));
        assert!(render_order(&["span.name"]).contains("only be ordered by attributes"));
        assert!(render_order(&["user"]).contains("Invalid attribute key 'user'"));
    }
}
