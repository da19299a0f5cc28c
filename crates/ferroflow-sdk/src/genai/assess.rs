//! `assess`: production monitoring. Score requests that already happened (traces picked by a
//! `search_traces` filter, or given inputs/outputs, each recorded as a trace first), log every
//! result as a feedback assessment on its trace, and report pass/fail against a minimum mean
//! per feedback name, so a cron job can fail loudly when quality drops.
//!
//! Unlike [`super::evaluate`] no run is made: the feedback carries no
//! `mlflow.assessment.sourceRunId`, only the scorer's digest.

use std::collections::BTreeMap;

use ferroflow_proto::traces::{SearchTracesV3, TraceLocation};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::evaluate::{
    aggregate, feedback_assessment, log_assessments, post, score_row, scorer_digest, scorer_tracing_from_env,
    trace_spans, EvalRecord, ScorerTracing,
};
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
    /// These traces.
    TraceIds(Vec<String>),
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
    /// Each scorer call a trace of its own, the judges' LLM calls in it (default:
    /// `MLFLOW_GENAI_EVAL_ENABLE_SCORER_TRACING`, off as in MLflow).
    pub trace_scorers: bool,
}

impl Default for AssessOptions {
    fn default() -> Self {
        AssessOptions {
            thresholds: BTreeMap::new(),
            max_workers: DEFAULT_MAX_WORKERS,
            trace_scorers: scorer_tracing_from_env(),
        }
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
        AssessData::Traces { .. } | AssessData::TraceIds(_) => {
            let ids = match data {
                AssessData::Traces { filter, max_results } => {
                    search_traces(&http, &experiment_id, filter, max_results, "timestamp_ms DESC")
                        .await?
                        .into_iter()
                        .map(|(id, _)| id)
                        .collect()
                }
                AssessData::TraceIds(ids) => ids,
                AssessData::Rows(_) => Vec::new(),
            };
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
        .map(|(trace, record, outputs)| {
            score_row(record, trace, outputs, scorers, ScorerTracing { enabled: options.trace_scorers, run_id: None })
        })
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
    log_assessments(&http, assessments, workers).await?;
    if options.trace_scorers {
        crate::flush_async().await;
    }

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

/// The experiment's traces matching `filter` in `order` (id, request time in ms), following
/// pages.
async fn search_traces(
    http: &HttpClient,
    experiment_id: &str,
    filter: Option<String>,
    max_results: usize,
    order: &str,
) -> Result<Vec<(String, i64)>> {
    let mut ids = Vec::new();
    let mut page_token = None;
    while ids.len() < max_results {
        let request = SearchTracesV3 {
            locations: vec![TraceLocation::experiment(experiment_id.to_string())],
            filter: filter.clone(),
            max_results: Some((max_results - ids.len()).min(100) as i64),
            order_by: vec![order.to_string()],
            page_token: page_token.take(),
            ..SearchTracesV3::default()
        };
        let page = post(http, "/api/3.0/mlflow/traces/search", &request).await?;
        let traces = page["traces"].as_array().cloned().unwrap_or_default();
        ids.extend(traces.iter().filter_map(|info| {
            let time = info["request_time"].as_str().and_then(rfc3339_to_millis).unwrap_or(0);
            Some((info["trace_id"].as_str()?.to_string(), time))
        }));
        match page["next_page_token"].as_str() {
            Some(token) if !token.is_empty() && !traces.is_empty() => page_token = Some(token.to_string()),
            _ => break,
        }
    }
    ids.truncate(max_results);
    Ok(ids)
}

/// The experiment tag that keeps a monitor's watermark: the request time (ms) of the newest
/// trace it has looked at.
pub const MONITOR_WATERMARK_TAG_PREFIX: &str = "ferroflow.monitor.";

/// Scores the traces that arrived since its last pass: a cron job or a loop calls
/// [`Monitor::run_once`]. A sample of them (`sample_rate`, chosen by trace id, so a rerun picks
/// the same ones) is assessed like [`assess`] does; the watermark (the newest request time
/// seen) is kept in the server as the experiment tag `ferroflow.monitor.<name>.watermark`, so
/// the next pass, from any process, starts after it.
pub struct Monitor {
    name: String,
    scorers: Vec<Box<dyn Scorer>>,
    filter: Option<String>,
    sample_rate: f64,
    options: AssessOptions,
    max_traces: usize,
}

impl Monitor {
    pub fn new(name: impl Into<String>, scorers: Vec<Box<dyn Scorer>>) -> Monitor {
        Monitor {
            name: name.into(),
            scorers,
            filter: None,
            sample_rate: 1.0,
            options: AssessOptions::default(),
            max_traces: 10_000,
        }
    }

    /// Only traces matching this filter (MLflow's trace filter grammar).
    pub fn filter(mut self, filter: impl Into<String>) -> Monitor {
        self.filter = Some(filter.into());
        self
    }

    /// The share of new traces scored, from 0 to 1 (default 1: all).
    pub fn sample_rate(mut self, rate: f64) -> Monitor {
        self.sample_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Thresholds and concurrency, as for [`assess`].
    pub fn options(mut self, options: AssessOptions) -> Monitor {
        self.options = options;
        self
    }

    /// The most traces looked at in one pass (the rest wait for the next).
    pub fn max_traces(mut self, max_traces: usize) -> Monitor {
        self.max_traces = max_traces.max(1);
        self
    }

    fn watermark_tag(&self) -> String {
        format!("{MONITOR_WATERMARK_TAG_PREFIX}{}.watermark", self.name)
    }

    /// One pass: the traces newer than the watermark, a sample of them scored and checked,
    /// the watermark moved to the newest one seen.
    pub async fn run_once(&self) -> Result<AssessReport> {
        let config = crate::tracer::tracer_config().ok_or(Error::NotConfigured)?;
        let http = HttpClient::new(config)?;
        let experiment_id = resolve_experiment(&http, &config.experiment).await.map_err(Error::Config)?;
        let tag = self.watermark_tag();
        let experiment = http
            .call(Method::GET, "/api/2.0/mlflow/experiments/get", &[("experiment_id", experiment_id.as_str())], None)
            .await?;
        let watermark: i64 = experiment["experiment"]["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["key"] == tag.as_str())
            .and_then(|t| t["value"].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let newer = format!("trace.timestamp_ms > {watermark}");
        let filter = match &self.filter {
            Some(own) => format!("{newer} AND {own}"),
            None => newer,
        };
        let found = search_traces(&http, &experiment_id, Some(filter), self.max_traces, "timestamp_ms ASC").await?;
        let newest = found.iter().map(|(_, time)| *time).max();
        let sampled: Vec<String> =
            found.into_iter().map(|(id, _)| id).filter(|id| sampled(id, self.sample_rate)).collect();
        let report = assess(AssessData::TraceIds(sampled), &self.scorers, self.options.clone()).await?;
        if let Some(newest) = newest.filter(|newest| *newest > watermark) {
            let body = serde_json::json!({"experiment_id": experiment_id, "key": tag, "value": newest.to_string()});
            http.call(Method::POST, "/api/2.0/mlflow/experiments/set-experiment-tag", &[], Some(&body)).await?;
        }
        Ok(report)
    }
}

/// Whether a trace is in the sample: by a hash of its id, so every pass agrees.
fn sampled(trace_id: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let digest = Sha256::digest(trace_id.as_bytes());
    let draw = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8])) as f64 / u64::MAX as f64;
    draw < rate
}

/// Milliseconds since the epoch of an RFC 3339 time as the server writes request times
/// (`2026-11-27T11:41:39.664Z`).
fn rfc3339_to_millis(text: &str) -> Option<i64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>());
    let (year, month, day) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut parts = hms.split(':').map(|p| p.parse::<i64>());
    let (hour, minute, second) = (parts.next()?.ok()?, parts.next()?.ok()?, parts.next()?.ok()?);
    let millis: i64 = format!("{:0<3}", &fraction[..fraction.len().min(3)]).parse().ok()?;
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_times_and_samples() {
        assert_eq!(rfc3339_to_millis("2026-11-27T11:41:39.664Z"), Some(1_795_779_699_664));
        assert_eq!(rfc3339_to_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_to_millis("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(rfc3339_to_millis("soon"), None);
        let ids: Vec<String> = (0..2000).map(|i| format!("tr-{i:032x}")).collect();
        let kept = ids.iter().filter(|id| sampled(id, 0.25)).count();
        assert!((400..600).contains(&kept), "{kept}");
        assert!(ids.iter().all(|id| sampled(id, 1.0)) && !ids.iter().any(|id| sampled(id, 0.0)));
        assert_eq!(sampled(&ids[7], 0.25), sampled(&ids[7], 0.25));
    }
}
