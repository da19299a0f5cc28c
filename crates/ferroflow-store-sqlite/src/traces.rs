//! Traces, spans and assessments in SQLite: [`TraceStore`] for [`SqliteStore`].
//!
//! Ingest writes a whole batch in one transaction with multi-row inserts; span content is
//! stored in the read format so that reads only concatenate. A search is one statement: the
//! page of traces and, for each, its tags, metadata and assessments come back as one JSON row
//! (see [`TRACE_RECORD`]), decoded straight into typed records.

use crate::error::{corrupt, stored_enum, Context};
use crate::sql::{
    json_list, push_numeric_comparison, push_page, push_string_comparison, push_string_comparison_on,
    rows_per_statement, split_page, upsert_pairs, OnConflict,
};
use crate::text_index::{text_plan, TextPlan};
use crate::SqliteStore;
use ferroflow_core::entities::*;
use ferroflow_core::search::traces::{SpanField, TraceAttribute, TraceKey};
use ferroflow_core::search::{Clause, Comparator, Literal};
use ferroflow_core::store::{SearchQuery, TraceStore};
use ferroflow_core::{trace_metrics, Error, Result};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::collections::HashMap;

/// Spans per chunk when streaming a trace's spans.
const SPAN_CHUNK: i64 = 2000;

fn trace_not_found(trace_id: &str) -> Error {
    Error::not_found(format!("Trace with ID '{trace_id}' not found."))
}

/// One trace record as JSON text, for a `traces` row in scope as `t`: its scalar fields, then
/// its tags, metadata and assessments, each a JSON array (see [`TraceRecord`]) kept on the row
/// by triggers (migration 0011). Built by concatenation: the arrays are JSON text already and
/// are copied as they are, never parsed again. `rtrim(json_array(...), ']')` opens an array
/// whose last element is an integer, so exactly one `]` goes.
const TRACE_RECORD: &str = "rtrim(json_array(t.trace_id, t.experiment_id, t.client_request_id, t.request_time, \
       t.execution_duration, t.state, t.request_preview, t.response_preview, \
       (SELECT e.artifact_location FROM experiments e WHERE e.experiment_id = t.experiment_id), t.has_spans), ']') \
     || ',' || t.tags_json || ',' || t.metadata_json || ',' || t.assessments_json || ']'";

/// A trace record as [`TRACE_RECORD`] writes it, decoded in one pass without intermediate
/// `Value`s: id, experiment, client request id, request time, duration, state, previews,
/// the experiment's artifact location, has_spans, tags, metadata, assessments.
#[derive(Deserialize)]
struct TraceRecord(
    String,
    i64,
    Option<String>,
    i64,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Vec<(String, String)>,
    Vec<(String, String)>,
    Vec<AssessmentRecord>,
);

/// An assessment inside a [`TraceRecord`]: id, name, kind, value text, valid, overrides,
/// create and update time, body.
#[derive(Deserialize)]
struct AssessmentRecord(String, String, String, Option<String>, i64, Option<String>, i64, i64, Map<String, Value>);

impl TraceRecord {
    fn into_trace(self) -> Result<TraceInfo> {
        let TraceRecord(
            trace_id,
            experiment_id,
            client_request_id,
            request_time,
            execution_duration,
            state,
            request_preview,
            response_preview,
            artifact_location,
            has_spans,
            stored_tags,
            metadata,
            assessments,
        ) = self;
        // Server-owned tags are derived; a stored tag of the same key wins.
        let mut tags = Vec::with_capacity(stored_tags.len() + 2);
        if let Some(location) = artifact_location {
            tags.push((TAG_ARTIFACT_LOCATION.to_string(), artifact_location_for(&location, &trace_id)));
        }
        if has_spans != 0 {
            tags.push((TAG_SPANS_LOCATION.to_string(), SPANS_IN_TRACKING_STORE.to_string()));
        }
        tags.retain(|(key, _)| !stored_tags.iter().any(|(k, _)| k == key));
        tags.extend(stored_tags);
        let trace_id = TraceId::from_stored(trace_id);
        let assessments = assessments.into_iter().map(|a| a.into_assessment(&trace_id)).collect::<Result<_>>()?;
        Ok(TraceInfo {
            experiment_id: ExperimentId::from_stored(experiment_id),
            client_request_id,
            request_time,
            execution_duration,
            state: stored_enum("trace state", &state, TraceState::parse)?,
            request_preview,
            response_preview,
            metadata,
            tags,
            assessments,
            trace_id,
        })
    }
}

impl AssessmentRecord {
    fn into_assessment(self, trace_id: &TraceId) -> Result<Assessment> {
        let AssessmentRecord(
            assessment_id,
            name,
            kind,
            value_text,
            valid,
            overrides,
            create_time,
            last_update_time,
            body,
        ) = self;
        Ok(Assessment {
            assessment_id,
            trace_id: trace_id.clone(),
            name,
            kind: stored_enum("assessment kind", &kind, AssessmentKind::parse)?,
            value_text,
            valid: valid != 0,
            overrides,
            create_time,
            last_update_time,
            body,
        })
    }
}

/// The records of a JSON array of [`TRACE_RECORD`]s.
fn decode_traces(text: &str) -> Result<Vec<TraceInfo>> {
    let records: Vec<TraceRecord> = serde_json::from_str(text).map_err(|e| corrupt("trace records", e))?;
    records.into_iter().map(TraceRecord::into_trace).collect()
}

fn assessment_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Assessment> {
    let body: Map<String, Value> = serde_json::from_str(row.get::<&str, _>(9))
        .map_err(|e| corrupt(format_args!("body of assessment {}", row.get::<&str, _>(0)), e))?;
    Ok(Assessment {
        assessment_id: row.get(0),
        trace_id: TraceId::from_stored(row.get::<String, _>(1)),
        name: row.get(2),
        kind: stored_enum("assessment kind", row.get::<&str, _>(3), AssessmentKind::parse)?,
        value_text: row.get(4),
        valid: row.get::<i64, _>(5) != 0,
        overrides: row.get(6),
        create_time: row.get(7),
        last_update_time: row.get(8),
        body,
    })
}

const ASSESSMENT_COLUMNS: &str =
    "assessment_id, trace_id, name, kind, value_text, valid, overrides, create_time, last_update_time, body";

/// The key of an experiment that may take traces: it must exist and be active.
async fn active_experiment(conn: &mut SqliteConnection, experiment_id: ExperimentId) -> Result<i64> {
    crate::tracking::require_active_experiment(conn, experiment_id, " to log traces").await?;
    let key = experiment_id.get();
    Ok(key)
}

fn artifact_location_for(location: &str, trace_id: &str) -> String {
    format!("{}/traces/{trace_id}/artifacts", location.trim_end_matches('/'))
}

/// Sets key/value pairs (tags or metadata) of one trace, replacing values already there.
async fn set_trace_pairs(
    conn: &mut SqliteConnection,
    table: &str,
    trace_id: &str,
    pairs: &[(String, String)],
) -> Result<()> {
    let rows: Vec<(&str, &str, &str)> = pairs.iter().map(|(k, v)| (trace_id, k.as_str(), v.as_str())).collect();
    upsert_pairs(conn, table, &["trace_id"], &rows, OnConflict::Replace).await
}

/// Creates or merges the records of a batch's traces in one statement, and notes their keys. Until the root span or
/// StartTraceV3 arrives, a trace starts at its earliest span and is in progress; a root fills
/// time, duration, state and previews unless StartTraceV3 already did (it is authoritative).
async fn upsert_trace_rows(
    conn: &mut SqliteConnection,
    experiment_key: i64,
    traces: &[TraceSpans],
    keys: &mut HashMap<String, i64>,
) -> Result<()> {
    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO traces (trace_id, experiment_id, request_time, execution_duration, state, request_preview, \
         response_preview, root_seen, has_spans) ",
    );
    builder.push_values(traces, |mut b, trace| {
        let root = trace.root.as_ref();
        b.push_bind(trace.trace_id.as_str())
            .push_bind(experiment_key)
            .push_bind(root.map(|r| r.request_time).unwrap_or(trace.earliest_start_ms))
            .push_bind(root.map(|r| r.execution_duration))
            .push_bind(root.map(|r| r.state.as_str()).unwrap_or("IN_PROGRESS"))
            .push_bind(root.and_then(|r| r.request_preview.clone()))
            .push_bind(root.and_then(|r| r.response_preview.clone()))
            .push_bind(root.is_some() as i64)
            .push_bind(1_i64);
    });
    builder.push(
        " ON CONFLICT (trace_id) DO UPDATE SET has_spans = 1, \
         request_time = CASE WHEN traces.finalized = 1 THEN traces.request_time \
             WHEN excluded.root_seen = 1 THEN excluded.request_time \
             WHEN traces.root_seen = 1 THEN traces.request_time \
             ELSE min(traces.request_time, excluded.request_time) END, \
         execution_duration = CASE WHEN traces.finalized = 0 AND excluded.root_seen = 1 \
             THEN excluded.execution_duration ELSE traces.execution_duration END, \
         state = CASE WHEN traces.finalized = 0 AND excluded.root_seen = 1 THEN excluded.state ELSE traces.state END, \
         request_preview = CASE WHEN traces.finalized = 0 AND excluded.root_seen = 1 \
             THEN excluded.request_preview ELSE traces.request_preview END, \
         response_preview = CASE WHEN traces.finalized = 0 AND excluded.root_seen = 1 \
             THEN excluded.response_preview ELSE traces.response_preview END, \
         root_seen = max(traces.root_seen, excluded.root_seen) \
         RETURNING trace_id, trace_key",
    );
    let rows = builder
        .build()
        .fetch_all(&mut *conn)
        .await
        .context(|| format!("writing the rows of {} traces", traces.len()))?;
    keys.extend(rows.iter().map(|row| (row.get(0), row.get(1))));
    Ok(())
}

/// What only a root tells (its metadata), for traces StartTraceV3 has not finalized; keys
/// already there stay. One statement per chunk, not [`upsert_pairs`]: a row is written only
/// while its trace is not finalized.
async fn insert_root_metadata(conn: &mut SqliteConnection, traces: &[TraceSpans]) -> Result<()> {
    let rows: Vec<(&str, &str, &str)> = traces
        .iter()
        .filter_map(|t| t.root.as_ref().map(|r| (t, r)))
        .flat_map(|(t, r)| r.metadata.iter().map(move |(k, v)| (t.trace_id.as_str(), k.as_str(), v.as_str())))
        .collect();
    for chunk in rows.chunks(rows_per_statement(3)) {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR IGNORE INTO trace_metadata (trace_id, key, value) \
             SELECT v.column1, v.column2, v.column3 FROM (",
        );
        builder.push_values(chunk, |mut row, &(trace_id, key, value)| {
            row.push_bind(trace_id).push_bind(key).push_bind(value);
        });
        builder.push(") v JOIN traces t ON t.trace_id = v.column1 WHERE t.finalized = 0");
        builder.build().execute(&mut *conn).await.context(|| "inserting the root metadata of traces")?;
    }
    Ok(())
}

async fn insert_spans(conn: &mut SqliteConnection, spans: &[(i64, &SpanRecord)]) -> Result<()> {
    for chunk in spans.chunks(rows_per_statement(20)) {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO spans (trace_key, span_id, parent_span_id, name, span_type, kind, status, status_message, \
             start_time_ns, end_time_ns, input_tokens, output_tokens, total_tokens, attributes, extra, \
             model_name, model_provider, input_cost, output_cost, total_cost) ",
        );
        builder.push_values(chunk, |mut b, (trace_key, span)| {
            let tokens = span.token_usage;
            // What the spans view of trace metrics groups and sums by (migration 0018).
            let analytics = trace_metrics::span_analytics(&span.attributes);
            b.push_bind(*trace_key)
                .push_bind(span.span_id.as_str())
                .push_bind(span.parent_span_id.as_ref().map(SpanId::as_str))
                .push_bind(&span.name)
                .push_bind(&span.span_type)
                .push_bind(span.kind.number())
                .push_bind(span.status.as_str())
                .push_bind(&span.status_message)
                .push_bind(span.start_time_ns)
                .push_bind(span.end_time_ns)
                .push_bind(tokens.map(|t| t.input_tokens))
                .push_bind(tokens.map(|t| t.output_tokens))
                .push_bind(tokens.map(|t| t.total_tokens))
                .push_bind(serde_json::to_string(&span.attributes).unwrap_or_else(|_| "{}".into()))
                .push_bind(ferroflow_store_common::span_details::encode(
                    span.trace_state.as_deref(),
                    &span.events,
                    &span.links,
                ))
                .push_bind(analytics.model_name)
                .push_bind(analytics.model_provider)
                .push_bind(analytics.input_cost)
                .push_bind(analytics.output_cost)
                .push_bind(analytics.total_cost);
        });
        // A re-sent span replaces itself (exporters retry).
        builder.push(
            " ON CONFLICT (trace_key, span_id) DO UPDATE SET parent_span_id = excluded.parent_span_id, \
             name = excluded.name, span_type = excluded.span_type, kind = excluded.kind, status = excluded.status, \
             status_message = excluded.status_message, \
             start_time_ns = excluded.start_time_ns, end_time_ns = excluded.end_time_ns, \
             input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
             total_tokens = excluded.total_tokens, attributes = excluded.attributes, extra = excluded.extra, \
             model_name = excluded.model_name, model_provider = excluded.model_provider, \
             input_cost = excluded.input_cost, output_cost = excluded.output_cost, total_cost = excluded.total_cost",
        );
        builder.build().execute(&mut *conn).await.context(|| format!("inserting {} spans", spans.len()))?;
    }
    Ok(())
}

impl SqliteStore {
    /// Trace records with their tags, metadata and assessments, in the order of `ids` (missing
    /// ids left out), from one query that returns one JSON row.
    async fn load_traces<S: AsRef<str> + Sync>(&self, ids: &[S]) -> Result<Vec<TraceInfo>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let text: String = sqlx::query(&format!(
            "SELECT '[' || coalesce(group_concat({TRACE_RECORD}, ',' ORDER BY j.key), '') || ']' \
             FROM json_each(?) j JOIN traces t ON t.trace_id = j.value"
        ))
        .bind(json_list(ids))
        .fetch_one(&self.read)
        .await
        .context(|| match ids {
            [id] => format!("loading trace {}", id.as_ref()),
            _ => format!("loading {} traces", ids.len()),
        })?
        .get(0);
        decode_traces(&text)
    }
}

pub(crate) fn push_trace_clause(builder: &mut QueryBuilder<'_, Sqlite>, clause: &Clause<TraceKey>) -> Result<()> {
    let comparator = clause.comparator;
    let value = &clause.value;
    match &clause.key {
        TraceKey::Attribute(attribute) => push_attribute_clause(builder, attribute, comparator, value),
        TraceKey::Tag(key) => push_pair_clause(builder, "trace_tags", key, comparator, value),
        TraceKey::Metadata(key) => push_pair_clause(builder, "trace_metadata", key, comparator, value),
        TraceKey::Span(field) => push_span_clause(builder, field, comparator, value),
        TraceKey::Feedback(name) => push_assessment_clause(builder, "feedback", name, comparator, value),
        TraceKey::Expectation(name) => push_assessment_clause(builder, "expectation", name, comparator, value),
        TraceKey::IssueId => {
            builder.push("EXISTS (SELECT 1 FROM assessments a WHERE a.trace_id = t.trace_id AND a.kind = 'issue' AND ");
            push_string_comparison(builder, "a.name", comparator, value)?;
            builder.push(")");
            Ok(())
        }
    }
}

fn push_attribute_clause(
    builder: &mut QueryBuilder<'_, Sqlite>,
    attribute: &TraceAttribute,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    match attribute {
        TraceAttribute::RequestId => push_string_comparison(builder, "t.trace_id", comparator, value),
        TraceAttribute::Status => push_string_comparison(builder, "t.state", comparator, value),
        TraceAttribute::ClientRequestId => push_string_comparison(builder, "t.client_request_id", comparator, value),
        TraceAttribute::TimestampMs => push_numeric_comparison(builder, "t.request_time", comparator, value),
        TraceAttribute::ExecutionTimeMs => push_numeric_comparison(builder, "t.execution_duration", comparator, value),
        TraceAttribute::EndTimeMs => {
            push_numeric_comparison(builder, "(t.request_time + coalesce(t.execution_duration, 0))", comparator, value)
        }
        TraceAttribute::ExperimentId => {
            push_string_comparison(builder, "CAST(t.experiment_id AS TEXT)", comparator, value)
        }
        TraceAttribute::Name => push_pair_clause(builder, "trace_tags", TAG_TRACE_NAME, comparator, value),
        TraceAttribute::RunId => push_run_id_clause(builder, comparator, value),
        TraceAttribute::Prompt => push_prompt_clause(builder, value),
        TraceAttribute::Text => push_text_search(builder, comparator, value, TextPlan::Indexed),
    }
}

/// The pattern of a `trace.text LIKE|ILIKE` clause.
fn text_pattern(clause: &Clause<TraceKey>) -> Option<String> {
    match (&clause.key, clause.comparator) {
        (TraceKey::Attribute(TraceAttribute::Text), Comparator::Like | Comparator::ILike) => {
            clause.value.as_text().map(|pattern| pattern.to_string())
        }
        _ => None,
    }
}

/// `run_id`: the run named in the trace's metadata or linked to it; `!=` and `NOT IN` negate
/// the whole test, so a trace with neither matches them.
fn push_run_id_clause(builder: &mut QueryBuilder<'_, Sqlite>, comparator: Comparator, value: &Literal) -> Result<()> {
    let negated = matches!(comparator, Comparator::Ne | Comparator::NotIn);
    let positive = match comparator {
        Comparator::Ne => Comparator::Eq,
        Comparator::NotIn => Comparator::In,
        other => other,
    };
    builder.push(if negated { "NOT (" } else { "(" });
    builder.push("EXISTS (SELECT 1 FROM trace_metadata m WHERE m.trace_id = t.trace_id AND m.key = ");
    builder.push_bind(META_SOURCE_RUN);
    builder.push(" AND ");
    push_string_comparison(builder, "m.value", positive, value)?;
    builder.push(") OR EXISTS (SELECT 1 FROM trace_run_links l WHERE l.trace_id = t.trace_id AND ");
    push_string_comparison(builder, "l.run_id", positive, value)?;
    builder.push("))");
    Ok(())
}

/// `prompt = 'name/version'`: one entry of the linked-prompts JSON list.
fn push_prompt_clause(builder: &mut QueryBuilder<'_, Sqlite>, value: &Literal) -> Result<()> {
    let text = value.as_text().unwrap_or_default();
    let (name, version) = text.rsplit_once('/').unwrap_or((text.as_str(), ""));
    builder.push("EXISTS (SELECT 1 FROM trace_tags p, json_each(p.value) j WHERE p.trace_id = t.trace_id AND p.key = ");
    builder.push_bind(TAG_LINKED_PROMPTS);
    builder.push(" AND json_valid(p.value) AND json_extract(j.value, '$.name') = ");
    builder.push_bind(name.to_string());
    builder.push(" AND CAST(json_extract(j.value, '$.version') AS TEXT) = ");
    builder.push_bind(version.to_string());
    builder.push(")");
    Ok(())
}

/// A span field: some span of the trace has it.
fn push_span_clause(
    builder: &mut QueryBuilder<'_, Sqlite>,
    field: &SpanField,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    builder.push("EXISTS (SELECT 1 FROM spans s WHERE s.trace_key = t.trace_key AND ");
    match field {
        SpanField::Name => push_string_comparison(builder, "s.name", comparator, value)?,
        SpanField::Type => push_string_comparison(builder, "s.span_type", comparator, value)?,
        SpanField::Status => {
            let normalized = match value {
                Literal::Str(s) => Literal::Str(s.trim_start_matches("STATUS_CODE_").to_string()),
                other => other.clone(),
            };
            push_string_comparison(builder, "s.status", comparator, &normalized)?
        }
        SpanField::Attribute(key) => {
            // Found by name among the members, with the key bound: a JSON path cannot
            // name every key (SQLite's quoted path labels have no escape for `"`).
            let attribute = |builder: &mut QueryBuilder<'_, Sqlite>| {
                builder.push("(SELECT a.value FROM json_each(s.attributes) a WHERE a.key = ");
                builder.push_bind(key.clone());
                builder.push(")");
            };
            push_string_comparison_on(builder, &attribute, comparator, value)?
        }
        SpanField::Content => push_string_comparison(builder, "s.attributes", comparator, value)?,
    }
    builder.push(")");
    Ok(())
}

/// A valid feedback or expectation (`kind`) named `name`: compared as a number when the
/// comparison or the value is numeric, as text otherwise.
fn push_assessment_clause(
    builder: &mut QueryBuilder<'_, Sqlite>,
    kind: &'static str,
    name: &str,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    let negated = matches!(comparator, Comparator::IsNull);
    push_membership(builder, "assessments a", "a", negated, |builder| {
        builder.push("a.valid = 1 AND a.kind = ");
        builder.push_bind(kind);
        builder.push(" AND a.name = ");
        builder.push_bind(name.to_string());
        match (comparator, value) {
            (Comparator::IsNull | Comparator::IsNotNull, _) => {}
            (Comparator::Lt | Comparator::Le | Comparator::Gt | Comparator::Ge, _) | (_, Literal::Num(_)) => {
                builder.push(" AND ");
                push_numeric_comparison(builder, "CAST(a.value_text AS REAL)", comparator, value)?;
            }
            _ => {
                builder.push(" AND ");
                push_string_comparison(builder, "a.value_text", comparator, value)?;
            }
        }
        Ok(())
    })
}

/// A tag or metadata clause; `!=` matches only traces that have the key, as MLflow does.
fn push_pair_clause(
    builder: &mut QueryBuilder<'_, Sqlite>,
    table: &str,
    key: &str,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
    if let (Comparator::Eq, Literal::Str(text)) = (comparator, value) {
        // The row's copy of its pairs holds `["key","value"]` exactly when the trace has that
        // pair: JSON escapes every quote inside a string, so the text cannot occur otherwise.
        let copy = if table == "trace_tags" { "tags_json" } else { "metadata_json" };
        builder.push(format!("instr(t.{copy}, json_array("));
        builder.push_bind(key.to_string());
        builder.push(", ");
        builder.push_bind(text.clone());
        builder.push(")) > 0");
        return Ok(());
    }
    let negated = comparator == Comparator::IsNull;
    push_membership(builder, &format!("{table} x"), "x", negated, |builder| {
        builder.push("x.key = ");
        builder.push_bind(key.to_string());
        if !matches!(comparator, Comparator::IsNull | Comparator::IsNotNull) {
            builder.push(" AND ");
            push_string_comparison(builder, "x.value", comparator, value)?;
        }
        Ok(())
    })
}

/// Matches of a child-table filter at or above which [`push_membership`] probes each
/// candidate trace instead of collecting the matching ids first.
const MEMBERSHIP_SET_LIMIT: u32 = 500;

/// Whether trace `t` has a row in `table` (aliased `alias`, with a `trace_id` column) that
/// meets the condition `condition` pushes (pushed three times, binds included); `NOT` of that
/// when `negated`.
///
/// The time-ordered scan of the experiment drives the query (the unary `+` keeps SQLite from
/// driving it from the child table and then sorting every match), and the page stops it. How
/// each candidate is checked is decided once per query, at run time, by counting matches up
/// to [`MEMBERSHIP_SET_LIMIT`] through the child table's value index:
/// - few matches in all: they are collected once into a set that each candidate is looked up
///   in, so a rare value costs a cheap pass over the experiment rather than a probe per trace;
/// - many: each candidate is probed through its own `(trace_id, ...)` key, so a page of a
///   common value costs about a page of probes instead of collecting every match first.
fn push_membership(
    builder: &mut QueryBuilder<'_, Sqlite>,
    table: &str,
    alias: &str,
    negated: bool,
    condition: impl Fn(&mut QueryBuilder<'_, Sqlite>) -> Result<()>,
) -> Result<()> {
    builder.push(if negated { "NOT (" } else { "(" });
    builder.push(format!("CASE WHEN (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE "));
    condition(builder)?;
    builder.push(format!(
        " LIMIT {MEMBERSHIP_SET_LIMIT})) < {MEMBERSHIP_SET_LIMIT} THEN +t.trace_id IN (SELECT {alias}.trace_id FROM {table} WHERE "
    ));
    condition(builder)?;
    builder.push(format!(") ELSE EXISTS (SELECT 1 FROM {table} WHERE {alias}.trace_id = t.trace_id AND "));
    condition(builder)?;
    builder.push(") END)");
    Ok(())
}

/// `trace.text LIKE '%x%'`: through the full-text index (see [`crate::text_index`]).
fn push_text_search(
    builder: &mut QueryBuilder<'_, Sqlite>,
    comparator: Comparator,
    value: &Literal,
    plan: TextPlan,
) -> Result<()> {
    let pattern = value.as_text().ok_or_else(|| Error::invalid("trace.text expects a string pattern"))?;
    if !matches!(comparator, Comparator::Like | Comparator::ILike) {
        return Err(Error::invalid("trace.text supports only LIKE and ILIKE"));
    }
    crate::text_index::push_text_condition(builder, &pattern, plan);
    Ok(())
}

/// Pushes the expression a trace is ordered by; a tag or metadata key is bound.
fn push_trace_order_column(builder: &mut QueryBuilder<'_, Sqlite>, key: &TraceKey) -> Result<()> {
    let (table, pair_key) = match key {
        TraceKey::Attribute(TraceAttribute::Name) => ("trace_tags", TAG_TRACE_NAME),
        TraceKey::Attribute(TraceAttribute::RunId) => ("trace_metadata", META_SOURCE_RUN),
        TraceKey::Tag(key) => ("trace_tags", key.as_str()),
        TraceKey::Metadata(key) => ("trace_metadata", key.as_str()),
        TraceKey::Attribute(attribute) => {
            builder.push(match attribute {
                TraceAttribute::TimestampMs => "t.request_time",
                TraceAttribute::ExecutionTimeMs => "t.execution_duration",
                TraceAttribute::EndTimeMs => "(t.request_time + coalesce(t.execution_duration, 0))",
                TraceAttribute::Status => "t.state",
                TraceAttribute::RequestId => "t.trace_id",
                TraceAttribute::ExperimentId => "t.experiment_id",
                TraceAttribute::ClientRequestId => "t.client_request_id",
                _ => return Err(Error::invalid("Invalid order_by key for traces")),
            });
            return Ok(());
        }
        _ => return Err(Error::invalid("Invalid order_by key for traces")),
    };
    builder.push(format!("(SELECT x.value FROM {table} x WHERE x.trace_id = t.trace_id AND x.key = "));
    builder.push_bind(pair_key.to_string());
    builder.push(")");
    Ok(())
}

/// One chunk of a trace's spans as a single text value, each span a header of ten numbers
/// (start, kind, end, then the byte length of each text column, -1 for NULL) ended by `;`,
/// then those columns' bytes back to back. SQLite builds it, so a chunk of thousands of spans
/// crosses the driver as one value instead of ten columns a row, one row at a time (the
/// per-row hand-off, copies and drops were most of a large trace's read: see RESULTS.md).
/// `concat` builds a span's part in one pass (a chain of `||` copies it once per operator,
/// and it skips NULLs, whose length says -1). The chunk is not ordered inside the aggregate
/// (that sorts every part again): its rows are the first of the keyset order, and
/// [`unpack_spans`] puts them back in that order, a linear check when they already are.
const PACKED_SPANS: &str = "group_concat(concat(\
       start_time_ns, ',', kind, ',', end_time_ns, ',', octet_length(span_id), ',', \
       coalesce(octet_length(parent_span_id), -1), ',', octet_length(name), ',', octet_length(status), ',', \
       octet_length(status_message), ',', octet_length(attributes), ',', coalesce(octet_length(extra), -1), ';', \
       span_id, parent_span_id, name, status, status_message, attributes, extra), '')";

/// Streams a trace's spans in start order, a chunk at a time (keyset paging), each chunk
/// read as one [`PACKED_SPANS`] value and unpacked on a task of its own. The next chunk is
/// read while the caller works through the current one (its task is spawned as soon as the
/// current one is unpacked), so SQLite's work, the unpacking and the caller's overlap on a
/// large trace.
fn span_chunks(pool: SqlitePool, trace_id: String) -> BoxStream<'static, Result<StoredSpan>> {
    let first = tokio::spawn(read_chunk(pool.clone(), trace_id.clone(), None));
    futures::stream::try_unfold(Some(first), move |pending| {
        let (pool, trace_id) = (pool.clone(), trace_id.clone());
        async move {
            let Some(pending) = pending else {
                return Ok::<_, Error>(None);
            };
            let spans = pending.await.map_err(|e| Error::internal(e.to_string()))??;
            let next = match spans.last() {
                Some(last) if spans.len() as i64 == SPAN_CHUNK => {
                    let after = (last.start_time_ns, last.span_id.to_string());
                    Some(tokio::spawn(read_chunk(pool, trace_id, Some(after))))
                }
                None => return Ok(None),
                Some(_) => None,
            };
            Ok(Some((spans, next)))
        }
    })
    .map_ok(|items| futures::stream::iter(items.into_iter().map(Ok::<StoredSpan, Error>)))
    .try_flatten()
    .boxed()
}

/// The chunk of spans that follows `after` in keyset order, read as one [`PACKED_SPANS`] value.
async fn read_chunk(pool: SqlitePool, trace_id: String, after: Option<(i64, String)>) -> Result<Vec<StoredSpan>> {
    let (start, span_id) = after.unwrap_or((i64::MIN, String::new()));
    let packed: Option<String> = sqlx::query_scalar(&format!(
        "SELECT {PACKED_SPANS} FROM (SELECT * FROM spans \
         WHERE trace_key = (SELECT trace_key FROM traces WHERE trace_id = ?) \
         AND (start_time_ns, span_id) > (?, ?) ORDER BY start_time_ns, span_id LIMIT ?)"
    ))
    .bind(&trace_id)
    .bind(start)
    .bind(span_id)
    .bind(SPAN_CHUNK)
    .fetch_one(&pool)
    .await
    .context(|| format!("loading spans of trace {trace_id}"))?;
    unpack_spans(packed.as_deref().unwrap_or(""), &trace_id)
}

/// A cursor over a [`PACKED_SPANS`] value; `None` wherever the text does not follow the layout.
struct Packed<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Packed<'a> {
    /// A decimal number and the `,` or `;` after it.
    fn number(&mut self) -> Option<i64> {
        let bytes = self.text.as_bytes();
        let negative = bytes.get(self.at) == Some(&b'-');
        self.at += usize::from(negative);
        let mut value: i64 = 0;
        let begin = self.at;
        while let Some(digit) = bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value.checked_mul(10)?.checked_sub(i64::from(digit - b'0'))?;
            self.at += 1;
        }
        if self.at == begin || !matches!(bytes.get(self.at), Some(b',' | b';')) {
            return None;
        }
        self.at += 1;
        if negative {
            Some(value)
        } else {
            value.checked_neg()
        }
    }

    /// The next `length` bytes as text; `Some(None)` for a NULL (length -1).
    fn text(&mut self, length: i64) -> Option<Option<&'a str>> {
        if length == -1 {
            return Some(None);
        }
        let end = self.at.checked_add(usize::try_from(length).ok()?)?;
        let text = self.text.get(self.at..end)?;
        self.at = end;
        Some(Some(text))
    }
}

/// The spans of one [`PACKED_SPANS`] value, in keyset order; text that does not follow the
/// layout is corruption, an error naming the trace.
fn unpack_spans(packed: &str, trace_id: &str) -> Result<Vec<StoredSpan>> {
    let corrupt = || Error::internal(format!("the stored spans of trace {trace_id} are damaged"));
    let mut cursor = Packed { text: packed, at: 0 };
    let mut spans = Vec::with_capacity(SPAN_CHUNK as usize);
    while cursor.at < packed.len() {
        let mut number = || cursor.number().ok_or_else(corrupt);
        let (start_time_ns, kind, end_time_ns) = (number()?, number()?, number()?);
        let mut lengths = [0i64; 7];
        for length in &mut lengths {
            *length = number()?;
        }
        let mut texts = lengths.iter().map(|&length| cursor.text(length).ok_or_else(corrupt));
        let mut text = || texts.next().unwrap_or_else(|| Err(corrupt()));
        let (span_id, parent_span_id, name, status) = (text()?, text()?, text()?, text()?);
        let (status_message, attributes, extra) = (text()?, text()?, text()?);
        let (Some(span_id), Some(name), Some(status), Some(status_message), Some(attributes)) =
            (span_id, name, status, status_message, attributes)
        else {
            return Err(corrupt());
        };
        let details = ferroflow_store_common::span_details::decode(extra, span_id)?;
        spans.push(StoredSpan {
            trace_id: TraceId::from_stored(trace_id.to_owned()),
            start_time_ns,
            span_id: SpanId::from_stored(span_id.to_owned()),
            parent_span_id: parent_span_id.map(|id| SpanId::from_stored(id.to_owned())),
            name: name.to_owned(),
            kind: SpanKind::from_number(kind),
            end_time_ns,
            status: SpanStatus::parse(status),
            status_message: status_message.to_owned(),
            attributes: attributes.to_owned(),
            trace_state: details.trace_state,
            events: details.events,
            links: details.links,
        });
    }
    spans.sort_by(|a, b| (a.start_time_ns, a.span_id.as_str()).cmp(&(b.start_time_ns, b.span_id.as_str())));
    Ok(spans)
}

/// Writes one batch of spans on the writer connection, inside the caller's transaction (or
/// savepoint): trace rows created or filled from their roots, tags, run links, spans, root
/// metadata and token usage. A handful of statements per batch, however many traces it holds.
pub(crate) async fn write_spans(
    conn: &mut SqliteConnection,
    experiment_id: ExperimentId,
    run_id: Option<&str>,
    traces: &[TraceSpans],
) -> Result<()> {
    let experiment_key = active_experiment(&mut *conn, experiment_id).await?;
    let mut keys = HashMap::with_capacity(traces.len());
    for chunk in traces.chunks(100) {
        upsert_trace_rows(&mut *conn, experiment_key, chunk, &mut keys).await?;
        let root_tags: Vec<(&str, &str, &str)> = chunk
            .iter()
            .filter_map(|t| t.root.as_ref().map(|r| (t, r)))
            .flat_map(|(t, r)| r.tags.iter().map(move |(k, v)| (t.trace_id.as_str(), k.as_str(), v.as_str())))
            .collect();
        upsert_pairs(&mut *conn, "trace_tags", &["trace_id"], &root_tags, OnConflict::Replace).await?;
        if let Some(run_id) = run_id {
            let mut builder: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT OR IGNORE INTO trace_run_links (trace_id, run_id) ");
            builder.push_values(chunk, |mut b, trace| {
                b.push_bind(trace.trace_id.as_str()).push_bind(run_id);
            });
            builder.build().execute(&mut *conn).await.context(|| format!("linking traces to run {run_id}"))?;
        }
    }
    let mut spans: Vec<(i64, &SpanRecord)> = Vec::with_capacity(traces.iter().map(|t| t.spans.len()).sum());
    for trace in traces {
        let key =
            *keys.get(trace.trace_id.as_str()).ok_or_else(|| Error::internal("trace row vanished during ingest"))?;
        spans.extend(trace.spans.iter().map(|span| (key, span)));
    }
    insert_spans(&mut *conn, &spans).await?;
    insert_root_metadata(&mut *conn, traces).await?;
    // Token usage counts each span that carries it and has no ancestor that carries it
    // (a parent's usage already covers its children's, as MLflow 3.18 counts it); a span
    // whose parent is not stored counts as a top. Redone whenever a span with token counts
    // arrives, before or after its root or parent.
    let ids: Vec<&str> = traces
        .iter()
        .filter(|t| t.spans.iter().any(|s| s.token_usage.is_some()))
        .map(|t| t.trace_id.as_str())
        .collect();
    if !ids.is_empty() {
        sqlx::query(
            "WITH RECURSIVE targets (trace_key, trace_id) AS ( \
                 SELECT trace_key, trace_id FROM traces \
                 WHERE trace_id IN (SELECT value FROM json_each(?2)) AND finalized = 0), \
             walk (trace_key, span_id, ancestor, depth) AS ( \
                 SELECT s.trace_key, s.span_id, s.parent_span_id, 0 FROM spans s \
                 JOIN targets t ON t.trace_key = s.trace_key WHERE s.total_tokens IS NOT NULL \
                 UNION ALL \
                 SELECT w.trace_key, w.span_id, p.parent_span_id, w.depth + 1 FROM walk w \
                 JOIN spans p ON p.trace_key = w.trace_key AND p.span_id = w.ancestor \
                 WHERE p.total_tokens IS NULL AND w.depth < 10000), \
             tops (trace_key, span_id) AS ( \
                 SELECT w.trace_key, w.span_id FROM walk w WHERE w.ancestor IS NULL OR NOT EXISTS ( \
                     SELECT 1 FROM spans p WHERE p.trace_key = w.trace_key AND p.span_id = w.ancestor)) \
             INSERT OR REPLACE INTO trace_metadata (trace_id, key, value) \
             SELECT t.trace_id, ?1, json_object('input_tokens', coalesce(sum(s.input_tokens), 0), \
                 'output_tokens', coalesce(sum(s.output_tokens), 0), 'total_tokens', coalesce(sum(s.total_tokens), 0)) \
             FROM targets t JOIN tops USING (trace_key) \
             JOIN spans s ON s.trace_key = tops.trace_key AND s.span_id = tops.span_id \
             GROUP BY t.trace_id",
        )
        .bind(META_TOKEN_USAGE)
        .bind(json_list(&ids))
        .execute(&mut *conn)
        .await
        .context(|| format!("summing the token usage of {} traces", ids.len()))?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl TraceStore for SqliteStore {
    async fn ingest_spans(
        &self,
        experiment_id: ExperimentId,
        run_id: Option<&RunId>,
        traces: Vec<TraceSpans>,
    ) -> Result<()> {
        self.last_span_ingest.store(ferroflow_core::time::now_millis(), std::sync::atomic::Ordering::Relaxed);
        self.ingest.ingest(experiment_id, run_id.cloned(), traces).await
    }

    async fn start_trace(&self, info: &TraceInfo) -> Result<TraceInfo> {
        let mut tx = self.write.begin().await.context(|| format!("starting trace {}", info.trace_id))?;
        let experiment_key = active_experiment(&mut tx, info.experiment_id).await?;
        sqlx::query(
            "INSERT INTO traces (trace_id, experiment_id, client_request_id, request_time, execution_duration, state, \
             request_preview, response_preview, finalized) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) \
             ON CONFLICT (trace_id) DO UPDATE SET client_request_id = excluded.client_request_id, \
             request_time = excluded.request_time, execution_duration = excluded.execution_duration, \
             state = excluded.state, request_preview = excluded.request_preview, \
             response_preview = excluded.response_preview, finalized = 1",
        )
        .bind(info.trace_id.as_str())
        .bind(experiment_key)
        .bind(&info.client_request_id)
        .bind(info.request_time)
        .bind(info.execution_duration)
        .bind(info.state.as_str())
        .bind(&info.request_preview)
        .bind(&info.response_preview)
        .execute(&mut *tx)
        .await
        .context(|| format!("starting trace {}", info.trace_id))?;
        let tags: Vec<(String, String)> =
            info.tags.iter().filter(|(k, _)| !SYSTEM_TRACE_TAGS.contains(&k.as_str())).cloned().collect();
        set_trace_pairs(&mut tx, "trace_tags", info.trace_id.as_str(), &tags).await?;
        let mut metadata = info.metadata.clone();
        metadata.push((META_INFO_FINALIZED.to_string(), "true".to_string()));
        set_trace_pairs(&mut tx, "trace_metadata", info.trace_id.as_str(), &metadata).await?;
        for assessment in &info.assessments {
            insert_assessment(&mut tx, assessment, true).await?;
        }
        tx.commit().await.context(|| format!("starting trace {}", info.trace_id))?;
        self.get_trace_info(&info.trace_id).await
    }

    async fn get_trace_info(&self, trace_id: &TraceId) -> Result<TraceInfo> {
        let trace_id = trace_id.as_str();
        let mut found = self.load_traces(&[trace_id]).await?;
        found.pop().ok_or_else(|| trace_not_found(trace_id))
    }

    async fn get_trace_infos(&self, trace_ids: &[TraceId]) -> Result<Vec<TraceInfo>> {
        self.load_traces(trace_ids).await
    }

    fn stream_spans(&self, trace_id: &TraceId) -> BoxStream<'static, Result<StoredSpan>> {
        span_chunks(self.read.clone(), trace_id.to_string())
    }

    async fn search_traces(
        &self,
        experiment_ids: &[ExperimentId],
        query: &SearchQuery<TraceKey>,
    ) -> Result<Page<TraceInfo>> {
        let keys: Vec<i64> = experiment_ids.iter().map(|id| id.get()).collect();
        // A text clause picks its plan by how common its pattern is (see `text_plan`); one
        // rare pattern makes the page come from the index's few candidates, so the experiment
        // condition must then not drive the read through the time index.
        let mut plans = Vec::with_capacity(query.clauses.len());
        for clause in &query.clauses {
            plans.push(match text_pattern(clause) {
                Some(pattern) => Some(text_plan(&self.read, &pattern).await?),
                None => None,
            });
        }
        let from_candidates = plans.contains(&Some(TextPlan::Indexed));
        let experiment_column = if from_candidates { "+t.experiment_id" } else { "t.experiment_id" };
        // One statement: the page (max_results + 1 rows) is selected in order by a subquery
        // that SQLite runs as a co-routine, and the records with all their children come back
        // concatenated in that order as one JSON row: one hand-off to the connection's thread.
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT '[' || coalesce(group_concat({TRACE_RECORD}, ','), '') || ']' \
             FROM (SELECT t.* FROM traces t WHERE "
        ));
        if let [only] = keys.as_slice() {
            // One experiment (the common case): the time index then gives the order, and the
            // page stops after max_results rows instead of sorting every match.
            builder.push(format!("{experiment_column} = "));
            builder.push_bind(*only);
        } else {
            builder.push(format!("{experiment_column} IN (SELECT value FROM json_each("));
            builder.push_bind(serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into()));
            builder.push("))");
        }
        for (clause, plan) in query.clauses.iter().zip(plans) {
            builder.push(" AND ");
            match plan {
                Some(plan) => push_text_search(&mut builder, clause.comparator, &clause.value, plan)?,
                None => push_trace_clause(&mut builder, clause)?,
            }
        }
        builder.push(" ORDER BY ");
        for item in &query.order_by {
            push_trace_order_column(&mut builder, &item.key)?;
            builder.push(if item.ascending { " ASC, " } else { " DESC, " });
        }
        builder.push("t.request_time DESC, t.trace_id ASC");
        push_page(&mut builder, query.max_results, query.offset);
        builder.push(") t");
        let text: String = builder.build().fetch_one(&self.read).await.context(|| "searching traces")?.get(0);
        let (items, next_offset) = split_page(decode_traces(&text)?, query.max_results, query.offset);
        Ok(Page { items, next_offset })
    }

    async fn set_trace_tag(&self, trace_id: &TraceId, key: &str, value: &str) -> Result<()> {
        let trace_id = trace_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("setting tag {key} of trace {trace_id}"))?;
        require_trace(&mut tx, trace_id).await?;
        set_trace_pairs(&mut tx, "trace_tags", trace_id, &[(key.to_string(), value.to_string())]).await?;
        tx.commit().await.context(|| format!("setting tag {key} of trace {trace_id}"))
    }

    async fn delete_trace_tag(&self, trace_id: &TraceId, key: &str) -> Result<()> {
        let trace_id = trace_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("deleting tag {key} of trace {trace_id}"))?;
        require_trace(&mut tx, trace_id).await?;
        let result = sqlx::query("DELETE FROM trace_tags WHERE trace_id = ? AND key = ?")
            .bind(trace_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting tag {key} of trace {trace_id}"))?;
        if result.rows_affected() == 0 {
            return Err(Error::not_found(format!("No trace tag with key '{key}' for trace with ID '{trace_id}'")));
        }
        tx.commit().await.context(|| format!("deleting tag {key} of trace {trace_id}"))
    }

    async fn delete_traces(&self, experiment_id: ExperimentId, which: &TraceDeletion) -> Result<u64> {
        let key = experiment_id.get();
        let mut tx = self.write.begin().await.context(|| format!("deleting traces of experiment {experiment_id}"))?;
        let ids: Vec<String> = match which {
            TraceDeletion::Ids(ids) => sqlx::query(
                "SELECT trace_id FROM traces WHERE experiment_id = ? AND trace_id IN (SELECT value FROM json_each(?))",
            )
            .bind(key)
            .bind(json_list(ids))
            .fetch_all(&mut *tx)
            .await
            .context(|| format!("deleting traces of experiment {experiment_id}"))?
            .into_iter()
            .map(|r| r.get(0))
            .collect(),
            TraceDeletion::OlderThan { max_timestamp_millis, max_traces } => sqlx::query(
                "SELECT trace_id FROM traces WHERE experiment_id = ? AND request_time <= ? \
                 ORDER BY request_time ASC LIMIT ?",
            )
            .bind(key)
            .bind(max_timestamp_millis)
            .bind(max_traces.unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .context(|| format!("deleting traces of experiment {experiment_id}"))?
            .into_iter()
            .map(|r| r.get(0))
            .collect(),
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let list = json_list(&ids);
        sqlx::query(
            "DELETE FROM spans WHERE trace_key IN \
             (SELECT trace_key FROM traces WHERE trace_id IN (SELECT value FROM json_each(?)))",
        )
        .bind(&list)
        .execute(&mut *tx)
        .await
        .context(|| format!("deleting traces of experiment {experiment_id}"))?;
        // Tags, metadata, assessments and run links go with their trace (ON DELETE CASCADE); the
        // triggers that copy them onto the trace row then find no row to update.
        sqlx::query("DELETE FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))")
            .bind(&list)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting traces of experiment {experiment_id}"))?;
        tx.commit().await.context(|| format!("deleting traces of experiment {experiment_id}"))?;
        Ok(ids.len() as u64)
    }

    async fn link_traces_to_run(&self, trace_ids: &[TraceId], run_id: &RunId) -> Result<()> {
        let run_id = run_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("linking traces to run {run_id}"))?;
        let run = sqlx::query("SELECT 1 FROM runs WHERE run_uuid = ?")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("linking traces to run {run_id}"))?;
        if run.is_none() {
            return Err(Error::not_found(format!("Run with id={run_id} not found")));
        }
        for trace_id in trace_ids {
            // A trace not stored yet (its export is still on the way) gets the link when its
            // row is inserted: migration 0012's trigger moves it over.
            sqlx::query(
                "INSERT OR IGNORE INTO trace_run_links (trace_id, run_id) \
                 SELECT trace_id, ?2 FROM traces WHERE trace_id = ?1",
            )
            .bind(trace_id.as_str())
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("linking traces to run {run_id}"))?;
            sqlx::query(
                "INSERT OR IGNORE INTO pending_trace_run_links (trace_id, run_id) \
                 SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM traces WHERE trace_id = ?1)",
            )
            .bind(trace_id.as_str())
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("linking traces to run {run_id}"))?;
        }
        tx.commit().await.context(|| format!("linking traces to run {run_id}"))
    }

    async fn link_prompts(
        &self,
        trace_id: &TraceId,
        merge: &(dyn for<'a> Fn(Option<&'a str>) -> Result<String> + Send + Sync),
    ) -> Result<()> {
        let trace_id = trace_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("linking prompts to trace {trace_id}"))?;
        require_trace(&mut tx, trace_id).await?;
        let existing: Option<String> = sqlx::query("SELECT value FROM trace_tags WHERE trace_id = ? AND key = ?")
            .bind(trace_id)
            .bind(TAG_LINKED_PROMPTS)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("linking prompts to trace {trace_id}"))?
            .map(|r| r.get(0));
        let text = merge(existing.as_deref())?;
        set_trace_pairs(&mut tx, "trace_tags", trace_id, &[(TAG_LINKED_PROMPTS.to_string(), text)]).await?;
        tx.commit().await.context(|| format!("linking prompts to trace {trace_id}"))
    }

    async fn create_assessment(&self, assessment: &Assessment) -> Result<Assessment> {
        let mut tx =
            self.write.begin().await.context(|| {
                format!("creating assessment {} of trace {}", assessment.assessment_id, assessment.trace_id)
            })?;
        require_trace(&mut tx, assessment.trace_id.as_str()).await?;
        if let Some(old) = &assessment.overrides {
            let updated = sqlx::query("UPDATE assessments SET valid = 0 WHERE assessment_id = ? AND trace_id = ?")
                .bind(old)
                .bind(assessment.trace_id.as_str())
                .execute(&mut *tx)
                .await
                .context(|| {
                    format!("creating assessment {} of trace {}", assessment.assessment_id, assessment.trace_id)
                })?;
            if updated.rows_affected() == 0 {
                return Err(Error::not_found(format!(
                    "Assessment with ID '{old}' not found for trace '{}'",
                    assessment.trace_id
                )));
            }
            // Keep the stored body of the overridden one in step with its column.
            sqlx::query(
                "UPDATE assessments SET body = json_set(body, '$.valid', json('false')) WHERE assessment_id = ?",
            )
            .bind(old)
            .execute(&mut *tx)
            .await
            .context(|| format!("creating assessment {} of trace {}", assessment.assessment_id, assessment.trace_id))?;
        }
        insert_assessment(&mut tx, assessment, false).await?;
        tx.commit()
            .await
            .context(|| format!("creating assessment {} of trace {}", assessment.assessment_id, assessment.trace_id))?;
        self.get_assessment(&assessment.trace_id, &assessment.assessment_id).await
    }

    async fn get_assessment(&self, trace_id: &TraceId, assessment_id: &str) -> Result<Assessment> {
        let trace_id = trace_id.as_str();
        let row = sqlx::query(&format!(
            "SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE assessment_id = ? AND trace_id = ?"
        ))
        .bind(assessment_id)
        .bind(trace_id)
        .fetch_optional(&self.read)
        .await
        .context(|| format!("loading assessment {assessment_id} of trace {trace_id}"))?
        .ok_or_else(|| {
            Error::not_found(format!("Assessment with ID '{assessment_id}' not found for trace '{trace_id}'"))
        })?;
        assessment_from_row(&row)
    }

    async fn update_assessment(
        &self,
        trace_id: &TraceId,
        assessment_id: &str,
        update: &(dyn for<'a> Fn(&'a Assessment) -> Result<Assessment> + Send + Sync),
    ) -> Result<Assessment> {
        let trace_id = trace_id.as_str();
        let not_found =
            || Error::not_found(format!("Assessment with ID '{assessment_id}' not found for trace '{trace_id}'"));
        // The writer's transaction: no other write runs between the read and the write.
        let mut tx =
            self.write.begin().await.context(|| format!("updating assessment {assessment_id} of trace {trace_id}"))?;
        let select = format!("SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE assessment_id = ? AND trace_id = ?");
        let row = sqlx::query(&select)
            .bind(assessment_id)
            .bind(trace_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("updating assessment {assessment_id} of trace {trace_id}"))?
            .ok_or_else(not_found)?;
        let assessment = update(&assessment_from_row(&row)?)?;
        sqlx::query(
            "UPDATE assessments SET name = ?, kind = ?, value_text = ?, valid = ?, last_update_time = ?, body = ? \
             WHERE assessment_id = ? AND trace_id = ?",
        )
        .bind(&assessment.name)
        .bind(assessment.kind.as_str())
        .bind(&assessment.value_text)
        .bind(assessment.valid as i64)
        .bind(assessment.last_update_time)
        .bind(Value::Object(assessment.body.clone()).to_string())
        .bind(assessment_id)
        .bind(trace_id)
        .execute(&mut *tx)
        .await
        .context(|| format!("updating assessment {assessment_id} of trace {trace_id}"))?;
        let row = sqlx::query(&select)
            .bind(assessment_id)
            .bind(trace_id)
            .fetch_one(&mut *tx)
            .await
            .context(|| format!("updating assessment {assessment_id} of trace {trace_id}"))?;
        let stored = assessment_from_row(&row)?;
        tx.commit().await.context(|| format!("updating assessment {assessment_id} of trace {trace_id}"))?;
        Ok(stored)
    }

    async fn delete_assessment(&self, trace_id: &TraceId, assessment_id: &str) -> Result<()> {
        let trace_id = trace_id.as_str();
        let mut tx =
            self.write.begin().await.context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))?;
        let overrides: Option<String> =
            sqlx::query("SELECT overrides FROM assessments WHERE assessment_id = ? AND trace_id = ?")
                .bind(assessment_id)
                .bind(trace_id)
                .fetch_optional(&mut *tx)
                .await
                .context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))?
                .ok_or_else(|| {
                    Error::not_found(format!("Assessment with ID '{assessment_id}' not found for trace '{trace_id}'"))
                })?
                .get(0);
        sqlx::query("DELETE FROM assessments WHERE assessment_id = ? AND trace_id = ?")
            .bind(assessment_id)
            .bind(trace_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))?;
        // An override that goes away gives the overridden assessment back its validity.
        if let Some(previous) = overrides {
            sqlx::query(
                "UPDATE assessments SET valid = 1, body = json_set(body, '$.valid', json('true')) \
                 WHERE trace_id = ? AND assessment_id = ?",
            )
            .bind(trace_id)
            .bind(previous)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))?;
        }
        tx.commit().await.context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))
    }
}

async fn require_trace(conn: &mut SqliteConnection, trace_id: &str) -> Result<()> {
    let found = sqlx::query("SELECT 1 FROM traces WHERE trace_id = ?")
        .bind(trace_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading trace {trace_id}"))?;
    if found.is_none() {
        return Err(trace_not_found(trace_id));
    }
    Ok(())
}

async fn insert_assessment(conn: &mut SqliteConnection, assessment: &Assessment, ignore_existing: bool) -> Result<()> {
    let verb = if ignore_existing { "INSERT OR IGNORE" } else { "INSERT" };
    let result =
        sqlx::query(&format!("{verb} INTO assessments ({ASSESSMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(&assessment.assessment_id)
            .bind(assessment.trace_id.as_str())
            .bind(&assessment.name)
            .bind(assessment.kind.as_str())
            .bind(&assessment.value_text)
            .bind(assessment.valid as i64)
            .bind(&assessment.overrides)
            .bind(assessment.create_time)
            .bind(assessment.last_update_time)
            .bind(Value::Object(assessment.body.clone()).to_string())
            .execute(&mut *conn)
            .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if crate::error::is_unique_violation(&e) => {
            Err(Error::already_exists(format!("Assessment with ID '{}' already exists.", assessment.assessment_id)))
        }
        Err(e) => Err(e)
            .context(|| format!("inserting assessment {} of trace {}", assessment.assessment_id, assessment.trace_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(id: &str) -> TraceId {
        TraceId::from_stored(id)
    }
    use crate::test_store as store;
    use ferroflow_core::search::traces as grammar;
    use serde_json::json;

    fn span(trace: &str, id: &str, parent: Option<&str>, text: &str) -> SpanRecord {
        SpanRecord {
            trace_id: tid(trace),
            span_id: SpanId::from_stored(id),
            parent_span_id: parent.map(SpanId::from_stored),
            name: format!("span-{id}"),
            span_type: Some("LLM".into()),
            status: SpanStatus::Ok,
            status_message: String::new(),
            start_time_ns: 1_000_000_000,
            end_time_ns: 2_000_000_000,
            attributes: json!({"mlflow.spanInputs": {"q": text}}).as_object().cloned().unwrap(),
            token_usage: None,
            kind: SpanKind::Internal,
            inputs_text: parent.is_none().then(|| format!(r#"{{"q": {}}}"#, json!(text))),
            outputs_text: None,
            trace_state: None,
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    async fn text_search(store: &SqliteStore, pattern: &str) -> Vec<String> {
        let query = SearchQuery {
            clauses: grammar::parse_filter(&format!("trace.text LIKE '{pattern}'")).unwrap(),
            order_by: Vec::new(),
            max_results: 100,
            offset: 0,
        };
        let mut ids: Vec<String> = store
            .search_traces(&[ExperimentId::DEFAULT], &query)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|t| t.trace_id.into_string())
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn common_patterns_scan_newest_first_and_rare_ones_read_the_index() {
        use crate::text_index::{index_batch, text_plan, TextPlan};
        let (_dir, store) = store().await;
        // Three indexing passes, so "common" is in three documents and each "only-N" in one.
        for pass in 0..3 {
            let trace = format!("tr-{pass}");
            let spans =
                vec![span(&trace, &format!("000000000000000{}", pass + 1), None, &format!("common only-{pass}"))];
            ferroflow_core::traces::ingest_spans(&store, ExperimentId::DEFAULT, None, spans).await.unwrap();
            assert_eq!(index_batch(&store.read, &store.write).await.unwrap(), 1);
        }
        assert_eq!(text_plan(&store.read, "%common%").await.unwrap(), TextPlan::Scan);
        assert_eq!(text_plan(&store.read, "%only-1%").await.unwrap(), TextPlan::Indexed);
        assert_eq!(text_plan(&store.read, "%zebra%").await.unwrap(), TextPlan::Indexed);
        assert_eq!(text_plan(&store.read, "%x%").await.unwrap(), TextPlan::Scan, "no trigram: nothing to narrow");
        // Either way the answer is the same: every match, nothing else.
        assert_eq!(text_search(&store, "%common%").await, vec!["tr-0", "tr-1", "tr-2"]);
        assert_eq!(text_search(&store, "%ONLY-1%").await, vec!["tr-1"]);
        assert!(text_search(&store, "%zebra%").await.is_empty());
        // A rare and a common pattern together: the rare one drives, the common one checks.
        let query = SearchQuery {
            clauses: grammar::parse_filter("trace.text LIKE '%common%' AND trace.text LIKE '%only-2%'").unwrap(),
            order_by: Vec::new(),
            max_results: 100,
            offset: 0,
        };
        let page = store.search_traces(&[ExperimentId::DEFAULT], &query).await.unwrap();
        assert_eq!(page.items.iter().map(|t| t.trace_id.as_ref()).collect::<Vec<_>>(), vec!["tr-2"]);
    }

    #[tokio::test]
    async fn text_search_is_complete_before_and_after_indexing() {
        let (_dir, store) = store().await;
        let spans = vec![
            span("tr-a", "0000000000000001", None, "the quick brown fox"),
            span("tr-a", "0000000000000002", Some("0000000000000001"), "lazy dog"),
            span("tr-b", "0000000000000003", None, "a brown bear"),
        ];
        ferroflow_core::traces::ingest_spans(&store, ExperimentId::DEFAULT, None, spans).await.unwrap();
        // Not indexed yet: found by scanning the tail.
        assert_eq!(text_search(&store, "%brown%").await, vec!["tr-a", "tr-b"]);
        assert_eq!(crate::text_index::index_batch(&store.read, &store.write).await.unwrap(), 3);
        // Both traces share one document: the index narrows to them, the spans decide.
        assert_eq!(indexed_traces(&store, "brown").await, vec!["tr-a", "tr-b"]);
        assert_eq!(indexed_traces(&store, "lazy").await, vec!["tr-a", "tr-b"]);
        assert!(indexed_traces(&store, "zebra").await.is_empty());
        // Indexed: found through the index, none twice.
        assert_eq!(text_search(&store, "%brown%").await, vec!["tr-a", "tr-b"]);
        assert_eq!(text_search(&store, "%LAZY%").await, vec!["tr-a"]);
        assert_eq!(text_search(&store, "%k_brown%").await, vec!["tr-a"]);
        // Every trigram is in tr-a, but not the pattern: the spans decide.
        assert!(text_search(&store, "%fox quick%").await.is_empty());
        assert!(text_search(&store, "%zebra%").await.is_empty());
        // A re-sent span with other text: found by its new text at once, and the trace's
        // document is rebuilt on the next pass.
        let resent = vec![span("tr-b", "0000000000000003", None, "a grey wolf")];
        ferroflow_core::traces::ingest_spans(&store, ExperimentId::DEFAULT, None, resent).await.unwrap();
        assert_eq!(text_search(&store, "%brown%").await, vec!["tr-a"]);
        assert_eq!(text_search(&store, "%wolf%").await, vec!["tr-b"]);
        assert_eq!(crate::text_index::index_batch(&store.read, &store.write).await.unwrap(), 1);
        // tr-b has a document of its own now, and left the shared one.
        assert_eq!(indexed_traces(&store, "wolf").await, vec!["tr-b"]);
        assert_eq!(indexed_traces(&store, "brown").await, vec!["tr-a"]);
        assert_eq!(text_search(&store, "%wolf%").await, vec!["tr-b"]);
        // Deleting a trace deletes its documents.
        let deleted = store.delete_traces(ExperimentId::DEFAULT, &TraceDeletion::Ids(vec![tid("tr-a")])).await.unwrap();
        assert_eq!(deleted, 1);
        assert!(text_search(&store, "%fox%").await.is_empty());
        assert!(indexed_traces(&store, "fox").await.is_empty());
        let docs: i64 =
            sqlx::query("SELECT count(*) FROM trace_text_docs").fetch_one(&store.read).await.unwrap().get(0);
        assert_eq!(docs, 1);
        let check: String =
            sqlx::query("INSERT INTO trace_text (trace_text) VALUES ('integrity-check') RETURNING 'ok'")
                .fetch_one(&store.write)
                .await
                .map(|row| row.get(0))
                .unwrap_or_else(|e| e.to_string());
        assert_eq!(check, "ok");
    }

    /// Traces whose documents hold every trigram of `word`, by the index alone.
    async fn indexed_traces(store: &SqliteStore, word: &str) -> Vec<String> {
        let mut builder = QueryBuilder::new("SELECT t.trace_id FROM traces t WHERE ");
        crate::text_index::push_index_condition(&mut builder, word);
        builder.push(" ORDER BY t.trace_id");
        builder.build().fetch_all(&store.read).await.unwrap().iter().map(|row| row.get(0)).collect()
    }

    /// The ids a filter finds in experiment 0, newest first, paged through 100 at a time.
    async fn filtered(store: &SqliteStore, filter: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut offset = 0;
        loop {
            let query = SearchQuery {
                clauses: grammar::parse_filter(filter).unwrap(),
                order_by: Vec::new(),
                max_results: 100,
                offset,
            };
            let page = store.search_traces(&[ExperimentId::DEFAULT], &query).await.unwrap();
            ids.extend(page.items.into_iter().map(|t| t.trace_id.into_string()));
            match page.next_offset {
                Some(next) => offset = next,
                None => return ids,
            }
        }
    }

    #[tokio::test]
    async fn child_filters_agree_whether_they_match_few_or_many_traces() {
        let (_dir, store) = store().await;
        // 1,200 traces (newest = highest number); tag `k` and a feedback on every trace: `common`
        // / true on every second (600, past MEMBERSHIP_SET_LIMIT), `rare` / false on every 400th.
        let n = 1200;
        sqlx::query(
            "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?) \
             INSERT INTO traces (trace_id, experiment_id, request_time, state) \
             SELECT printf('tr-%04d', n), 0, 1000 + n, 'OK' FROM i",
        )
        .bind(n)
        .execute(&store.write)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO trace_tags (trace_id, key, value) SELECT trace_id, 'k', \
             CASE WHEN request_time % 400 = 0 THEN 'rare' WHEN request_time % 2 = 0 THEN 'common' ELSE 'other' END \
             FROM traces WHERE request_time % 7 != 0",
        )
        .execute(&store.write)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO assessments (assessment_id, trace_id, name, kind, value_text, valid, create_time, \
             last_update_time, body) SELECT 'a-' || trace_id, trace_id, 'ok', 'feedback', \
             CASE WHEN request_time % 400 = 0 THEN 'false' WHEN request_time % 2 = 0 THEN 'true' ELSE 'x' END, \
             1, 0, 0, '{}' FROM traces",
        )
        .execute(&store.write)
        .await
        .unwrap();
        let expect = |keep: &dyn Fn(i64) -> bool| -> Vec<String> {
            (0..n).rev().filter(|i| keep(1000 + i)).map(|i| format!("tr-{i:04}")).collect()
        };
        let tagged = |t: i64| t % 7 != 0;
        let rare = |t: i64| t % 400 == 0;
        let common = |t: i64| !rare(t) && t % 2 == 0;
        assert_eq!(filtered(&store, "tags.k = 'common'").await, expect(&|t| tagged(t) && common(t)));
        assert_eq!(filtered(&store, "tags.k = 'rare'").await, expect(&|t| tagged(t) && rare(t)));
        assert_eq!(filtered(&store, "tags.k != 'common'").await, expect(&|t| tagged(t) && !common(t)));
        assert_eq!(filtered(&store, "tags.k IS NULL").await, expect(&|t| !tagged(t)));
        assert_eq!(filtered(&store, "tags.k IS NOT NULL").await, expect(&tagged));
        assert!(filtered(&store, "tags.k = 'none'").await.is_empty());
        assert_eq!(filtered(&store, "feedback.ok = 'true'").await, expect(&common));
        assert_eq!(filtered(&store, "feedback.ok = 'false'").await, expect(&rare));
        assert!(filtered(&store, "feedback.other IS NOT NULL").await.is_empty());
        assert_eq!(filtered(&store, "feedback.other IS NULL").await.len(), n as usize);
    }

    #[tokio::test]
    async fn the_row_copies_follow_every_change_of_tags_metadata_and_assessments() {
        let (_dir, store) = store().await;
        ferroflow_core::traces::ingest_spans(
            &store,
            ExperimentId::DEFAULT,
            None,
            vec![span("tr-x", "0000000000000001", None, "q")],
        )
        .await
        .unwrap();
        // The copies must equal what the child tables say, in the same order.
        let assert_in_step = || async {
            let row = sqlx::query(
                "SELECT t.tags_json = (SELECT json_group_array(json_array(key, value)) FROM \
                   (SELECT key, value FROM trace_tags WHERE trace_id = t.trace_id ORDER BY key)), \
                 t.metadata_json = (SELECT json_group_array(json_array(key, value)) FROM \
                   (SELECT key, value FROM trace_metadata WHERE trace_id = t.trace_id ORDER BY key)), \
                 json_array_length(t.assessments_json) = (SELECT count(*) FROM assessments WHERE trace_id = t.trace_id) \
                 FROM traces t WHERE t.trace_id = 'tr-x'",
            )
            .fetch_one(&store.read)
            .await
            .unwrap();
            assert_eq!((row.get::<i64, _>(0), row.get::<i64, _>(1), row.get::<i64, _>(2)), (1, 1, 1));
        };
        // Keys and values that JSON has to escape, and one that contains another's text.
        let odd = r#"a","b"#;
        store.set_trace_tag(&tid("tr-x"), "env", "prod").await.unwrap();
        store.set_trace_tag(&tid("tr-x"), odd, "x\\\"y").await.unwrap();
        store.set_trace_tag(&tid("tr-x"), "note", r#"["env","dev"]"#).await.unwrap();
        assert_in_step().await;
        assert_eq!(filtered(&store, "tags.env = 'prod'").await, vec!["tr-x"]);
        assert!(filtered(&store, "tags.env = 'dev'").await.is_empty());
        assert_eq!(filtered(&store, &format!("tags.`{odd}` = 'x\\\"y'")).await, vec!["tr-x"]);
        store.set_trace_tag(&tid("tr-x"), "env", "dev").await.unwrap();
        assert_eq!(filtered(&store, "tags.env = 'dev'").await, vec!["tr-x"]);
        assert!(filtered(&store, "tags.env = 'prod'").await.is_empty());
        store.delete_trace_tag(&tid("tr-x"), "env").await.unwrap();
        assert!(filtered(&store, "tags.env = 'dev'").await.is_empty());
        assert_in_step().await;
        let mut info = store.get_trace_info(&tid("tr-x")).await.unwrap();
        info.metadata = vec![("mlflow.trace.user".into(), "ann".into())];
        store.start_trace(&info).await.unwrap();
        assert_in_step().await;
        assert_eq!(filtered(&store, "metadata.`mlflow.trace.user` = 'ann'").await, vec!["tr-x"]);
        let body = json!({"assessment_name": "ok", "feedback": {"value": true}, "source": {"source_type": "HUMAN"}});
        let new = ferroflow_core::assessments::new_assessment(&tid("tr-x"), body.as_object().cloned().unwrap(), false)
            .unwrap();
        let created = store.create_assessment(&new).await.unwrap();
        assert_in_step().await;
        assert_eq!(filtered(&store, "feedback.ok = 'true'").await, vec!["tr-x"]);
        let invalid = json!({"valid": false}).as_object().cloned().unwrap();
        let update = |stored: &Assessment| ferroflow_core::assessments::apply_update(stored, &invalid, "valid");
        let updated = store.update_assessment(&tid("tr-x"), &created.assessment_id, &update).await.unwrap();
        assert!(!updated.valid);
        assert_in_step().await;
        assert!(filtered(&store, "feedback.ok = 'true'").await.is_empty());
        store.delete_assessment(&tid("tr-x"), &created.assessment_id).await.unwrap();
        assert_in_step().await;
        assert!(store.get_trace_info(&tid("tr-x")).await.unwrap().assessments.is_empty());
    }

    #[tokio::test]
    async fn corrupt_stored_json_is_an_error_not_an_empty_value() {
        let (_dir, store) = store().await;
        ferroflow_core::traces::ingest_spans(
            &store,
            ExperimentId::DEFAULT,
            None,
            vec![span("tr-y", "0000000000000001", None, "q")],
        )
        .await
        .unwrap();
        let body = json!({"assessment_name": "ok", "feedback": {"value": true}, "source": {"source_type": "HUMAN"}});
        let new = ferroflow_core::assessments::new_assessment(&tid("tr-y"), body.as_object().cloned().unwrap(), false)
            .unwrap();
        let created = store.create_assessment(&new).await.unwrap();
        sqlx::query("UPDATE assessments SET body = '{\"cut' WHERE assessment_id = ?")
            .bind(&created.assessment_id)
            .execute(&store.write)
            .await
            .unwrap();
        let error = store.get_assessment(&tid("tr-y"), &created.assessment_id).await.unwrap_err();
        assert_eq!(error.code, ferroflow_core::ErrorCode::InternalError);
        assert!(error.message.contains("corrupt stored body of assessment"), "{}", error.message);
        // The row's copy carries the damaged body too: the trace does not read as empty.
        let error = store.get_trace_info(&tid("tr-y")).await.unwrap_err();
        assert!(error.message.contains("corrupt stored trace records"), "{}", error.message);
    }

    #[tokio::test]
    async fn spans_before_and_after_the_trace_record_make_one_trace() {
        let (_dir, store) = store().await;
        ferroflow_core::traces::ingest_spans(
            &store,
            ExperimentId::DEFAULT,
            None,
            vec![span("tr-c", "0000000000000002", Some("0000000000000001"), "child")],
        )
        .await
        .unwrap();
        let info = TraceInfo {
            trace_id: tid("tr-c"),
            experiment_id: ExperimentId::DEFAULT,
            client_request_id: None,
            request_time: 5,
            execution_duration: Some(7),
            state: TraceState::Ok,
            request_preview: Some("client preview".into()),
            response_preview: None,
            metadata: vec![("k".into(), "v".into())],
            tags: vec![("env".into(), "test".into()), (TAG_SPANS_LOCATION.into(), "ARTIFACT_REPO".into())],
            assessments: Vec::new(),
        };
        store.start_trace(&info).await.unwrap();
        store.start_trace(&info).await.unwrap();
        ferroflow_core::traces::ingest_spans(
            &store,
            ExperimentId::DEFAULT,
            None,
            vec![span("tr-c", "0000000000000001", None, "root")],
        )
        .await
        .unwrap();
        let stored = store.get_trace_info(&tid("tr-c")).await.unwrap();
        assert_eq!(stored.request_time, 5);
        assert_eq!(stored.request_preview.as_deref(), Some("client preview"));
        assert_eq!(stored.tag("env"), Some("test"));
        assert_eq!(stored.tag(TAG_SPANS_LOCATION), Some(SPANS_IN_TRACKING_STORE));
        assert_eq!(stored.metadata_value(META_INFO_FINALIZED), Some("true"));
        let spans: Vec<StoredSpan> = store.stream_spans(&tid("tr-c")).try_collect().await.unwrap();
        assert_eq!(spans.len(), 2);
    }

    #[tokio::test]
    async fn span_events_links_and_state_round_trip_and_old_rows_read_back() {
        use ferroflow_core::store::OverviewStore;
        let (_dir, store) = store().await;
        let mut root = span("tr-e", "0000000000000001", None, "root");
        root.trace_state = Some("vendor=1".into());
        root.events = vec![SpanEvent {
            name: "exception".into(),
            time_unix_nano: 7,
            attributes: vec![("exception.type".into(), json!("ValueError")), ("n".into(), json!(3))],
        }];
        root.links = vec![SpanLink { trace_id: vec![9; 16], span_id: vec![1; 8], attributes: Vec::new() }];
        let child = span("tr-e", "0000000000000002", Some("0000000000000001"), "child");
        ferroflow_core::traces::ingest_spans(&store, ExperimentId::DEFAULT, None, vec![root.clone(), child])
            .await
            .unwrap();
        let spans: Vec<StoredSpan> = store.stream_spans(&tid("tr-e")).try_collect().await.unwrap();
        let stored_root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        assert_eq!(
            (&stored_root.trace_state, &stored_root.events, &stored_root.links),
            (&root.trace_state, &root.events, &root.links)
        );
        let stored_child = spans.iter().find(|s| s.parent_span_id.is_some()).unwrap();
        assert!(stored_child.events.is_empty() && stored_child.links.is_empty() && stored_child.trace_state.is_none());

        // A row written before the details were typed: the server's own JSON in `extra`.
        let old = r#"{"events":[{"time_unix_nano":1700000000000000000,"name":"exception","attributes":[{"key":"exception.message","value":{"string_value":"bad"}},{"key":"x","value":{"array_value":{"values":[{"int_value":1},{}]}}}]}],"links":[{"trace_id":"AAECAwQFBgcICQoLDA0ODw==","span_id":"AQEBAQEBAQE=","attributes":[]}]}"#;
        sqlx::query("UPDATE spans SET extra = ? WHERE span_id = '0000000000000002'")
            .bind(old)
            .execute(&store.write)
            .await
            .unwrap();
        let expected_events = vec![SpanEvent {
            name: "exception".into(),
            time_unix_nano: 1_700_000_000_000_000_000,
            attributes: vec![("exception.message".into(), json!("bad")), ("x".into(), json!([1, null]))],
        }];
        let expected_links =
            vec![SpanLink { trace_id: (0..16).collect(), span_id: vec![1; 8], attributes: Vec::new() }];
        let spans: Vec<StoredSpan> = store.stream_spans(&tid("tr-e")).try_collect().await.unwrap();
        let old_child = spans.iter().find(|s| s.parent_span_id.is_some()).unwrap();
        assert_eq!(
            (&old_child.trace_state, &old_child.events, &old_child.links),
            (&None, &expected_events, &expected_links)
        );
        let one = store.get_span(&tid("tr-e"), &SpanId::from_stored("0000000000000002")).await.unwrap();
        assert_eq!((one.events, one.links), (expected_events, expected_links));

        // A damaged column is an error, never a span without its events.
        sqlx::query("UPDATE spans SET extra = '{oops' WHERE span_id = '0000000000000002'")
            .execute(&store.write)
            .await
            .unwrap();
        let read: Result<Vec<StoredSpan>> = store.stream_spans(&tid("tr-e")).try_collect().await;
        assert!(read.unwrap_err().to_string().contains("0000000000000002"));
    }

    /// A trace larger than one read chunk comes back whole, in start order (ties by span id),
    /// every text byte-equal, whatever it holds: the packed chunk's separators, digits, NUL,
    /// multibyte characters, empty and NULL values.
    #[tokio::test]
    async fn spans_of_many_chunks_read_back_whole_and_byte_equal() {
        let (_dir, store) = store().await;
        let odd = ["", ";", "1,2;3", "\0nul\0", "é€😀", "-1;", "a\\\"b"];
        let count = 2 * SPAN_CHUNK as usize + 7;
        let written: Vec<SpanRecord> = (0..count)
            .map(|i| {
                let text = odd[i % odd.len()];
                let parent = (i > 0).then(|| "0000000000000000".to_string());
                let mut s = span("tr-big", &format!("{i:016x}"), parent.as_deref(), text);
                s.name = format!("{text}{i}");
                s.status_message = text.to_string();
                s.status = if i % 2 == 0 { SpanStatus::Ok } else { SpanStatus::Error };
                s.kind = SpanKind::from_number((i % 6) as i64);
                // Equal start times, so the order and the chunk boundaries depend on the ids.
                s.start_time_ns = 1_000 + (count - i) as i64 / 3;
                s.end_time_ns = s.start_time_ns + i as i64;
                s
            })
            .collect();
        ferroflow_core::traces::ingest_spans(&store, ExperimentId::DEFAULT, None, written.clone()).await.unwrap();
        let read: Vec<StoredSpan> = store.stream_spans(&tid("tr-big")).try_collect().await.unwrap();
        let mut expected = written;
        expected.sort_by(|a, b| (a.start_time_ns, a.span_id.as_str()).cmp(&(b.start_time_ns, b.span_id.as_str())));
        assert_eq!(read.len(), expected.len());
        for (got, want) in read.iter().zip(&expected) {
            assert_eq!(got.span_id, want.span_id);
            assert_eq!(got.parent_span_id, want.parent_span_id);
            assert_eq!((&got.name, &got.status_message), (&want.name, &want.status_message));
            assert_eq!((got.start_time_ns, got.end_time_ns), (want.start_time_ns, want.end_time_ns));
            assert_eq!((got.status, got.kind), (want.status, want.kind));
            let attributes: Map<String, Value> = serde_json::from_str(&got.attributes).unwrap();
            assert_eq!(attributes, want.attributes);
        }
    }

    /// A packed chunk that does not follow its layout is an error naming the trace, never a
    /// panic or a span cut short.
    #[test]
    fn a_damaged_packed_chunk_is_an_error() {
        let good = "5,1,9,1,-1,2,2,0,2,-1;aroOK{}";
        let span = &unpack_spans(good, "tr-x").unwrap()[0];
        assert_eq!((span.span_id.as_str(), span.name.as_str(), span.end_time_ns), ("a", "ro", 9));
        for damaged in [
            "5,1,9,1,-1,2,2,0,2,-1;aroOK{",
            "5,1,9,1,-1,2,2,0,2;aroOK{}",
            "5,1,x,1,-1,2,2,0,2,-1;aroOK{}",
            "5,1,9,1,-2,2,2,0,2,-1;aroOK{}",
            "5,1,9,1,-1,99999999999999999999,2,0,2,-1;aroOK{}",
            "5,1,9,1,-1,1,2,0,2,-1;é",
            "5,1,9,1,-1,2,2,0,2,-1;aroOK{}5",
        ] {
            let error = unpack_spans(damaged, "tr-x").unwrap_err();
            assert!(error.message.contains("tr-x"), "{damaged}: {}", error.message);
        }
    }

    /// An enum column holding a value the store never writes is corruption: an internal error
    /// naming what it was, never a default answered as if it were stored.
    #[tokio::test]
    async fn an_unknown_stored_enum_value_is_an_error() {
        use ferroflow_core::store::TrackingStore;
        let (_dir, store) = store().await;
        let root = span("tr-c", "0000000000000001", None, "root");
        ferroflow_core::traces::ingest_spans(&store, ExperimentId::DEFAULT, None, vec![root]).await.unwrap();
        sqlx::query("UPDATE traces SET state = 'BOGUS'").execute(&store.write).await.unwrap();
        let error = store.get_trace_info(&tid("tr-c")).await.unwrap_err();
        assert_eq!(error.code, ferroflow_core::ErrorCode::InternalError);
        assert!(error.message.contains("trace state") && error.message.contains("BOGUS"), "{}", error.message);

        let run = store
            .create_run(&NewRun {
                experiment_id: ExperimentId::DEFAULT,
                user_id: "u".into(),
                run_name: None,
                start_time: 1,
                tags: Vec::new(),
            })
            .await
            .unwrap();
        sqlx::query("UPDATE runs SET status = 'NOPE'").execute(&store.write).await.unwrap();
        let error = store.get_run(&run.info.run_id).await.unwrap_err();
        assert!(error.message.contains("run status") && error.message.contains("NOPE"), "{}", error.message);
    }
}
