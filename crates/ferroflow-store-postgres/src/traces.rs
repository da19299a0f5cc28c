//! Traces, spans and assessments in PostgreSQL: [`TraceStore`] for [`PostgresStore`], the
//! SQLite store's (`ferroflow-store-sqlite/src/traces.rs`) in PostgreSQL's dialect.
//!
//! Ingest writes a whole batch in one transaction with multi-row inserts, traces and spans in
//! key order so that two servers ingesting the same traces lock rows in the same order (no
//! deadlock). A search is one statement: each trace of the page comes back as one JSON value
//! with its tags, metadata and assessments (see [`TRACE_RECORD`]), built by subqueries at read
//! time (no copies kept by triggers), decoded straight into typed records. `trace.text` is a
//! case-insensitive match on span names and attributes through `pg_trgm` GIN indexes, kept by
//! PostgreSQL in the writing transaction: no background indexer, nothing for replicas to share.

use crate::error::{corrupt, stored_enum, Context};
use crate::sql::{
    push_numeric_comparison, push_page, push_string_comparison, push_string_comparison_on, rows_per_statement,
    split_page, upsert_pairs, OnConflict,
};
use crate::PostgresStore;
use ferroflow_core::entities::*;
use ferroflow_core::search::traces::{SpanField, TraceAttribute, TraceKey};
use ferroflow_core::search::{Clause, Comparator, Literal};
use ferroflow_core::store::{SearchQuery, TraceStore};
use ferroflow_core::{trace_metrics, Error, Result};
use ferroflow_store_common::span_details;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::collections::HashMap;

/// Spans per chunk when streaming a trace's spans.
const SPAN_CHUNK: i64 = 2000;

fn trace_not_found(trace_id: &str) -> Error {
    Error::not_found(format!("Trace with ID '{trace_id}' not found."))
}

/// One trace record as a JSON value, for a `traces` row in scope as `t`: its scalar fields,
/// then its tags and metadata (`[[key, value], ...]` by key) and assessments (see
/// [`TraceRecord`]), each built by an index-driven subquery. Bodies are stored JSON text, cast
/// to `json` (which keeps the text as it is, key order included).
const TRACE_RECORD: &str = "json_build_array(t.trace_id, t.experiment_id, t.client_request_id, t.request_time, \
       t.execution_duration, t.state, t.request_preview, t.response_preview, \
       (SELECT e.artifact_location FROM experiments e WHERE e.experiment_id = t.experiment_id), t.has_spans, \
       (SELECT coalesce(json_agg(json_build_array(x.key, x.value) ORDER BY x.key), '[]') \
          FROM trace_tags x WHERE x.trace_id = t.trace_id), \
       (SELECT coalesce(json_agg(json_build_array(x.key, x.value) ORDER BY x.key), '[]') \
          FROM trace_metadata x WHERE x.trace_id = t.trace_id), \
       (SELECT coalesce(json_agg(json_build_array(a.assessment_id, a.name, a.kind, a.value_text, a.valid, \
              a.overrides, a.create_time, a.last_update_time, a.body::json) ORDER BY a.create_time, a.seq), '[]') \
          FROM assessments a WHERE a.trace_id = t.trace_id))::text";

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

/// The records of rows whose first column is a [`TRACE_RECORD`].
fn decode_traces(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<TraceInfo>> {
    rows.iter()
        .map(|row| {
            serde_json::from_str::<TraceRecord>(row.get::<&str, _>(0))
                .map_err(|e| corrupt("trace record", e))?
                .into_trace()
        })
        .collect()
}

fn assessment_from_row(row: &sqlx::postgres::PgRow) -> Result<Assessment> {
    let body: Map<String, Value> = serde_json::from_str(row.get::<&str, _>(9))
        .map_err(|e| corrupt(format_args!("body of assessment {}", row.get::<&str, _>(0)), e))?;
    Ok(Assessment {
        assessment_id: row.get(0),
        trace_id: TraceId::from_stored(row.get::<String, _>(1)),
        name: row.get(2),
        kind: stored_enum("assessment kind", row.get::<&str, _>(3), AssessmentKind::parse)?,
        value_text: row.get(4),
        valid: row.get::<i32, _>(5) != 0,
        overrides: row.get(6),
        create_time: row.get(7),
        last_update_time: row.get(8),
        body,
    })
}

const ASSESSMENT_COLUMNS: &str =
    "assessment_id, trace_id, name, kind, value_text, valid, overrides, create_time, last_update_time, body";

/// The key of an experiment that may take traces: it must exist and be active.
async fn active_experiment(conn: &mut PgConnection, experiment_id: ExperimentId) -> Result<i64> {
    crate::tracking::require_active_experiment(conn, experiment_id, " to log traces").await?;
    let key = experiment_id.get();
    Ok(key)
}

fn artifact_location_for(location: &str, trace_id: &str) -> String {
    format!("{}/traces/{trace_id}/artifacts", location.trim_end_matches('/'))
}

/// Sets key/value pairs (tags or metadata) of one trace, replacing values already there.
async fn set_trace_pairs(
    conn: &mut PgConnection,
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
    conn: &mut PgConnection,
    experiment_key: i64,
    traces: &[TraceSpans],
    keys: &mut HashMap<String, i64>,
) -> Result<()> {
    let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(
        "INSERT INTO traces (trace_id, experiment_id, request_time, execution_duration, state, request_preview, \
         response_preview, root_seen, has_spans) ",
    );
    // Key order: concurrent batches over the same traces lock their rows in the same order.
    let mut ordered: Vec<&TraceSpans> = traces.iter().collect();
    ordered.sort_unstable_by(|a, b| a.trace_id.as_str().cmp(b.trace_id.as_str()));
    ordered.dedup_by(|a, b| a.trace_id == b.trace_id);
    builder.push_values(ordered, |mut b, trace| {
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
             WHEN EXCLUDED.root_seen = 1 THEN EXCLUDED.request_time \
             WHEN traces.root_seen = 1 THEN traces.request_time \
             ELSE least(traces.request_time, EXCLUDED.request_time) END, \
         execution_duration = CASE WHEN traces.finalized = 0 AND EXCLUDED.root_seen = 1 \
             THEN EXCLUDED.execution_duration ELSE traces.execution_duration END, \
         state = CASE WHEN traces.finalized = 0 AND EXCLUDED.root_seen = 1 THEN EXCLUDED.state ELSE traces.state END, \
         request_preview = CASE WHEN traces.finalized = 0 AND EXCLUDED.root_seen = 1 \
             THEN EXCLUDED.request_preview ELSE traces.request_preview END, \
         response_preview = CASE WHEN traces.finalized = 0 AND EXCLUDED.root_seen = 1 \
             THEN EXCLUDED.response_preview ELSE traces.response_preview END, \
         root_seen = greatest(traces.root_seen, EXCLUDED.root_seen) \
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
async fn insert_root_metadata(conn: &mut PgConnection, traces: &[TraceSpans]) -> Result<()> {
    let rows: Vec<(&str, &str, &str)> = traces
        .iter()
        .filter_map(|t| t.root.as_ref().map(|r| (t, r)))
        .flat_map(|(t, r)| r.metadata.iter().map(move |(k, v)| (t.trace_id.as_str(), k.as_str(), v.as_str())))
        .collect();
    for chunk in rows.chunks(rows_per_statement(3)) {
        let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO trace_metadata (trace_id, key, value) \
             SELECT v.trace_id, v.key, v.value FROM (",
        );
        builder.push_values(chunk, |mut row, &(trace_id, key, value)| {
            row.push_bind(trace_id).push_bind(key).push_bind(value);
        });
        builder.push(
            ") v (trace_id, key, value) JOIN traces t ON t.trace_id = v.trace_id WHERE t.finalized = 0 \
             ON CONFLICT DO NOTHING",
        );
        builder.build().execute(&mut *conn).await.context(|| "inserting the root metadata of traces")?;
    }
    Ok(())
}

async fn insert_spans(conn: &mut PgConnection, spans: &[(i64, &SpanRecord)]) -> Result<()> {
    // Key order (as the trace rows), and a span sent twice in one batch written once (its
    // last copy): one statement may not touch a row twice.
    let mut spans: Vec<(usize, i64, &SpanRecord)> =
        spans.iter().enumerate().map(|(i, (key, span))| (i, *key, *span)).collect();
    spans.sort_by(|a, b| {
        (a.1, a.2.span_id.as_str(), std::cmp::Reverse(a.0)).cmp(&(b.1, b.2.span_id.as_str(), std::cmp::Reverse(b.0)))
    });
    spans.dedup_by(|a, b| a.1 == b.1 && a.2.span_id == b.2.span_id);
    let spans: Vec<(i64, &SpanRecord)> = spans.into_iter().map(|(_, key, span)| (key, span)).collect();
    for chunk in spans.chunks(rows_per_statement(20)) {
        let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO spans (trace_key, span_id, parent_span_id, name, span_type, kind, status, status_message, \
             start_time_ns, end_time_ns, input_tokens, output_tokens, total_tokens, attributes, extra, \
             model_name, model_provider, input_cost, output_cost, total_cost) ",
        );
        builder.push_values(chunk, |mut b, (trace_key, span)| {
            let tokens = span.token_usage;
            // What the spans view of trace metrics groups and sums by (migration 0009).
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
                .push_bind(span_details::encode(span.trace_state.as_deref(), &span.events, &span.links))
                .push_bind(analytics.model_name)
                .push_bind(analytics.model_provider)
                .push_bind(analytics.input_cost)
                .push_bind(analytics.output_cost)
                .push_bind(analytics.total_cost);
        });
        // A re-sent span replaces itself (exporters retry).
        builder.push(
            " ON CONFLICT (trace_key, span_id) DO UPDATE SET parent_span_id = EXCLUDED.parent_span_id, \
             name = EXCLUDED.name, span_type = EXCLUDED.span_type, kind = EXCLUDED.kind, status = EXCLUDED.status, \
             status_message = EXCLUDED.status_message, \
             start_time_ns = EXCLUDED.start_time_ns, end_time_ns = EXCLUDED.end_time_ns, \
             input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens, \
             total_tokens = EXCLUDED.total_tokens, attributes = EXCLUDED.attributes, extra = EXCLUDED.extra, \
             model_name = EXCLUDED.model_name, model_provider = EXCLUDED.model_provider, \
             input_cost = EXCLUDED.input_cost, output_cost = EXCLUDED.output_cost, total_cost = EXCLUDED.total_cost",
        );
        builder.build().execute(&mut *conn).await.context(|| format!("inserting {} spans", spans.len()))?;
    }
    Ok(())
}

impl PostgresStore {
    /// Trace records with their tags, metadata and assessments, in the order of `ids` (missing
    /// ids left out), from one query that returns one JSON row.
    async fn load_traces<S: AsRef<str> + Sync>(&self, ids: &[S]) -> Result<Vec<TraceInfo>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
        let rows = sqlx::query(&format!(
            "SELECT {TRACE_RECORD} FROM unnest($1::text[]) WITH ORDINALITY j (id, ord) \
             JOIN traces t ON t.trace_id = j.id ORDER BY j.ord"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .context(|| match ids.as_slice() {
            [id] => format!("loading trace {id}"),
            _ => format!("loading {} traces", ids.len()),
        })?;
        decode_traces(&rows)
    }
}

pub(crate) fn push_trace_clause(builder: &mut QueryBuilder<'_, Postgres>, clause: &Clause<TraceKey>) -> Result<()> {
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
    builder: &mut QueryBuilder<'_, Postgres>,
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
        TraceAttribute::Text => push_text_search(builder, comparator, value),
    }
}

/// `run_id`: the run named in the trace's metadata or linked to it; `!=` and `NOT IN` negate
/// the whole test, so a trace with neither matches them.
fn push_run_id_clause(builder: &mut QueryBuilder<'_, Postgres>, comparator: Comparator, value: &Literal) -> Result<()> {
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
fn push_prompt_clause(builder: &mut QueryBuilder<'_, Postgres>, value: &Literal) -> Result<()> {
    let text = value.as_text().unwrap_or_default();
    let (name, version) = text.rsplit_once('/').unwrap_or((text.as_str(), ""));
    // `ferroflow_json_array` (migration 0006) is the tag's array, or an empty one when the
    // text is not a JSON array: a tag a client overwrote never fails the search.
    builder.push(
        "EXISTS (SELECT 1 FROM trace_tags p, jsonb_array_elements(ferroflow_json_array(p.value)) j \
         WHERE p.trace_id = t.trace_id AND p.key = ",
    );
    builder.push_bind(TAG_LINKED_PROMPTS);
    builder.push(" AND j ->> 'name' = ");
    builder.push_bind(name.to_string());
    builder.push(" AND j ->> 'version' = ");
    builder.push_bind(version.to_string());
    builder.push(")");
    Ok(())
}

/// A span field: some span of the trace has it.
fn push_span_clause(
    builder: &mut QueryBuilder<'_, Postgres>,
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
            // The member named by the bound key (`->>` takes any key, quotes and all).
            let attribute = |builder: &mut QueryBuilder<'_, Postgres>| {
                builder.push("(s.attributes::jsonb ->> ");
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
    builder: &mut QueryBuilder<'_, Postgres>,
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
                // Text that is not a number compares as 0, as SQLite's CAST makes it.
                push_numeric_comparison(builder, "ferroflow_to_float(a.value_text)", comparator, value)?;
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
    builder: &mut QueryBuilder<'_, Postgres>,
    table: &str,
    key: &str,
    comparator: Comparator,
    value: &Literal,
) -> Result<()> {
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

/// Whether trace `t` has a row in `table` (aliased `alias`, with a `trace_id` column) that
/// meets the condition `condition` pushes; `NOT` of that when `negated`. PostgreSQL's planner
/// chooses between a semi-join over the child table's value index and a probe per candidate
/// itself (the SQLite store decides that at run time).
fn push_membership(
    builder: &mut QueryBuilder<'_, Postgres>,
    table: &str,
    alias: &str,
    negated: bool,
    condition: impl Fn(&mut QueryBuilder<'_, Postgres>) -> Result<()>,
) -> Result<()> {
    builder.push(if negated { "NOT " } else { "" });
    builder.push(format!("EXISTS (SELECT 1 FROM {table} WHERE {alias}.trace_id = t.trace_id AND "));
    condition(builder)?;
    builder.push(")");
    Ok(())
}

/// `trace.text LIKE '%x%'`: a span of the trace whose name or attributes match, ignoring
/// case (as SQLite's LIKE does for the SQLite store), through the `pg_trgm` GIN indexes.
fn push_text_search(builder: &mut QueryBuilder<'_, Postgres>, comparator: Comparator, value: &Literal) -> Result<()> {
    let pattern = value.as_text().ok_or_else(|| Error::invalid("trace.text expects a string pattern"))?;
    if !matches!(comparator, Comparator::Like | Comparator::ILike) {
        return Err(Error::invalid("trace.text supports only LIKE and ILIKE"));
    }
    builder.push("EXISTS (SELECT 1 FROM spans s WHERE s.trace_key = t.trace_key AND (s.name ILIKE ");
    builder.push_bind(pattern.clone());
    builder.push(" OR s.attributes ILIKE ");
    builder.push_bind(pattern);
    builder.push("))");
    Ok(())
}

/// Pushes the expression a trace is ordered by; a tag or metadata key is bound.
fn push_trace_order_column(builder: &mut QueryBuilder<'_, Postgres>, key: &TraceKey) -> Result<()> {
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

const SPAN_COLUMNS: &str =
    "start_time_ns, span_id, parent_span_id, name, kind, end_time_ns, status, status_message, attributes, extra";

/// Streams a trace's spans in start order, a chunk at a time (keyset paging).
fn span_chunks(pool: PgPool, trace_id: String) -> BoxStream<'static, Result<StoredSpan>> {
    let state = (pool, trace_id, None::<(i64, String)>, false);
    futures::stream::try_unfold(state, |(pool, trace_id, after, done)| async move {
        if done {
            return Ok::<_, Error>(None);
        }
        let rows = match &after {
            None => sqlx::query(&format!(
                "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_key = (SELECT trace_key FROM traces WHERE trace_id = $1) \
                 ORDER BY start_time_ns, span_id LIMIT $2"
            ))
            .bind(&trace_id)
            .bind(SPAN_CHUNK)
            .fetch_all(&pool)
            .await
            .context(|| format!("loading spans of trace {trace_id}"))?,
            Some((start, span_id)) => sqlx::query(&format!(
                "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_key = (SELECT trace_key FROM traces WHERE trace_id = $1) \
                 AND (start_time_ns, span_id) > ($2, $3) ORDER BY start_time_ns, span_id LIMIT $4"
            ))
            .bind(&trace_id)
            .bind(start)
            .bind(span_id)
            .bind(SPAN_CHUNK)
            .fetch_all(&pool)
            .await
            .context(|| format!("loading spans of trace {trace_id}"))?,
        };
        let finished = (rows.len() as i64) < SPAN_CHUNK;
        let next = rows.last().map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)));
        let spans: Vec<StoredSpan> = rows
            .iter()
            .map(|row| {
                let span_id: String = row.get(1);
                let details = span_details::decode(row.get(9), &span_id)?;
                Ok(StoredSpan {
                    trace_id: TraceId::from_stored(trace_id.clone()),
                    start_time_ns: row.get(0),
                    span_id: SpanId::from_stored(span_id),
                    parent_span_id: row.get::<Option<String>, _>(2).map(SpanId::from_stored),
                    name: row.get(3),
                    kind: SpanKind::from_number(row.get(4)),
                    end_time_ns: row.get(5),
                    status: SpanStatus::parse(row.get::<&str, _>(6)),
                    status_message: row.get(7),
                    attributes: row.get(8),
                    trace_state: details.trace_state,
                    events: details.events,
                    links: details.links,
                })
            })
            .collect::<Result<_>>()?;
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some((spans, (pool, trace_id, next, finished))))
    })
    .map_ok(|items| futures::stream::iter(items.into_iter().map(Ok::<StoredSpan, Error>)))
    .try_flatten()
    .boxed()
}

#[async_trait::async_trait]
impl TraceStore for PostgresStore {
    async fn ingest_spans(
        &self,
        experiment_id: ExperimentId,
        run_id: Option<&RunId>,
        traces: Vec<TraceSpans>,
    ) -> Result<()> {
        // PostgreSQL takes concurrent writers itself: each batch commits on its own.
        let traces = traces.as_slice();
        let run_id = run_id.map(RunId::as_str);
        let ingesting = || format!("ingesting {} traces into experiment {experiment_id}", traces.len());
        let mut tx = self.pool.begin().await.context(ingesting)?;
        let experiment_key = active_experiment(&mut tx, experiment_id).await?;
        // A handful of statements per batch, however many traces it holds.
        let mut keys = HashMap::with_capacity(traces.len());
        for chunk in traces.chunks(100) {
            upsert_trace_rows(&mut tx, experiment_key, chunk, &mut keys).await?;
            let root_tags: Vec<(&str, &str, &str)> = chunk
                .iter()
                .filter_map(|t| t.root.as_ref().map(|r| (t, r)))
                .flat_map(|(t, r)| r.tags.iter().map(move |(k, v)| (t.trace_id.as_str(), k.as_str(), v.as_str())))
                .collect();
            upsert_pairs(&mut tx, "trace_tags", &["trace_id"], &root_tags, OnConflict::Replace).await?;
            if let Some(run_id) = run_id {
                let mut builder: QueryBuilder<Postgres> =
                    QueryBuilder::new("INSERT INTO trace_run_links (trace_id, run_id) ");
                builder.push_values(chunk, |mut b, trace| {
                    b.push_bind(trace.trace_id.as_str()).push_bind(run_id);
                });
                builder.push(" ON CONFLICT DO NOTHING");
                builder.build().execute(&mut *tx).await.context(|| format!("linking traces to run {run_id}"))?;
            }
        }
        let mut spans: Vec<(i64, &SpanRecord)> = Vec::with_capacity(traces.iter().map(|t| t.spans.len()).sum());
        for trace in traces {
            let key = *keys
                .get(trace.trace_id.as_str())
                .ok_or_else(|| Error::internal("trace row vanished during ingest"))?;
            spans.extend(trace.spans.iter().map(|span| (key, span)));
        }
        insert_spans(&mut tx, &spans).await?;
        insert_root_metadata(&mut tx, traces).await?;
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
                     WHERE trace_id = ANY($2) AND finalized = 0), \
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
                 INSERT INTO trace_metadata (trace_id, key, value) \
                 SELECT t.trace_id, $1, '{\"input_tokens\":' || coalesce(sum(s.input_tokens), 0) \
                     || ',\"output_tokens\":' || coalesce(sum(s.output_tokens), 0) \
                     || ',\"total_tokens\":' || coalesce(sum(s.total_tokens), 0) || '}' \
                 FROM targets t JOIN tops USING (trace_key) \
                 JOIN spans s ON s.trace_key = tops.trace_key AND s.span_id = tops.span_id \
                 GROUP BY t.trace_id \
                 ON CONFLICT (trace_id, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(META_TOKEN_USAGE)
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .context(|| format!("summing the token usage of {} traces", ids.len()))?;
        }
        tx.commit().await.context(ingesting)
    }

    async fn start_trace(&self, info: &TraceInfo) -> Result<TraceInfo> {
        let mut tx = self.pool.begin().await.context(|| format!("starting trace {}", info.trace_id))?;
        let experiment_key = active_experiment(&mut tx, info.experiment_id).await?;
        sqlx::query(
            "INSERT INTO traces (trace_id, experiment_id, client_request_id, request_time, execution_duration, state, \
             request_preview, response_preview, finalized) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) \
             ON CONFLICT (trace_id) DO UPDATE SET client_request_id = EXCLUDED.client_request_id, \
             request_time = EXCLUDED.request_time, execution_duration = EXCLUDED.execution_duration, \
             state = EXCLUDED.state, request_preview = EXCLUDED.request_preview, \
             response_preview = EXCLUDED.response_preview, finalized = 1",
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
        span_chunks(self.pool.clone(), trace_id.to_string())
    }

    async fn search_traces(
        &self,
        experiment_ids: &[ExperimentId],
        query: &SearchQuery<TraceKey>,
    ) -> Result<Page<TraceInfo>> {
        let keys: Vec<i64> = experiment_ids.iter().map(|id| id.get()).collect();
        // One statement: the page (max_results + 1 rows) is selected in order by a subquery
        // that SQLite runs as a co-routine, and the records with all their children come back
        // concatenated in that order as one JSON row: one hand-off to the connection's thread.
        let mut builder: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {TRACE_RECORD} FROM traces t WHERE "));
        if let [only] = keys.as_slice() {
            // One experiment (the common case): the time index then gives the order, and the
            // page stops after max_results rows instead of sorting every match.
            builder.push("t.experiment_id = ");
            builder.push_bind(*only);
        } else {
            builder.push("t.experiment_id = ANY(");
            builder.push_bind(keys.clone());
            builder.push(")");
        }
        for clause in &query.clauses {
            builder.push(" AND ");
            push_trace_clause(&mut builder, clause)?;
        }
        builder.push(" ORDER BY ");
        for item in &query.order_by {
            push_trace_order_column(&mut builder, &item.key)?;
            // NULL as the smallest value, as SQLite orders it: a trace missing the key sorts
            // first ascending and last descending, on both stores.
            builder.push(if item.ascending { " ASC NULLS FIRST, " } else { " DESC NULLS LAST, " });
        }
        builder.push("t.request_time DESC, t.trace_id ASC");
        push_page(&mut builder, query.max_results, query.offset);
        let rows = builder.build().fetch_all(&self.pool).await.context(|| "searching traces")?;
        let (items, next_offset) = split_page(decode_traces(&rows)?, query.max_results, query.offset);
        Ok(Page { items, next_offset })
    }

    async fn set_trace_tag(&self, trace_id: &TraceId, key: &str, value: &str) -> Result<()> {
        let trace_id = trace_id.as_str();
        let mut tx = self.pool.begin().await.context(|| format!("setting tag {key} of trace {trace_id}"))?;
        require_trace(&mut tx, trace_id).await?;
        set_trace_pairs(&mut tx, "trace_tags", trace_id, &[(key.to_string(), value.to_string())]).await?;
        tx.commit().await.context(|| format!("setting tag {key} of trace {trace_id}"))
    }

    async fn delete_trace_tag(&self, trace_id: &TraceId, key: &str) -> Result<()> {
        let trace_id = trace_id.as_str();
        let mut tx = self.pool.begin().await.context(|| format!("deleting tag {key} of trace {trace_id}"))?;
        require_trace(&mut tx, trace_id).await?;
        let result = sqlx::query("DELETE FROM trace_tags WHERE trace_id = $1 AND key = $2")
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
        let mut tx = self.pool.begin().await.context(|| format!("deleting traces of experiment {experiment_id}"))?;
        let ids: Vec<String> = match which {
            TraceDeletion::Ids(ids) => {
                sqlx::query("SELECT trace_id FROM traces WHERE experiment_id = $1 AND trace_id = ANY($2)")
                    .bind(key)
                    .bind(ids.iter().map(TraceId::as_str).collect::<Vec<_>>())
                    .fetch_all(&mut *tx)
                    .await
                    .context(|| format!("deleting traces of experiment {experiment_id}"))?
                    .into_iter()
                    .map(|r| r.get(0))
                    .collect()
            }
            TraceDeletion::OlderThan { max_timestamp_millis, max_traces } => sqlx::query(
                "SELECT trace_id FROM traces WHERE experiment_id = $1 AND request_time <= $2 \
                 ORDER BY request_time ASC LIMIT $3",
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
        let list = &ids;
        sqlx::query("DELETE FROM spans WHERE trace_key IN (SELECT trace_key FROM traces WHERE trace_id = ANY($1))")
            .bind(list)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting traces of experiment {experiment_id}"))?;
        // Tags, metadata, assessments and run links go with their trace (ON DELETE CASCADE).
        sqlx::query("DELETE FROM traces WHERE trace_id = ANY($1)")
            .bind(list)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting traces of experiment {experiment_id}"))?;
        tx.commit().await.context(|| format!("deleting traces of experiment {experiment_id}"))?;
        Ok(ids.len() as u64)
    }

    async fn link_traces_to_run(&self, trace_ids: &[TraceId], run_id: &RunId) -> Result<()> {
        let run_id = run_id.as_str();
        let mut tx = self.pool.begin().await.context(|| format!("linking traces to run {run_id}"))?;
        let run = sqlx::query("SELECT 1 FROM runs WHERE run_uuid = $1")
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
                "INSERT INTO trace_run_links (trace_id, run_id) \
                 SELECT trace_id, $2 FROM traces WHERE trace_id = $1 ON CONFLICT DO NOTHING",
            )
            .bind(trace_id.as_str())
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("linking traces to run {run_id}"))?;
            sqlx::query(
                "INSERT INTO pending_trace_run_links (trace_id, run_id) \
                 SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM traces WHERE trace_id = $1) ON CONFLICT DO NOTHING",
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
        let mut tx = self.pool.begin().await.context(|| format!("linking prompts to trace {trace_id}"))?;
        require_trace(&mut tx, trace_id).await?;
        let existing: Option<String> = sqlx::query("SELECT value FROM trace_tags WHERE trace_id = $1 AND key = $2")
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
            self.pool.begin().await.context(|| {
                format!("creating assessment {} of trace {}", assessment.assessment_id, assessment.trace_id)
            })?;
        require_trace(&mut tx, assessment.trace_id.as_str()).await?;
        if let Some(old) = &assessment.overrides {
            let updated = sqlx::query("UPDATE assessments SET valid = 0 WHERE assessment_id = $1 AND trace_id = $2")
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
            set_body_valid(&mut tx, assessment.trace_id.as_str(), old, false).await?;
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
            "SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE assessment_id = $1 AND trace_id = $2"
        ))
        .bind(assessment_id)
        .bind(trace_id)
        .fetch_optional(&self.pool)
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
        // The row stays locked from the read to the commit: concurrent updates, through any
        // server, apply one after the other and none is lost.
        let mut tx =
            self.pool.begin().await.context(|| format!("updating assessment {assessment_id} of trace {trace_id}"))?;
        let select = format!("SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE assessment_id = $1 AND trace_id = $2");
        let row = sqlx::query(&format!("{select} FOR UPDATE"))
            .bind(assessment_id)
            .bind(trace_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("updating assessment {assessment_id} of trace {trace_id}"))?
            .ok_or_else(not_found)?;
        let assessment = update(&assessment_from_row(&row)?)?;
        sqlx::query(
            "UPDATE assessments SET name = $1, kind = $2, value_text = $3, valid = $4, last_update_time = $5, body = $6 \
             WHERE assessment_id = $7 AND trace_id = $8",
        )
        .bind(&assessment.name)
        .bind(assessment.kind.as_str())
        .bind(&assessment.value_text)
        .bind(assessment.valid as i32)
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
            self.pool.begin().await.context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))?;
        let overrides: Option<String> =
            sqlx::query("SELECT overrides FROM assessments WHERE assessment_id = $1 AND trace_id = $2")
                .bind(assessment_id)
                .bind(trace_id)
                .fetch_optional(&mut *tx)
                .await
                .context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))?
                .ok_or_else(|| {
                    Error::not_found(format!("Assessment with ID '{assessment_id}' not found for trace '{trace_id}'"))
                })?
                .get(0);
        sqlx::query("DELETE FROM assessments WHERE assessment_id = $1 AND trace_id = $2")
            .bind(assessment_id)
            .bind(trace_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))?;
        // An override that goes away gives the overridden assessment back its validity.
        if let Some(previous) = overrides {
            set_body_valid(&mut tx, trace_id, &previous, true).await?;
        }
        tx.commit().await.context(|| format!("deleting assessment {assessment_id} of trace {trace_id}"))
    }
}

/// Fails unless the trace exists. Its row stays locked until the transaction ends, so
/// read-merge-write changes of one trace (linked prompts) queue whichever server they come
/// through.
async fn require_trace(conn: &mut PgConnection, trace_id: &str) -> Result<()> {
    let found = sqlx::query("SELECT 1 FROM traces WHERE trace_id = $1 FOR NO KEY UPDATE")
        .bind(trace_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading trace {trace_id}"))?;
    if found.is_none() {
        return Err(trace_not_found(trace_id));
    }
    Ok(())
}

/// Sets an assessment's validity, in its column and in its stored body (the body's key order
/// kept: it is rewritten here, not by PostgreSQL's `jsonb`, which would reorder it).
async fn set_body_valid(conn: &mut PgConnection, trace_id: &str, assessment_id: &str, valid: bool) -> Result<()> {
    let row = sqlx::query("SELECT body FROM assessments WHERE trace_id = $1 AND assessment_id = $2")
        .bind(trace_id)
        .bind(assessment_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading assessment {assessment_id} of trace {trace_id}"))?;
    let Some(row) = row else { return Ok(()) };
    let mut body: Map<String, Value> = serde_json::from_str(row.get::<&str, _>(0))
        .map_err(|e| corrupt(format_args!("body of assessment {assessment_id}"), e))?;
    body.insert("valid".into(), Value::Bool(valid));
    sqlx::query("UPDATE assessments SET valid = $1, body = $2 WHERE trace_id = $3 AND assessment_id = $4")
        .bind(valid as i32)
        .bind(Value::Object(body).to_string())
        .bind(trace_id)
        .bind(assessment_id)
        .execute(&mut *conn)
        .await
        .context(|| format!("updating the validity of assessment {assessment_id} of trace {trace_id}"))?;
    Ok(())
}

async fn insert_assessment(conn: &mut PgConnection, assessment: &Assessment, ignore_existing: bool) -> Result<()> {
    let on_conflict = if ignore_existing { " ON CONFLICT DO NOTHING" } else { "" };
    let result = sqlx::query(&format!(
        "INSERT INTO assessments ({ASSESSMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10){on_conflict}"
    ))
    .bind(&assessment.assessment_id)
    .bind(assessment.trace_id.as_str())
    .bind(&assessment.name)
    .bind(assessment.kind.as_str())
    .bind(&assessment.value_text)
    .bind(assessment.valid as i32)
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
