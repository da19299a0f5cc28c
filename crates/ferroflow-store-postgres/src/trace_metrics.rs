//! Trace metrics on PostgreSQL: [`TraceMetricsStore`] for [`PostgresStore`], the SQLite store's
//! `trace_metrics.rs` in PostgreSQL's dialect. Each answer is one statement over the trace rows
//! of the asked experiments. SQLite keeps a trace's name, session and token counts on its row
//! (triggers); here [`push_metric_traces`] reads them from the tag and metadata rows by their
//! primary keys, so no copy can go stale across servers. Percentiles are `percentile_cont`,
//! the same linear interpolation between neighbours as SQLite's window-function form. The spans
//! view joins the traces to their spans (model, provider and costs are columns of migration
//! 0009), the assessments view to their valid assessments (the value read from the stored body).

use crate::error::Context;
use crate::traces::push_trace_clause;
use crate::PostgresStore;
use ferroflow_core::entities::{
    Aggregation, CorrelationCounts, CorrelationQuery, MetricRow, MetricView, TraceDimension, TraceMetric,
    TraceMetricFilter, TraceMetricsQuery, META_SOURCE_RUN, META_TOKEN_USAGE, META_TRACE_SESSION, TAG_TRACE_NAME,
};
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::store::TraceMetricsStore;
use ferroflow_core::trace_metrics::view_of;
use ferroflow_core::Result;
use sqlx::{Postgres, QueryBuilder, Row};

/// An assessment's value as JSON (type `json`, so the text is the stored one, keys in the
/// client's order), as MLflow keeps it: a feedback's or an expectation's value (`null` when it
/// has none; an expectation's serialized value parsed), an issue whole.
const ASSESSMENT_VALUE_JSON: &str = "(CASE a.kind \
    WHEN 'feedback' THEN coalesce(a.body::json #> '{feedback,value}', 'null'::json) \
    WHEN 'expectation' THEN coalesce(a.body::json #> '{expectation,value}', \
        ferroflow_try_json(a.body::json #>> '{expectation,serialized_value,value}'), 'null'::json) \
    ELSE a.body::json -> 'issue' END)";

/// An assessment's value as a number, as MLflow aggregates it: true/`"yes"` 1, false/`"no"` 0
/// (case and surrounding white space aside), a number itself, anything else none.
fn assessment_number() -> String {
    let v = ASSESSMENT_VALUE_JSON;
    format!(
        "(CASE json_typeof({v}) WHEN 'boolean' THEN CASE WHEN ({v})::text = 'true' THEN 1.0 ELSE 0.0 END \
         WHEN 'number' THEN (({v})::text)::double precision \
         WHEN 'string' THEN CASE lower(btrim({v} #>> '{{}}', E' \\t\\n\\x0b\\f\\r')) \
             WHEN 'yes' THEN 1.0 WHEN 'no' THEN 0.0 END END)"
    )
}

/// The value a metric aggregates (of [`push_metric_traces`]'s rows, joined per the view).
fn metric_column(metric: TraceMetric) -> String {
    let column = match metric {
        TraceMetric::TraceCount => "t.trace_id",
        TraceMetric::SessionCount => "t.session_id",
        TraceMetric::Latency => "t.execution_duration",
        TraceMetric::InputTokens => "t.input_tokens",
        TraceMetric::OutputTokens => "t.output_tokens",
        TraceMetric::TotalTokens => "t.total_tokens",
        TraceMetric::CacheReadInputTokens => "t.cache_read_input_tokens",
        TraceMetric::CacheCreationInputTokens => "t.cache_creation_input_tokens",
        TraceMetric::SpanCount => "s.span_id",
        // Whole milliseconds, truncated (integer division), as MLflow computes it.
        TraceMetric::SpanLatency => "((s.end_time_ns - s.start_time_ns) / 1000000)",
        TraceMetric::SpanInputCost => "s.input_cost",
        TraceMetric::SpanOutputCost => "s.output_cost",
        TraceMetric::SpanTotalCost => "s.total_cost",
        TraceMetric::AssessmentCount => "a.assessment_id",
        TraceMetric::AssessmentValue => return assessment_number(),
    };
    column.to_string()
}

fn dimension_column(dimension: TraceDimension) -> String {
    let column = match dimension {
        TraceDimension::TraceName => "t.trace_name",
        TraceDimension::TraceStatus => "t.state",
        TraceDimension::SpanName => "s.name",
        TraceDimension::SpanType => "s.span_type",
        TraceDimension::SpanStatus => "s.status",
        TraceDimension::SpanModelName => "s.model_name",
        TraceDimension::SpanModelProvider => "s.model_provider",
        TraceDimension::AssessmentName => "a.name",
        TraceDimension::AssessmentValue => return format!("({ASSESSMENT_VALUE_JSON})::text"),
    };
    column.to_string()
}

/// The rows a view adds to the traces: their spans, or their valid assessments.
fn view_join(view: MetricView) -> &'static str {
    match view {
        MetricView::Traces => "",
        MetricView::Spans => " JOIN spans s ON s.trace_key = t.trace_key",
        MetricView::Assessments => " JOIN assessments a ON a.trace_id = t.trace_id AND a.valid = 1",
    }
}

/// The time a row is bucketed by, in milliseconds: the span's start for spans, else the trace's.
fn row_time_ms(view: MetricView) -> &'static str {
    match view {
        MetricView::Spans => "(s.start_time_ns / 1000000)",
        _ => "t.request_time",
    }
}

/// Span costs are bounded by the span's own start (every nanosecond of the last millisecond
/// included), every other metric by the trace's start.
fn bounds_on_span_start(metric: TraceMetric) -> bool {
    matches!(metric, TraceMetric::SpanInputCost | TraceMetric::SpanOutputCost | TraceMetric::SpanTotalCost)
}

fn push_span_time_bounds(builder: &mut QueryBuilder<'_, Postgres>, query: &TraceMetricsQuery) {
    if let Some(start) = query.start_time_ms {
        builder.push(" AND s.start_time_ns >= ").push_bind(start.saturating_mul(1_000_000));
    }
    if let Some(end) = query.end_time_ms {
        match end.checked_add(1).and_then(|e| e.checked_mul(1_000_000)) {
            Some(bound) => builder.push(" AND s.start_time_ns < ").push_bind(bound),
            None if end < 0 => builder.push(" AND false"),
            None => builder,
        };
    }
}

/// The token-usage members read into columns of the same names.
const TOKEN_MEMBERS: &[&str] =
    &["input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"];

/// `(SELECT …) t`: the traces of the experiments started within the bounds, each with the
/// columns SQLite keeps on its trace rows (`trace_name`, `session_id`, the token counts).
fn push_metric_traces(builder: &mut QueryBuilder<'_, Postgres>, query: &TraceMetricsQuery) {
    builder.push("(SELECT t.*, tn.value AS trace_name, ts.value AS session_id");
    for member in TOKEN_MEMBERS {
        builder.push(format!(", ferroflow_token_count(tu.value, '{member}') AS {member}"));
    }
    builder.push(" FROM traces t LEFT JOIN trace_tags tn ON tn.trace_id = t.trace_id AND tn.key = ");
    builder.push_bind(TAG_TRACE_NAME);
    builder.push(" LEFT JOIN trace_metadata ts ON ts.trace_id = t.trace_id AND ts.key = ");
    builder.push_bind(META_TRACE_SESSION);
    builder.push(" LEFT JOIN trace_metadata tu ON tu.trace_id = t.trace_id AND tu.key = ");
    builder.push_bind(META_TOKEN_USAGE);
    builder.push(" WHERE ");
    push_experiments(builder, &query.experiment_ids);
    if !bounds_on_span_start(query.metric) {
        if let Some(start) = query.start_time_ms {
            builder.push(" AND t.request_time >= ").push_bind(start);
        }
        if let Some(end) = query.end_time_ms {
            builder.push(" AND t.request_time <= ").push_bind(end);
        }
    }
    builder.push(") t");
}

fn push_experiments(builder: &mut QueryBuilder<'_, Postgres>, ids: &[ExperimentId]) {
    let keys: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    builder.push("t.experiment_id = ANY(").push_bind(keys).push(")");
}

fn push_filter(builder: &mut QueryBuilder<'_, Postgres>, filter: &TraceMetricFilter) {
    match filter {
        TraceMetricFilter::Status(value) => {
            builder.push(" AND t.state = ").push_bind(value.clone());
        }
        TraceMetricFilter::Tag(key, value) if key == TAG_TRACE_NAME => {
            builder.push(" AND t.trace_name = ").push_bind(value.clone());
        }
        TraceMetricFilter::Metadata(key, value) if key == META_TRACE_SESSION => {
            builder.push(" AND t.session_id = ").push_bind(value.clone());
        }
        TraceMetricFilter::Tag(key, value) => {
            builder.push(" AND EXISTS (SELECT 1 FROM trace_tags g WHERE g.trace_id = t.trace_id AND g.key = ");
            builder.push_bind(key.clone()).push(" AND g.value = ").push_bind(value.clone()).push(")");
        }
        TraceMetricFilter::Metadata(key, value) => {
            builder.push(" AND (EXISTS (SELECT 1 FROM trace_metadata m WHERE m.trace_id = t.trace_id AND m.key = ");
            builder.push_bind(key.clone()).push(" AND m.value = ").push_bind(value.clone()).push(")");
            if key == META_SOURCE_RUN {
                // A trace linked to a run afterwards carries the link, not the metadata.
                builder
                    .push(" OR EXISTS (SELECT 1 FROM trace_run_links l WHERE l.trace_id = t.trace_id AND l.run_id = ");
                builder.push_bind(value.clone()).push(")");
            }
            builder.push(")");
        }
        TraceMetricFilter::SpanName(value) => {
            builder.push(" AND s.name = ").push_bind(value.clone());
        }
        TraceMetricFilter::SpanStatus(value) => {
            builder.push(" AND s.status = ").push_bind(value.clone());
        }
        TraceMetricFilter::SpanType(value) => {
            builder.push(" AND s.span_type = ").push_bind(value.clone());
        }
        TraceMetricFilter::AssessmentName(value) => {
            builder.push(" AND a.name = ").push_bind(value.clone());
        }
        TraceMetricFilter::AssessmentType(value) => {
            builder.push(" AND a.kind = ").push_bind(value.clone());
        }
    }
}

/// The aggregate over `x` (the metric's value in the inner rows); every value is a double on
/// the wire.
fn push_aggregate(builder: &mut QueryBuilder<'_, Postgres>, metric: TraceMetric, aggregation: Aggregation) {
    builder.push("CAST(");
    match aggregation {
        Aggregation::Count if metric == TraceMetric::SessionCount => builder.push("count(DISTINCT x)"),
        Aggregation::Count => builder.push("count(x)"),
        Aggregation::Sum => builder.push("sum(x)"),
        Aggregation::Avg => builder.push("avg(x)"),
        Aggregation::Min => builder.push("min(x)"),
        Aggregation::Max => builder.push("max(x)"),
        Aggregation::Percentile(p) => builder
            .push("percentile_cont(")
            .push_bind(p / 100.0)
            .push(") WITHIN GROUP (ORDER BY CAST(x AS double precision))"),
    };
    builder.push(" AS double precision)");
}

#[async_trait::async_trait]
impl TraceMetricsStore for PostgresStore {
    async fn query_trace_metrics(&self, query: &TraceMetricsQuery) -> Result<Vec<MetricRow>> {
        if query.experiment_ids.is_empty() {
            return Ok(Vec::new());
        }
        let view = view_of(query.metric);
        let column = metric_column(query.metric);
        let bucketed = query.time_interval_ms.is_some();
        // The groups: g0 the bucket start (when bucketed), then each dimension.
        let mut groups: Vec<String> = Vec::new();
        if let Some(width) = query.time_interval_ms {
            let time = row_time_ms(view);
            groups.push(format!("({time} - (({time} % {width}) + {width}) % {width})"));
        }
        groups.extend(query.dimensions.iter().map(|d| dimension_column(*d)));
        let group_names: Vec<String> = (0..groups.len()).map(|i| format!("g{i}")).collect();

        let mut builder: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
        for name in &group_names {
            builder.push(format!("{name}, "));
        }
        for (index, aggregation) in query.aggregations.iter().enumerate() {
            if index > 0 {
                builder.push(", ");
            }
            push_aggregate(&mut builder, query.metric, *aggregation);
        }
        builder.push(" FROM (SELECT ");
        for (expr, name) in groups.iter().zip(&group_names) {
            builder.push(format!("{expr} AS {name}, "));
        }
        builder.push(format!("{column} AS x FROM "));
        push_metric_traces(&mut builder, query);
        builder.push(view_join(view));
        builder.push(" WHERE 1 = 1");
        if bounds_on_span_start(query.metric) {
            push_span_time_bounds(&mut builder, query);
        }
        for filter in &query.filters {
            push_filter(&mut builder, filter);
        }
        builder.push(format!(" AND {column} IS NOT NULL"));
        for dimension in &query.dimensions {
            builder.push(format!(" AND {} IS NOT NULL", dimension_column(*dimension)));
        }
        builder.push(") m");
        if !group_names.is_empty() {
            builder.push(format!(" GROUP BY {0} ORDER BY {0}", group_names.join(", ")));
        }
        builder.push(" LIMIT ").push_bind(query.max_results as i64);
        let rows = builder.build().fetch_all(&self.pool).await.context(|| "querying trace metrics")?;
        let width = group_names.len();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut index = 0;
            let bucket_ms = if bucketed {
                index += 1;
                row.try_get::<Option<i64>, _>(0).context(|| "reading a metric bucket")?
            } else {
                None
            };
            let mut dimensions = Vec::with_capacity(query.dimensions.len());
            while index < width {
                let value: Option<String> = row.try_get(index).context(|| "reading a metric dimension")?;
                dimensions.push(value.unwrap_or_default());
                index += 1;
            }
            let values = (0..query.aggregations.len())
                .map(|i| row.try_get::<Option<f64>, _>(width + i).context(|| "reading a metric value"))
                .collect::<Result<Vec<_>>>()?;
            out.push(MetricRow { bucket_ms, dimensions, values });
        }
        Ok(out)
    }

    async fn trace_filter_correlation(&self, query: &CorrelationQuery) -> Result<CorrelationCounts> {
        if query.experiment_ids.is_empty() {
            return Ok(CorrelationCounts::default());
        }
        let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT count(*), count(*) FILTER (WHERE f1), count(*) FILTER (WHERE f2), \
             count(*) FILTER (WHERE f1 AND f2) FROM (SELECT ",
        );
        for (index, clauses) in [&query.filter1, &query.filter2].into_iter().enumerate() {
            if index > 0 {
                builder.push(", ");
            }
            builder.push("(1 = 1");
            for clause in clauses.iter() {
                builder.push(" AND ");
                push_trace_clause(&mut builder, clause)?;
            }
            builder.push(format!(") AS f{}", index + 1));
        }
        builder.push(" FROM traces t WHERE ");
        push_experiments(&mut builder, &query.experiment_ids);
        for clause in &query.base {
            builder.push(" AND ");
            push_trace_clause(&mut builder, clause)?;
        }
        builder.push(") s");
        let row = builder.build().fetch_one(&self.pool).await.context(|| "counting a filter correlation")?;
        Ok(CorrelationCounts { total: row.get(0), filter1: row.get(1), filter2: row.get(2), joint: row.get(3) })
    }
}
