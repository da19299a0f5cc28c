//! [`OverviewStore`] for [`PostgresStore`]: the web UI's reads, the SQLite store's in
//! PostgreSQL's dialect. Each is one statement over the
//! existing indexes (`traces_by_experiment_time`, `runs_by_experiment`, `spans_by_trace_start`,
//! `trace_metadata_by_key`).

use crate::error::Context;
use crate::PostgresStore;
use ferroflow_core::entities::*;
use ferroflow_core::store::OverviewStore;
use ferroflow_core::{Error, Result};
use sqlx::Row;

#[async_trait::async_trait]
impl OverviewStore for PostgresStore {
    async fn experiment_summaries(&self, name_contains: &str, max_results: u64) -> Result<Vec<ExperimentSummary>> {
        // Counts and maxima are correlated subqueries, each answered by an index on
        // experiment_id: one statement for the whole list.
        let rows = sqlx::query(
            "SELECT e.experiment_id, e.name, \
               (SELECT count(*) FROM traces t WHERE t.experiment_id = e.experiment_id), \
               (SELECT count(*) FROM runs r WHERE r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'), \
               greatest(e.last_update_time, \
                   coalesce((SELECT max(t.request_time) FROM traces t WHERE t.experiment_id = e.experiment_id), 0), \
                   coalesce((SELECT max(r.start_time) FROM runs r WHERE r.experiment_id = e.experiment_id), 0)) AS last \
             FROM experiments e \
             WHERE e.lifecycle_stage = 'active' AND strpos(lower(e.name), lower($1)) > 0 \
             ORDER BY last DESC, e.experiment_id DESC LIMIT $2",
        )
        .bind(name_contains)
        .bind(max_results as i64)
        .fetch_all(&self.pool)
        .await
        .context(|| "loading experiment summaries".to_string())?;
        Ok(rows
            .iter()
            .map(|row| ExperimentSummary {
                experiment_id: ExperimentId::from_stored(row.get(0)),
                name: row.get(1),
                trace_count: row.get(2),
                run_count: row.get(3),
                last_activity: row.get(4),
            })
            .collect())
    }

    async fn span_skeleton(&self, trace_id: &TraceId) -> Result<Vec<SpanSummary>> {
        let key: Option<i64> = sqlx::query_scalar("SELECT trace_key FROM traces WHERE trace_id = $1")
            .bind(trace_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .context(|| format!("finding trace {trace_id}"))?;
        let key = key.ok_or_else(|| Error::not_found(format!("Trace with ID '{trace_id}' not found.")))?;
        let rows = sqlx::query(
            "SELECT span_id, parent_span_id, name, span_type, status, start_time_ns, end_time_ns, total_tokens \
             FROM spans WHERE trace_key = $1 ORDER BY start_time_ns, span_id",
        )
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("loading the span skeleton of trace {trace_id}"))?;
        Ok(rows
            .iter()
            .map(|row| SpanSummary {
                span_id: SpanId::from_stored(row.get::<String, _>(0)),
                parent_span_id: row.get::<Option<String>, _>(1).map(SpanId::from_stored),
                name: row.get(2),
                span_type: row.get(3),
                status: SpanStatus::parse(row.get::<&str, _>(4)),
                start_time_ns: row.get(5),
                end_time_ns: row.get(6),
                total_tokens: row.get(7),
            })
            .collect())
    }

    async fn get_span(&self, trace_id: &TraceId, span_id: &SpanId) -> Result<StoredSpan> {
        let row = sqlx::query(
            "SELECT start_time_ns, parent_span_id, name, kind, end_time_ns, status, status_message, attributes, extra \
             FROM spans WHERE trace_key = (SELECT trace_key FROM traces WHERE trace_id = $1) AND span_id = $2",
        )
        .bind(trace_id.as_str())
        .bind(span_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .context(|| format!("loading span {span_id} of trace {trace_id}"))?
        .ok_or_else(|| Error::not_found(format!("Span {span_id} of trace {trace_id} not found.")))?;
        let details = ferroflow_store_common::span_details::decode(row.get(8), span_id.as_str())?;
        Ok(StoredSpan {
            trace_id: trace_id.clone(),
            span_id: span_id.clone(),
            start_time_ns: row.get(0),
            parent_span_id: row.get::<Option<String>, _>(1).map(SpanId::from_stored),
            name: row.get(2),
            kind: SpanKind::from_number(row.get(3)),
            end_time_ns: row.get(4),
            status: SpanStatus::parse(row.get::<&str, _>(5)),
            status_message: row.get(6),
            attributes: row.get(7),
            trace_state: details.trace_state,
            events: details.events,
            links: details.links,
        })
    }

    async fn sessions(&self, experiment_id: ExperimentId, max_results: u64) -> Result<Vec<SessionSummary>> {
        let rows = sqlx::query(
            "SELECT m.value, count(*), min(t.request_time), max(t.request_time) \
             FROM trace_metadata m JOIN traces t ON t.trace_id = m.trace_id \
             WHERE m.key = $1 AND t.experiment_id = $2 \
             GROUP BY m.value ORDER BY max(t.request_time) DESC LIMIT $3",
        )
        .bind(META_TRACE_SESSION)
        .bind(experiment_id.get())
        .bind(max_results as i64)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("loading the sessions of experiment {experiment_id}"))?;
        Ok(rows
            .iter()
            .map(|row| SessionSummary {
                session_id: row.get(0),
                trace_count: row.get(1),
                first_time: row.get(2),
                last_time: row.get(3),
            })
            .collect())
    }
}
