//! Trace metrics in SQLite: [`TraceMetricsStore`] for [`SqliteStore`]. Each answer is one
//! statement over the trace rows of the asked experiments (the `traces_metrics` covering index
//! of migration 0015 holds every column a traces-view metric reads), joined to their spans
//! (spans view: model, provider and costs are columns of migration 0018) or their valid
//! assessments (assessments view: the value is read from the stored body); percentiles
//! interpolate between the two neighbouring values that a window function numbers within each
//! group. A bucketed traces-view metric first reads its range's first and last trace, then
//! aggregates each bucket in a subquery of its own instead of grouping (sorting) every row.

use crate::error::Context;
use crate::traces::push_trace_clause;
use crate::SqliteStore;
use ferroflow_core::entities::{
    Aggregation, CorrelationCounts, CorrelationQuery, MetricRow, MetricView, TraceDimension, TraceMetric,
    TraceMetricFilter, TraceMetricsQuery, META_SOURCE_RUN, META_TRACE_SESSION, TAG_TRACE_NAME,
};
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::store::TraceMetricsStore;
use ferroflow_core::trace_metrics::view_of;
use ferroflow_core::Result;
use sqlx::{QueryBuilder, Row, Sqlite};

/// An assessment's value as JSON text, as MLflow keeps it: a feedback's or an expectation's
/// value (`null` when it has none; an expectation's serialized value parsed), an issue whole.
const ASSESSMENT_VALUE_JSON: &str = "(CASE a.kind \
    WHEN 'feedback' THEN coalesce(a.body -> '$.feedback.value', 'null') \
    WHEN 'expectation' THEN coalesce(a.body -> '$.expectation.value', \
        CASE WHEN json_valid(a.body ->> '$.expectation.serialized_value.value') \
            THEN json(a.body ->> '$.expectation.serialized_value.value') END, 'null') \
    ELSE a.body -> '$.issue' END)";

/// An assessment's value as a number, as MLflow aggregates it: true/`"yes"` 1, false/`"no"` 0
/// (case and surrounding white space aside), a number itself, anything else none.
fn assessment_number() -> String {
    let v = ASSESSMENT_VALUE_JSON;
    format!(
        "(CASE json_type({v}) WHEN 'true' THEN 1.0 WHEN 'false' THEN 0.0 \
         WHEN 'integer' THEN CAST({v} AS REAL) WHEN 'real' THEN CAST({v} AS REAL) \
         WHEN 'text' THEN CASE lower(trim({v} ->> '$', ' ' || char(9, 10, 11, 12, 13))) \
             WHEN 'yes' THEN 1.0 WHEN 'no' THEN 0.0 END END)"
    )
}

/// The value a metric aggregates.
fn metric_column(metric: TraceMetric) -> String {
    let column = match metric {
        // The row id: in every index, so a count reads no table row.
        TraceMetric::TraceCount => "t.trace_key",
        TraceMetric::SessionCount => "t.session_id",
        TraceMetric::Latency => "t.execution_duration",
        TraceMetric::InputTokens => "t.input_tokens",
        TraceMetric::OutputTokens => "t.output_tokens",
        TraceMetric::TotalTokens => "t.total_tokens",
        TraceMetric::CacheReadInputTokens => "t.cache_read_input_tokens",
        TraceMetric::CacheCreationInputTokens => "t.cache_creation_input_tokens",
        TraceMetric::SpanCount => "s.span_key",
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

fn dimension_column(dimension: TraceDimension) -> &'static str {
    match dimension {
        TraceDimension::TraceName => "t.trace_name",
        TraceDimension::TraceStatus => "t.state",
        TraceDimension::SpanName => "s.name",
        TraceDimension::SpanType => "s.span_type",
        TraceDimension::SpanStatus => "s.status",
        TraceDimension::SpanModelName => "s.model_name",
        TraceDimension::SpanModelProvider => "s.model_provider",
        TraceDimension::AssessmentName => "a.name",
        TraceDimension::AssessmentValue => ASSESSMENT_VALUE_JSON,
    }
}

/// The rows a view counts: the traces, their spans, or their valid assessments.
fn view_rows(view: MetricView) -> &'static str {
    match view {
        MetricView::Traces => "traces t",
        MetricView::Spans => "traces t JOIN spans s ON s.trace_key = t.trace_key",
        MetricView::Assessments => "traces t JOIN assessments a ON a.trace_id = t.trace_id AND a.valid = 1",
    }
}

/// The time a row is bucketed by, in milliseconds: the span's start for spans, else the trace's.
fn row_time_ms(view: MetricView) -> &'static str {
    match view {
        MetricView::Spans => "(s.start_time_ns / 1000000)",
        _ => "t.request_time",
    }
}

/// The time bounds, inclusive: on the trace's start time, except for span costs, which are
/// bounded by the span's own start (every nanosecond of the last millisecond included).
fn push_time_bounds(builder: &mut QueryBuilder<'_, Sqlite>, query: &TraceMetricsQuery) {
    let span_time =
        matches!(query.metric, TraceMetric::SpanInputCost | TraceMetric::SpanOutputCost | TraceMetric::SpanTotalCost);
    if span_time {
        if let Some(start) = query.start_time_ms {
            builder.push(" AND s.start_time_ns >= ").push_bind(start.saturating_mul(1_000_000));
        }
        if let Some(end) = query.end_time_ms {
            match end.checked_add(1).and_then(|e| e.checked_mul(1_000_000)) {
                Some(bound) => builder.push(" AND s.start_time_ns < ").push_bind(bound),
                None if end < 0 => builder.push(" AND 0"),
                None => builder,
            };
        }
        return;
    }
    if let Some(start) = query.start_time_ms {
        builder.push(" AND t.request_time >= ").push_bind(start);
    }
    if let Some(end) = query.end_time_ms {
        builder.push(" AND t.request_time <= ").push_bind(end);
    }
}

fn push_experiments(builder: &mut QueryBuilder<'_, Sqlite>, ids: &[ExperimentId]) {
    if let [only] = ids {
        builder.push("t.experiment_id = ").push_bind(only.get());
    } else {
        let keys: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        builder.push("t.experiment_id IN (SELECT value FROM json_each(");
        builder.push_bind(serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into()));
        builder.push("))");
    }
}

fn push_filter(builder: &mut QueryBuilder<'_, Sqlite>, filter: &TraceMetricFilter) {
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

/// The aggregate over `x` (the metric's value in the inner rows).
fn push_aggregate(builder: &mut QueryBuilder<'_, Sqlite>, metric: TraceMetric, aggregation: Aggregation, index: usize) {
    // Every value is a double on the wire.
    builder.push("CAST(");
    match aggregation {
        Aggregation::Count if metric == TraceMetric::SessionCount => builder.push("count(DISTINCT x)"),
        Aggregation::Count => builder.push("count(x)"),
        Aggregation::Sum => builder.push("sum(x)"),
        Aggregation::Avg => builder.push("avg(x)"),
        Aggregation::Min => builder.push("min(x)"),
        Aggregation::Max => builder.push("max(x)"),
        Aggregation::Percentile(_) => builder.push(format!(
            "(max(CASE WHEN rn = CAST(pos{index} AS INTEGER) THEN x END) + max(pos{index} - CAST(pos{index} AS INTEGER)) * \
             (coalesce(max(CASE WHEN rn = CAST(pos{index} AS INTEGER) + 1 THEN x END), \
                       max(CASE WHEN rn = CAST(pos{index} AS INTEGER) THEN x END)) \
              - max(CASE WHEN rn = CAST(pos{index} AS INTEGER) THEN x END)))"
        )),
    };
    builder.push(" AS REAL)");
}

/// The statement that groups every row of the range (a sort of all of them): for dimensions,
/// percentiles, span and assessment views, and buckets too many to list.
fn push_group_statement(
    builder: &mut QueryBuilder<'_, Sqlite>,
    query: &TraceMetricsQuery,
    groups: &[String],
    group_names: &[String],
    column: &str,
    percentiles: bool,
    view: MetricView,
) {
    for name in group_names {
        builder.push(format!("{name}, "));
    }
    for (index, aggregation) in query.aggregations.iter().enumerate() {
        if index > 0 {
            builder.push(", ");
        }
        push_aggregate(builder, query.metric, *aggregation, index);
    }
    builder.push(" FROM (SELECT ");
    for (expr, name) in groups.iter().zip(group_names) {
        builder.push(format!("{expr} AS {name}, "));
    }
    builder.push(format!("{column} AS x"));
    if percentiles {
        let partition = if groups.is_empty() { String::new() } else { format!("PARTITION BY {}", groups.join(", ")) };
        builder.push(format!(", row_number() OVER ({partition} ORDER BY {column}) - 1 AS rn"));
        // Each percentile's position among its group's sorted values, on every row.
        for (index, aggregation) in query.aggregations.iter().enumerate() {
            if let Aggregation::Percentile(p) = aggregation {
                builder.push(format!(", ({p:?} / 100.0) * (count(*) OVER ({partition}) - 1) AS pos{index}"));
            }
        }
    }
    builder.push(format!(" FROM {} WHERE ", view_rows(view)));
    push_experiments(builder, &query.experiment_ids);
    push_time_bounds(builder, query);
    for filter in &query.filters {
        push_filter(builder, filter);
    }
    builder.push(format!(" AND {column} IS NOT NULL"));
    for dimension in &query.dimensions {
        builder.push(format!(" AND {} IS NOT NULL", dimension_column(*dimension)));
    }
    builder.push(")");
    if !group_names.is_empty() {
        builder.push(format!(" GROUP BY {0} ORDER BY {0}", group_names.join(", ")));
    }
    builder.push(" LIMIT ").push_bind(query.max_results as i64);
}

/// The buckets a per-bucket statement reads: their width and each one's start (ms).
struct Buckets {
    width: i64,
    starts: Vec<i64>,
}

/// Buckets a statement lists at most; past this (a narrow width over a long range) the rows
/// are grouped instead.
const MAX_LISTED_BUCKETS: i64 = 2_000;

/// One bucketed aggregate of a traces-view metric per bucket, each read as a range of the
/// `traces_metrics` index in a subquery: no sort of every row of the range, which is what a
/// GROUP BY over a million traces spends most of its time on. Empty buckets are left out, as
/// the grouped statement leaves them out.
fn push_range_statement(
    builder: &mut QueryBuilder<'_, Sqlite>,
    query: &TraceMetricsQuery,
    column: &str,
    buckets: &Buckets,
) {
    let Buckets { width, starts } = buckets;
    builder.push("g0");
    for index in 0..query.aggregations.len() {
        builder.push(format!(", v{index}"));
    }
    builder.push(" FROM (SELECT b.value AS g0");
    for (index, aggregation) in query.aggregations.iter().enumerate() {
        builder.push(", (SELECT ");
        push_aggregate(builder, query.metric, *aggregation, index);
        builder.push(format!(" FROM (SELECT {column} AS x FROM traces t INDEXED BY traces_metrics WHERE "));
        push_experiments(builder, &query.experiment_ids);
        builder.push(format!(" AND t.request_time >= b.value AND t.request_time < b.value + {width}"));
        push_time_bounds(builder, query);
        for filter in &query.filters {
            push_filter(builder, filter);
        }
        builder.push(format!(" AND {column} IS NOT NULL)) AS v{index}"));
    }
    builder.push(" FROM json_each(");
    builder.push_bind(serde_json::to_string(starts).unwrap_or_else(|_| "[]".into()));
    // An empty bucket: a count of 0, any other aggregate NULL.
    let first_empty = match query.aggregations.first() {
        Some(Aggregation::Count) => "v0 = 0",
        _ => "v0 IS NULL",
    };
    builder.push(format!(") b) WHERE NOT ({first_empty}) ORDER BY g0 LIMIT "));
    builder.push_bind(query.max_results as i64);
}

impl SqliteStore {
    /// The bucket starts of a query the per-bucket statement can answer: a traces-view metric,
    /// bucketed, without dimensions or percentiles, filtered on the traces only, over no more
    /// than [`MAX_LISTED_BUCKETS`] buckets between its first and last trace. `None` otherwise.
    async fn listed_buckets(&self, query: &TraceMetricsQuery, percentiles: bool) -> Result<Option<Buckets>> {
        let Some(width) = query.time_interval_ms.filter(|w| *w > 0) else {
            return Ok(None);
        };
        let trace_filters = query.filters.iter().all(|f| {
            matches!(f, TraceMetricFilter::Status(_) | TraceMetricFilter::Tag(..) | TraceMetricFilter::Metadata(..))
        });
        if view_of(query.metric) != MetricView::Traces
            || !query.dimensions.is_empty()
            || percentiles
            || query.aggregations.is_empty()
            || !trace_filters
        {
            return Ok(None);
        }
        let mut builder: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT min(t.request_time), max(t.request_time) FROM traces t WHERE ");
        push_experiments(&mut builder, &query.experiment_ids);
        push_time_bounds(&mut builder, query);
        let row = builder.build().fetch_one(&self.read).await.context(|| "reading the time range of trace metrics")?;
        let (Some(first), Some(last)) = (row.get::<Option<i64>, _>(0), row.get::<Option<i64>, _>(1)) else {
            return Ok(Some(Buckets { width, starts: Vec::new() }));
        };
        let start = first.div_euclid(width) * width;
        let count = (last.div_euclid(width) * width - start) / width + 1;
        if count > MAX_LISTED_BUCKETS {
            return Ok(None);
        }
        Ok(Some(Buckets { width, starts: (0..count).map(|i| start + i * width).collect() }))
    }
}

#[async_trait::async_trait]
impl TraceMetricsStore for SqliteStore {
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
        groups.extend(query.dimensions.iter().map(|d| dimension_column(*d).to_string()));
        let group_names: Vec<String> = (0..groups.len()).map(|i| format!("g{i}")).collect();
        let percentiles = query.aggregations.iter().any(|a| matches!(a, Aggregation::Percentile(_)));

        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT ");
        // Both statements give the same columns: the groups, then one value per aggregation.
        match self.listed_buckets(query, percentiles).await? {
            Some(buckets) => push_range_statement(&mut builder, query, &column, &buckets),
            None => push_group_statement(&mut builder, query, &groups, &group_names, &column, percentiles, view),
        }
        let rows = builder.build().fetch_all(&self.read).await.context(|| "querying trace metrics")?;
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
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT count(*), coalesce(sum(f1), 0), coalesce(sum(f2), 0), coalesce(sum(f1 AND f2), 0) FROM (SELECT ",
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
        builder.push(")");
        let row = builder.build().fetch_one(&self.read).await.context(|| "counting a filter correlation")?;
        Ok(CorrelationCounts { total: row.get(0), filter1: row.get(1), filter2: row.get(2), joint: row.get(3) })
    }
}
