//! `POST /api/3.0/mlflow/traces/metrics` (aggregates of an experiment's traces, spans or
//! assessments, over time buckets and dimensions) and
//! `POST …/traces/calculate-filter-correlation` (the NPMI of two trace filters). Both are
//! computed by the store in SQL; this layer checks the request as the reference does and names
//! the answer's values.

use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use ferroflow_core::entities::{CorrelationQuery, TraceDimension, TraceMetricsQuery};
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::search::traces as grammar;
use ferroflow_core::trace_metrics as rules;
use ferroflow_core::{validation, Error};
use ferroflow_proto::de::Double;
use ferroflow_proto::encoding::python_json_ascii;
use ferroflow_proto::traces::*;

fn required_list<'a>(field: &str, values: &'a [String]) -> Result<&'a [String], Error> {
    if values.is_empty() {
        validation::required(field, None)?;
    }
    Ok(values)
}

pub async fn query(
    State(state): State<AppState>,
    Rpc(request): Rpc<QueryTraceMetrics>,
) -> ApiResult<Json<QueryTraceMetricsResponse>> {
    let experiment_ids = ExperimentId::parse_all(required_list("experiment_ids", &request.experiment_ids)?)?;
    let view = rules::view(validation::required("view_type", request.view_type.as_deref())?)?;
    let metric_name = validation::required("metric_name", request.metric_name.as_deref())?;
    let wire_aggregations =
        request.aggregations.ok_or_else(|| validation::required("aggregations", None).unwrap_err())?;
    let aggregations = wire_aggregations
        .iter()
        .map(|a| rules::aggregation(a.aggregation_type.as_deref().unwrap_or(""), a.percentile_value))
        .collect::<Result<Vec<_>, _>>()?;
    let metric = rules::metric(view, metric_name)?;
    let dimensions = rules::check_query(metric, &aggregations, &request.dimensions)?;
    let time_interval_seconds = request.time_interval_seconds.filter(|s| *s != 0);
    if time_interval_seconds.is_some() && (request.start_time_ms.is_none() || request.end_time_ms.is_none()) {
        return Err(Error::invalid("start_time_ms and end_time_ms are required if time_interval_seconds is set").into());
    }
    let filters = request.filters.iter().map(|f| rules::parse_filter(f, view)).collect::<Result<Vec<_>, _>>()?;
    let query = TraceMetricsQuery {
        experiment_ids,
        metric,
        aggregations: aggregations.clone(),
        dimensions: dimensions.clone(),
        filters,
        time_interval_ms: time_interval_seconds.map(|s| s.saturating_mul(1000)),
        start_time_ms: request.start_time_ms,
        end_time_ms: request.end_time_ms,
        max_results: request.max_results.unwrap_or(rules::DEFAULT_MAX_RESULTS).max(0) as u64,
    };
    let rows = state.store.query_trace_metrics(&query).await?;
    let labels: Vec<String> = aggregations.iter().map(|a| a.label()).collect();
    let data_points = rows
        .into_iter()
        .filter_map(|row| {
            let mut named = Vec::with_capacity(dimensions.len() + 1);
            if let Some(ms) = row.bucket_ms {
                named.push(("time_bucket".to_string(), rules::bucket_label(ms)));
            }
            named.extend(
                dimensions
                    .iter()
                    .zip(row.dimensions)
                    .map(|(d, value)| (d.as_str().to_string(), wire_dimension(*d, value))),
            );
            let values: Vec<(String, Double)> = labels
                .iter()
                .zip(row.values)
                .filter_map(|(label, value)| value.map(|v| (label.clone(), Double(v))))
                .collect();
            (!values.is_empty()).then(|| MetricDataPoint {
                metric_name: metric_name.to_string(),
                dimensions: named,
                values,
            })
        })
        .collect();
    Ok(Json(QueryTraceMetricsResponse { data_points, next_page_token: None }))
}

/// A dimension's value as the reference writes it: an assessment's value is the text of Python's
/// `json.dumps` (`"yes"` quoted, `1.0`, `{"k": "\u00e9"}`); the store gives it as JSON text.
fn wire_dimension(dimension: TraceDimension, value: String) -> String {
    match dimension {
        TraceDimension::AssessmentValue => match serde_json::from_str::<serde_json::Value>(&value) {
            Ok(parsed) => python_json_ascii(&parsed),
            Err(_) => value,
        },
        _ => value,
    }
}

pub async fn filter_correlation(
    State(state): State<AppState>,
    Rpc(request): Rpc<CalculateTraceFilterCorrelation>,
) -> ApiResult<Json<CalculateTraceFilterCorrelationResponse>> {
    let experiment_ids = ExperimentId::parse_all(required_list("experiment_ids", &request.experiment_ids)?)?;
    let filter1 = validation::required("filter_string1", request.filter_string1.as_deref())?;
    let filter2 = validation::required("filter_string2", request.filter_string2.as_deref())?;
    let query = CorrelationQuery {
        experiment_ids,
        base: grammar::parse_filter(request.base_filter.as_deref().unwrap_or(""))?,
        filter1: grammar::parse_filter(filter1)?,
        filter2: grammar::parse_filter(filter2)?,
    };
    let counts = state.store.trace_filter_correlation(&query).await?;
    let (npmi, smoothed) = rules::npmi(counts);
    Ok(Json(CalculateTraceFilterCorrelationResponse {
        npmi: Some(npmi).filter(|v| !v.is_nan()),
        npmi_smoothed: Some(smoothed).filter(|v| !v.is_nan()),
        filter1_count: counts.filter1,
        filter2_count: counts.filter2,
        joint_count: counts.joint,
        total_count: counts.total,
    }))
}
