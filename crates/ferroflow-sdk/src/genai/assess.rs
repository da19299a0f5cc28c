//! `assess`: production monitoring. Score requests that already happened (traces picked by a
//! `search_traces` filter, or given inputs/outputs, each recorded as a trace first), log every
//! result as a feedback assessment on its trace, and report pass/fail against a minimum mean
//! per feedback name, so a cron job can fail loudly when quality drops.
//!
//! Unlike [`super::evaluate`] no run is made: the feedback carries no
//! `mlflow.assessment.sourceRunId`, only the scorer's digest.

use std::collections::BTreeMap;

use ferroflow_proto::traces::{CreateAssessment, SearchTracesV3, TraceLocation};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use super::evaluate::{aggregate, feedback_assessment, post, score_row, scorer_digest, trace_spans, EvalRecord};
use super::scorer::{EvalTrace, Scorer};
use super::{RowFeedback, DEFAULT_MAX_WORKERS};
use crate::error::{Error, Result};
use crate::export::resolve_experiment;
use crate::http::HttpClient;
use crate::{start_span, SpanType, TraceContext};

/// What to assess.
#[derive(Debug, Clone)]
pub enum AssessData {
    /// Traces of the tracer's experiment matching `filter` (MLflow's trace filter grammar,
    /// e.g. `"tags.env = 'prod'"`; `None`: all), newest first, at most `max_results`.
    Traces { filter: Option<String>, max_results: usize },
    /// Requests made elsewhere: each becomes a trace (a root span `assess` with the inputs and
    /// outputs) before it is scored.
    Rows(Vec<AssessRow>),
}

/// One request to assess: what came in, what went out, and what was expected, if known.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssessRow {
    pub inputs: Value,
    pub outputs: Value,
    pub expectations: Map<String, Value>,
}

/// The pass/fail thresholds and concurrency of an assessment.
#[derive(Debug, Clone)]
pub struct AssessOptions {
    /// A minimum mean per feedback name (`"safety" → 1.0`): the assessment fails when a mean
    /// is below it, or when there is no value to average.
    pub thresholds: BTreeMap<String, f64>,
    pub max_workers: usize,
}

impl Default for AssessOptions {
    fn default() -> Self {
        AssessOptions { thresholds: BTreeMap::new(), max_workers: DEFAULT_MAX_WORKERS }
    }
}

impl AssessOptions {
    pub fn threshold(mut self, name: impl Into<String>, minimum_mean: f64) -> AssessOptions {
        self.thresholds.insert(name.into(), minimum_mean);
        self
    }
}

/// One threshold's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdCheck {
    pub name: String,
    pub mean: Option<f64>,
    pub threshold: f64,
    pub passed: bool,
}

/// What [`assess`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessReport {
    /// The traces scored, with what each scorer said.
    pub traces: Vec<(String, Vec<RowFeedback>)>,
    /// `<name>/mean` per feedback name.
    pub metrics: BTreeMap<String, f64>,
    pub checks: Vec<ThresholdCheck>,
}

impl AssessReport {
    /// Every threshold met.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }
}

/// Scores `data` with `scorers`, logs each result as a feedback assessment on its trace, and
/// checks the means against `options.thresholds`. Needs tracing on (the traces are the
/// tracer's server and experiment).
pub async fn assess(data: AssessData, scorers: &[Box<dyn Scorer>], options: AssessOptions) -> Result<AssessReport> {
    let config = crate::tracer::tracer_config().ok_or(Error::NotConfigured)?;
    let http = HttpClient::new(config)?;
    let experiment_id = resolve_experiment(&http, &config.experiment).await.map_err(Error::Config)?;
    let workers = options.max_workers.max(1);

    // The rows to score: (trace, the record of its inputs/outputs/expectations, outputs).
    let rows: Vec<(EvalTrace, EvalRecord, Value)> = match data {
        AssessData::Rows(rows) => {
            let mut traced = Vec::with_capacity(rows.len());
            for row in rows {
                traced.push(record_row(row).await);
            }
            crate::flush_async().await;
            traced
        }
        AssessData::Traces { filter, max_results } => {
            let ids = search_trace_ids(&http, &experiment_id, filter, max_results).await?;
            futures::stream::iter(ids)
                .map(|trace_id| {
                    let http = &http;
                    async move {
                        let spans = trace_spans(http, &trace_id).await?;
                        let root = spans.iter().find(|span| span.parent_id.is_none()).cloned().unwrap_or_default();
                        let record = EvalRecord { inputs: root.inputs.clone(), expectations: Map::new() };
                        let trace = EvalTrace { trace_id, span_id: root.span_id.clone(), spans };
                        Ok::<_, Error>((trace, record, root.outputs))
                    }
                })
                .buffered(workers)
                .try_collect()
                .await?
        }
    };

    let scored: Vec<Vec<RowFeedback>> = futures::stream::iter(rows.iter())
        .map(|(trace, record, outputs)| score_row(record, trace, outputs, scorers))
        .buffered(workers)
        .collect()
        .await;
    let digests: BTreeMap<&str, String> =
        scorers.iter().map(|scorer| (scorer.name(), scorer_digest(&**scorer))).collect();
    let assessments: Vec<_> = rows
        .iter()
        .zip(&scored)
        .flat_map(|((trace, _, _), feedbacks)| {
            feedbacks.iter().map(|feedback| {
                feedback_assessment(trace, feedback, None, digests.get(feedback.scorer.as_str()).cloned())
            })
        })
        .collect();
    futures::stream::iter(assessments)
        .map(|assessment| {
            let http = &http;
            async move {
                let path =
                    format!("/api/3.0/mlflow/traces/{}/assessments", assessment.trace_id.clone().unwrap_or_default());
                post(http, &path, &CreateAssessment { assessment }).await
            }
        })
        .buffer_unordered(workers)
        .try_collect::<Vec<_>>()
        .await?;

    let metrics = aggregate(scored.iter().flatten());
    let checks = options
        .thresholds
        .iter()
        .map(|(name, threshold)| {
            let mean = metrics.get(&format!("{name}/mean")).copied();
            ThresholdCheck {
                name: name.clone(),
                mean,
                threshold: *threshold,
                passed: mean.is_some_and(|m| m >= *threshold),
            }
        })
        .collect();
    let traces = rows.into_iter().zip(scored).map(|((trace, _, _), feedbacks)| (trace.trace_id, feedbacks)).collect();
    Ok(AssessReport { traces, metrics, checks })
}

/// Records a request made elsewhere as a trace of its own (root span `assess`).
async fn record_row(row: AssessRow) -> (EvalTrace, EvalRecord, Value) {
    TraceContext::default()
        .attach(async move {
            let span = start_span("assess", SpanType::Unknown);
            span.set_inputs(&row.inputs);
            span.set_outputs(&row.outputs);
            let trace = EvalTrace {
                trace_id: span.trace_id().unwrap_or_default(),
                span_id: span.span_id().unwrap_or_default(),
                spans: Vec::new(),
            };
            drop(span);
            (trace, EvalRecord { inputs: row.inputs, expectations: row.expectations }, row.outputs)
        })
        .await
}

/// Ids of the experiment's traces matching `filter`, newest first, following pages.
async fn search_trace_ids(
    http: &HttpClient,
    experiment_id: &str,
    filter: Option<String>,
    max_results: usize,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut page_token = None;
    while ids.len() < max_results {
        let request = SearchTracesV3 {
            locations: vec![TraceLocation::experiment(experiment_id.to_string())],
            filter: filter.clone(),
            max_results: Some((max_results - ids.len()).min(100) as i64),
            order_by: vec!["timestamp_ms DESC".to_string()],
            page_token: page_token.take(),
            ..SearchTracesV3::default()
        };
        let page = post(http, "/api/3.0/mlflow/traces/search", &request).await?;
        let traces = page["traces"].as_array().cloned().unwrap_or_default();
        ids.extend(traces.iter().filter_map(|info| info["trace_id"].as_str().map(str::to_string)));
        match page["next_page_token"].as_str() {
            Some(token) if !token.is_empty() && !traces.is_empty() => page_token = Some(token.to_string()),
            _ => break,
        }
    }
    ids.truncate(max_results);
    Ok(ids)
}
