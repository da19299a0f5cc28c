//! `evaluate`: run a predict function over a data set, score every row, and record it all the
//! way `mlflow.genai.evaluate` does, so the Python client and the UI read a Rust evaluation
//! as a Python one.
//!
//! What is recorded, in order:
//! 1. a run in the tracer's experiment (tags `mlflow.user`, `mlflow.source.name`,
//!    `mlflow.source.type`), the data set as its input (`dataset`, source type `code`, with
//!    schema and profile), the tag `mlflow.runType = genai_evaluate`, and the tags
//!    `mlflow.genaiEvaluate.agent.function` / `.agent.digest` / `.scorersDigest`;
//! 2. one trace per row, its root span the predict call (inputs, outputs, error), with the
//!    trace metadata `mlflow.sourceRun` (the run) and the tag `mlflow.eval.requestId`; rows
//!    run concurrently, `max_workers` at a time;
//! 3. once the traces are delivered, every scorer's result as a feedback assessment on the
//!    row's root span (source `CODE` or `LLM_JUDGE`, metadata
//!    `mlflow.assessment.sourceRunId` and `mlflow.assessment.scorerDigest`; a failed scorer is
//!    a feedback with the error `SCORER_ERROR`), and the row's expectations as `HUMAN`
//!    expectation assessments;
//! 4. the traces linked to the run, the aggregate metrics `<name>/mean` (booleans and yes/no
//!    as 1/0) logged on it, and the run ended `FINISHED`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use ferroflow_proto::encoding::python_json;
use ferroflow_proto::traces::{
    AssessmentErrorWire, AssessmentSourceWire, AssessmentWire, CreateAssessment, ExpectationWire, FeedbackWire,
    LinkTracesToRun, SerializedValueWire,
};
use ferroflow_proto::tracking::{
    CreateRun, DatasetInputWire, DatasetWire, KeyValue, LogBatch, LogInputs, MetricIn, RunKeyValue, UpdateRun,
};
use futures::{FutureExt, SinkExt, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::scorer::{EvalTrace, Score, Scorer, ScorerInput, ScorerKind, TraceSpan};
use crate::error::{Error, Result};
use crate::export::mlflow::{rfc3339_millis, source_name};
use crate::export::resolve_experiment;
use crate::http::HttpClient;
use crate::record::ids::uuid4;
use crate::{start_span, update_current_trace, SpanType, TraceContext, TraceUpdate};

const SOURCE_RUN: &str = "mlflow.assessment.sourceRunId";
const SCORER_DIGEST: &str = "mlflow.assessment.scorerDigest";
const SCORER_ERROR: &str = "SCORER_ERROR";
const SCORER_TRACE_ID: &str = "mlflow.assessment.scorerTraceId";
const SOURCE_SCORER: &str = "mlflow.trace.sourceScorer";
/// Assessment requests in flight at once while an evaluation logs them, at least (as many as
/// rows in flight when that is more, so logging keeps up with the judges).
const ASSESSMENTS_IN_FLIGHT: usize = 8;
/// Rows in flight at once unless set otherwise (as `MLFLOW_GENAI_EVAL_MAX_WORKERS`).
pub const DEFAULT_MAX_WORKERS: usize = 10;

/// One row of evaluation data: the predict function's inputs (an object of its arguments by
/// name) and what is expected of its answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct EvalRecord {
    pub inputs: Value,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub expectations: Map<String, Value>,
}

impl EvalRecord {
    pub fn new(inputs: Value) -> EvalRecord {
        EvalRecord { inputs, expectations: Map::new() }
    }

    pub fn expectation(mut self, name: impl Into<String>, value: impl Into<Value>) -> EvalRecord {
        self.expectations.insert(name.into(), value.into());
        self
    }

    /// Rows from a JSON Lines file, one `{"inputs": {...}, "expectations": {...}}` per line.
    pub fn read_jsonl(path: impl AsRef<std::path::Path>) -> Result<Vec<EvalRecord>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|err| Error::Config(format!("cannot read {}: {err}", path.display())))?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|err| {
                    Error::Config(format!("{} line {}: not an evaluation row: {err}", path.display(), i + 1))
                })
            })
            .collect()
    }
}

/// What [`evaluate`] runs over: rows in memory (a `Vec<EvalRecord>` converts), a JSON Lines
/// file, or an evaluation dataset stored in the tracking server, by name or id.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalData {
    Records(Vec<EvalRecord>),
    /// One `{"inputs": {...}, "expectations": {...}}` per line.
    Jsonl(std::path::PathBuf),
    /// An evaluation dataset (`mlflow.genai.datasets`), logged as the run's input the way
    /// `mlflow.genai.evaluate` logs a managed dataset.
    Dataset(DatasetRef),
}

/// An evaluation dataset named by its id (`d-…`) or its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetRef {
    Id(String),
    Name(String),
}

impl EvalData {
    pub fn jsonl(path: impl Into<std::path::PathBuf>) -> EvalData {
        EvalData::Jsonl(path.into())
    }
    pub fn dataset_id(id: impl Into<String>) -> EvalData {
        EvalData::Dataset(DatasetRef::Id(id.into()))
    }
    pub fn dataset_name(name: impl Into<String>) -> EvalData {
        EvalData::Dataset(DatasetRef::Name(name.into()))
    }
}

impl From<Vec<EvalRecord>> for EvalData {
    fn from(records: Vec<EvalRecord>) -> EvalData {
        EvalData::Records(records)
    }
}

/// The rows to evaluate and the data set input the run records for them.
struct LoadedData {
    records: Vec<EvalRecord>,
    /// The stored dataset's own description; `None`: described from the rows.
    dataset: Option<DatasetWire>,
}

/// Reads the rows: from the file, or from the server's dataset (every page of its records).
async fn load_data(http: &HttpClient, data: EvalData) -> Result<LoadedData> {
    let dataset = match data {
        EvalData::Records(records) => return Ok(LoadedData { records, dataset: None }),
        EvalData::Jsonl(path) => return Ok(LoadedData { records: EvalRecord::read_jsonl(path)?, dataset: None }),
        EvalData::Dataset(DatasetRef::Id(id)) => {
            let path = format!("/api/3.0/mlflow/datasets/{id}");
            http.call(Method::GET, &path, &[], None).await?["dataset"].take()
        }
        EvalData::Dataset(DatasetRef::Name(name)) => {
            // As the Python client looks a dataset up by name.
            let filter = format!("name = \"{}\"", name.replace('"', "\\\""));
            let body = json!({"filter_string": filter, "max_results": 2});
            let found = http.call(Method::POST, "/api/3.0/mlflow/datasets/search", &[], Some(&body)).await?;
            match found["datasets"].as_array().map(Vec::as_slice) {
                Some([one]) => one.clone(),
                Some([]) | None => {
                    return Err(Error::Api {
                        status: 404,
                        code: crate::ErrorCode::parse("RESOURCE_DOES_NOT_EXIST"),
                        message: format!("no evaluation dataset named {name:?}"),
                    })
                }
                Some(_) => {
                    return Err(Error::Config(format!(
                        "several evaluation datasets are named {name:?}: name one by its id"
                    )))
                }
            }
        }
    };
    let id = dataset["dataset_id"].as_str().unwrap_or_default().to_string();
    let mut records = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let path = format!("/api/3.0/mlflow/datasets/{id}/records");
        let mut query = vec![("max_results", "1000")];
        if let Some(token) = &page_token {
            query.push(("page_token", token));
        }
        let page = http.call(Method::GET, &path, &query, None).await?;
        // The records travel as JSON text inside the message.
        let rows: Vec<Value> = match &page["records"] {
            Value::String(text) => serde_json::from_str(text)
                .map_err(|err| Error::Protocol { url: http.url(&path), message: format!("records: {err}") })?,
            Value::Array(rows) => rows.clone(),
            _ => Vec::new(),
        };
        records.extend(rows.into_iter().map(|mut row| EvalRecord {
            inputs: row["inputs"].take(),
            expectations: match row["expectations"].take() {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }));
        page_token = page["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
        if page_token.is_none() {
            break;
        }
    }
    let text = |key: &str| dataset[key].as_str().map(str::to_string);
    let wire = DatasetWire {
        name: text("name"),
        digest: text("digest"),
        source_type: Some("mlflow_evaluation_dataset".into()),
        source: Some(python_json(&json!({ "dataset_id": id }))),
        schema: text("schema"),
        profile: text("profile"),
    };
    Ok(LoadedData { records, dataset: Some(wire) })
}

/// A [`ResponsesAgent`](crate::agent::ResponsesAgent) as [`evaluate`]'s predict function: each
/// row's inputs are the agent's request (`{"input": [...]}`, as `mlflow.genai.evaluate` passes
/// them to an agent's `predict`), its outputs the agent's response; the agent's `predict` span
/// is a child of the row's.
pub fn agent_predict<'a, A: crate::agent::ResponsesAgent>(
    agent: &'a A,
) -> impl Fn(Value) -> futures::future::BoxFuture<'a, std::result::Result<Value, crate::agent::AgentError>> + Sync {
    move |inputs: Value| {
        Box::pin(async move {
            use crate::agent::ResponsesAgentExt as _;
            let request: crate::agent::ResponsesAgentRequest = serde_json::from_value(inputs)
                .map_err(|err| format!("the row's inputs are not a ResponsesAgent request: {err}"))?;
            let response = agent.invoke(request).await?;
            Ok(serde_json::to_value(&response)?)
        })
    }
}

/// How an evaluation runs.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// Rows predicted (and scored) at once.
    pub max_workers: usize,
    /// The predict function's name: the root span's name and the run's
    /// `mlflow.genaiEvaluate.agent.function` tag.
    pub predict_name: String,
    /// Each scorer call a trace of its own, the judges' LLM calls in it (default:
    /// `MLFLOW_GENAI_EVAL_ENABLE_SCORER_TRACING`, off as in MLflow).
    pub trace_scorers: bool,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        let max_workers = std::env::var("MLFLOW_GENAI_EVAL_MAX_WORKERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MAX_WORKERS);
        EvaluateOptions { max_workers, predict_name: "predict".to_string(), trace_scorers: scorer_tracing_from_env() }
    }
}

/// One scorer's result on one row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFeedback {
    /// The scorer that gave it.
    pub scorer: String,
    pub name: String,
    /// `None` when the scorer failed.
    pub value: Option<Value>,
    pub rationale: Option<String>,
    pub error: Option<String>,
    /// The span a judge looked at, when not the row's root span (a retriever span, say).
    /// The assessment itself is on the root span, as `mlflow.genai.evaluate` logs it.
    pub span_id: Option<String>,
    /// Extra assessment metadata the scorer gave (e.g. a judge's token counts).
    pub metadata: BTreeMap<String, String>,
    /// `CODE` or `LLM_JUDGE`.
    pub source_type: String,
    pub source_id: String,
}

/// One evaluated row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    pub trace_id: String,
    pub inputs: Value,
    /// What the predict function returned (null when it failed).
    pub outputs: Value,
    /// The predict function's error, if it failed.
    pub error: Option<String>,
    pub expectations: Map<String, Value>,
    pub feedbacks: Vec<RowFeedback>,
}

/// What [`evaluate`] returns: the run, the aggregates and every row.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationResult {
    pub run_id: String,
    pub experiment_id: String,
    /// `<name>/mean` per feedback name, as logged on the run.
    pub metrics: BTreeMap<String, f64>,
    pub rows: Vec<RowResult>,
}

/// Runs `predict` on every row of `data` (each in a trace of its own), scores each row with
/// every scorer, and records the run, traces, assessments and metrics as `mlflow.genai.evaluate`
/// does. Needs tracing on (`MLFLOW_TRACKING_URI`, or [`crate::init`]): the run goes to the
/// tracer's server and experiment.
///
/// ```no_run
/// use ferroflow_sdk::genai::{evaluate, scorer, EvalRecord, EvaluateOptions, Safety, Scorer};
/// use serde_json::{json, Value};
/// # async fn run() -> ferroflow_sdk::Result<()> {
/// let data = vec![EvalRecord::new(json!({"question": "What is MLflow?"}))
///     .expectation("expected_response", "An ML platform")];
/// let scorers: Vec<Box<dyn Scorer>> = vec![
///     Box::new(scorer("exact_match", |_, outputs, expectations, _| outputs == &expectations["expected_response"])),
///     Box::new(Safety::new()),
/// ];
/// let result = evaluate(data, |inputs: Value| async move {
///     Ok::<_, std::io::Error>(json!(format!("You asked: {}", inputs["question"])))
/// }, &scorers, EvaluateOptions::default()).await?;
/// println!("{:?}", result.metrics);
/// # Ok(()) }
/// ```
pub async fn evaluate<P, Fut, E>(
    data: impl Into<EvalData>,
    predict: P,
    scorers: &[Box<dyn Scorer>],
    options: EvaluateOptions,
) -> Result<EvaluationResult>
where
    P: Fn(Value) -> Fut + Sync,
    Fut: Future<Output = std::result::Result<Value, E>> + Send,
    E: Display,
{
    let config = crate::tracer::tracer_config().ok_or(Error::NotConfigured)?;
    let http = HttpClient::new(config)?;
    let experiment_id = resolve_experiment(&http, &config.experiment).await.map_err(Error::Config)?;
    let LoadedData { records: data, dataset } = load_data(&http, data.into()).await?;
    let workers = options.max_workers.max(1);
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let run_id = start_run(&http, &experiment_id, &user, &data, dataset, scorers, &options.predict_name).await?;

    // Predict: one trace per row.
    let mut predicted: Vec<(EvalTrace, Value, Option<String>)> = futures::stream::iter(data.iter())
        .map(|row| predict_row(row, &predict, &options.predict_name, &run_id))
        .buffered(workers)
        .collect()
        .await;
    // Assessments need their traces on the server; judging does not, so the rows are judged
    // while the traces are delivered, unless a scorer reads the spans back.
    let delivered = async {
        let report = crate::flush_async().await;
        if report.lost() > 0 {
            tracing::warn!(target: "ferroflow_sdk::genai", "some evaluation traces were not delivered: {report:?}");
        }
    }
    .shared();
    if scorers.iter().any(|scorer| scorer.needs_spans()) {
        delivered.clone().await;
        let spans: Vec<Result<Vec<TraceSpan>>> = futures::stream::iter(predicted.iter())
            .map(|(trace, _, _)| trace_spans(&http, &trace.trace_id))
            .buffered(workers)
            .collect()
            .await;
        for ((trace, _, _), spans) in predicted.iter_mut().zip(spans) {
            trace.spans = spans?;
        }
    }

    // Score every row, `workers` at a time, and record what each scorer said and what the row
    // expected. A row's assessments go to a logging stage of their own, so a row's place is
    // free for the next row as soon as its scorers are done: the judges never wait on the
    // server.
    let tracing = ScorerTracing { enabled: options.trace_scorers, run_id: Some(&run_id) };
    let digests: BTreeMap<&str, String> =
        scorers.iter().map(|scorer| (scorer.name(), scorer_digest(&**scorer))).collect();
    let (to_log, logged) = futures::channel::mpsc::channel::<Vec<AssessmentWire>>(workers * 4);
    let logging = async {
        delivered.clone().await;
        let http = &http;
        logged
            .flat_map(futures::stream::iter)
            .map(|assessment| create_assessment(http, assessment))
            .buffer_unordered(ASSESSMENTS_IN_FLIGHT.max(workers))
            .try_for_each(|_| async { Ok(()) })
            .await
    };
    let scoring = async {
        let mut scored: Vec<(usize, Vec<RowFeedback>)> = futures::stream::iter(data.iter().zip(&predicted).enumerate())
            .map(|(index, (row, (trace, outputs, _)))| {
                let (digests, run_id, user, mut to_log) = (&digests, &run_id, &user, to_log.clone());
                async move {
                    let feedbacks = score_row(row, trace, outputs, scorers, tracing).await;
                    let mut assessments = Vec::with_capacity(feedbacks.len() + row.expectations.len());
                    for feedback in &feedbacks {
                        let digest = digests.get(feedback.scorer.as_str()).cloned();
                        assessments.push(feedback_assessment(trace, feedback, Some(run_id), digest));
                    }
                    for (name, value) in &row.expectations {
                        assessments.push(expectation_assessment(trace, name, value, run_id, user));
                    }
                    // Fails only once logging has failed, whose error is the one returned.
                    let _ = to_log.send(assessments).await;
                    (index, feedbacks)
                }
            })
            .buffer_unordered(workers)
            .collect()
            .await;
        drop(to_log);
        scored.sort_unstable_by_key(|(index, _)| *index);
        scored.into_iter().map(|(_, feedbacks)| feedbacks).collect::<Vec<_>>()
    };
    let (scored, logged) = futures::join!(scoring, logging);
    logged?;
    if options.trace_scorers {
        let report = crate::flush_async().await;
        if report.lost() > 0 {
            tracing::warn!(target: "ferroflow_sdk::genai", "some scorer traces were not delivered: {report:?}");
        }
    }

    // Link the traces, log the aggregates, end the run.
    let trace_ids: Vec<String> = predicted.iter().map(|(trace, _, _)| trace.trace_id.clone()).collect();
    for chunk in trace_ids.chunks(100) {
        let link = LinkTracesToRun { trace_ids: chunk.to_vec(), run_id: Some(run_id.clone()) };
        post(&http, "/api/2.0/mlflow/traces/link-to-run", &link).await?;
    }
    let metrics = aggregate(scored.iter().flatten());
    if !metrics.is_empty() {
        let timestamp = now_millis();
        let batch = LogBatch {
            run_id: Some(run_id.clone()),
            metrics: metrics
                .iter()
                .map(|(key, value)| MetricIn {
                    run_id: Some(run_id.clone()),
                    key: Some(key.clone()),
                    value: Some(*value),
                    timestamp: Some(timestamp),
                    step: Some(0),
                    ..MetricIn::default()
                })
                .collect(),
            ..LogBatch::default()
        };
        post(&http, "/api/2.0/mlflow/runs/log-batch", &batch).await?;
    }
    let end = UpdateRun {
        run_id: Some(run_id.clone()),
        run_uuid: Some(run_id.clone()),
        status: Some("FINISHED".into()),
        end_time: Some(now_millis()),
        ..UpdateRun::default()
    };
    post(&http, "/api/2.0/mlflow/runs/update", &end).await?;

    let rows = data
        .into_iter()
        .zip(predicted)
        .zip(scored)
        .map(|((row, (trace, outputs, error)), feedbacks)| RowResult {
            trace_id: trace.trace_id,
            inputs: row.inputs,
            outputs,
            error,
            expectations: row.expectations,
            feedbacks,
        })
        .collect();
    Ok(EvaluationResult { run_id, experiment_id, metrics, rows })
}

/// A trace's spans as the server returns them (`GET /api/3.0/mlflow/traces/get`): ids from
/// base64 to hex, attribute values from their AnyValue JSON (a string holding JSON, as the
/// reference server keeps MLflow's attributes, is read as that JSON, as the Python client does).
pub(crate) async fn trace_spans(http: &HttpClient, trace_id: &str) -> Result<Vec<TraceSpan>> {
    use base64::Engine as _;
    let got = http
        .call(Method::GET, "/api/3.0/mlflow/traces/get", &[("trace_id", trace_id), ("allow_partial", "False")], None)
        .await?;
    let hex_id = |value: &Value| -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(value.as_str()?).ok()?;
        (!bytes.is_empty()).then(|| bytes.iter().map(|b| format!("{b:02x}")).collect())
    };
    let spans = got["trace"]["spans"].as_array().cloned().unwrap_or_default();
    Ok(spans
        .iter()
        .map(|span| {
            let mut attributes: BTreeMap<&str, Value> = BTreeMap::new();
            for pair in span["attributes"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let (Some(key), Some(value)) =
                    (pair["key"].as_str(), ferroflow_proto::encoding::json_of_any_value_json(&pair["value"]))
                else {
                    continue;
                };
                let value = match value {
                    Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    other => other,
                };
                attributes.insert(key, value);
            }
            TraceSpan {
                span_id: hex_id(&span["span_id"]).unwrap_or_default(),
                parent_id: hex_id(&span["parent_span_id"]),
                name: span["name"].as_str().unwrap_or_default().to_string(),
                span_type: attributes.get("mlflow.spanType").and_then(Value::as_str).unwrap_or("UNKNOWN").to_string(),
                inputs: attributes.remove("mlflow.spanInputs").unwrap_or(Value::Null),
                outputs: attributes.remove("mlflow.spanOutputs").unwrap_or(Value::Null),
                status: match &span["status"]["code"] {
                    Value::String(code) => code.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                },
            }
        })
        .collect())
}

/// Creates the assessments, `workers` requests at a time.
pub(super) async fn log_assessments(http: &HttpClient, assessments: Vec<AssessmentWire>, workers: usize) -> Result<()> {
    futures::stream::iter(assessments)
        .map(|assessment| create_assessment(http, assessment))
        .buffer_unordered(workers.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

async fn create_assessment(http: &HttpClient, assessment: AssessmentWire) -> Result<Value> {
    let path = format!("/api/3.0/mlflow/traces/{}/assessments", assessment.trace_id.clone().unwrap_or_default());
    post(http, &path, &CreateAssessment { assessment }).await
}

pub(super) async fn post<T: Serialize>(http: &HttpClient, path: &str, body: &T) -> Result<Value> {
    let body = serde_json::to_value(body).map_err(|err| Error::Config(err.to_string()))?;
    http.call(Method::POST, path, &[], Some(&body)).await
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A scorer's digest (`mlflow.assessment.scorerDigest`): what identifies its definition. Python
/// hashes a scorer's source; a Rust scorer is known by its name and kind.
pub(super) fn scorer_digest(scorer: &dyn Scorer) -> String {
    let kind = match scorer.kind() {
        ScorerKind::Code => "code".to_string(),
        ScorerKind::LlmJudge { model } => format!("llm_judge:{model}"),
    };
    format!("sha256:{}", sha256_hex(&format!("{kind}:{}", scorer.name())))
}

/// Creates the evaluation run and records its input data set and tags.
async fn start_run(
    http: &HttpClient,
    experiment_id: &str,
    user: &str,
    data: &[EvalRecord],
    dataset: Option<DatasetWire>,
    scorers: &[Box<dyn Scorer>],
    predict_name: &str,
) -> Result<String> {
    let source = source_name();
    let source_tags = vec![
        KeyValue::new("mlflow.user", user),
        KeyValue::new("mlflow.source.name", &source),
        KeyValue::new("mlflow.source.type", "LOCAL"),
    ];
    let create = CreateRun {
        experiment_id: Some(experiment_id.to_string()),
        user_id: Some(user.to_string()),
        start_time: Some(now_millis()),
        tags: source_tags.clone(),
        ..CreateRun::default()
    };
    let created = post(http, "/api/2.0/mlflow/runs/create", &create).await?;
    let run_id = created["run"]["info"]["run_id"]
        .as_str()
        .ok_or_else(|| Error::Protocol { url: http.url("/api/2.0/mlflow/runs/create"), message: "no run id".into() })?
        .to_string();

    let inputs = LogInputs {
        run_id: Some(run_id.clone()),
        datasets: vec![DatasetInputWire {
            tags: Vec::new(),
            dataset: Some(dataset.unwrap_or_else(|| dataset_wire(data, user, &source))),
        }],
        ..LogInputs::default()
    };
    post(http, "/api/2.0/mlflow/runs/log-inputs", &inputs).await?;
    let run_type = RunKeyValue {
        run_id: Some(run_id.clone()),
        run_uuid: Some(run_id.clone()),
        key: Some("mlflow.runType".into()),
        value: Some("genai_evaluate".into()),
    };
    post(http, "/api/2.0/mlflow/runs/set-tag", &run_type).await?;
    let mut names: Vec<String> = scorers.iter().map(|scorer| scorer_digest(&**scorer)).collect();
    names.sort();
    let scorers_digest = json!({
        "digest": format!("sha256:{}", sha256_hex(&names.join(","))),
        "hashed": scorers.len(),
        "total": scorers.len(),
    });
    let tags = LogBatch {
        run_id: Some(run_id.clone()),
        tags: vec![
            KeyValue::new("mlflow.genaiEvaluate.agent.function", predict_name),
            KeyValue::new("mlflow.genaiEvaluate.agent.digest", format!("sha256:{}", sha256_hex(predict_name))),
            KeyValue::new("mlflow.genaiEvaluate.scorersDigest", python_json(&scorers_digest)),
        ],
        ..LogBatch::default()
    };
    post(http, "/api/2.0/mlflow/runs/log-batch", &tags).await?;
    Ok(run_id)
}

/// The evaluation data as the run's input: `dataset`, source type `code`, the columns'
/// schema (MLflow's `mlflow_colspec`) and profile, and a digest of the rows.
fn dataset_wire(data: &[EvalRecord], user: &str, source: &str) -> DatasetWire {
    let inputs: Vec<&Value> = data.iter().map(|row| &row.inputs).collect();
    let expectations: Vec<Value> = data.iter().map(|row| Value::Object(row.expectations.clone())).collect();
    let mut columns = vec![column_spec("inputs", &inputs)];
    if data.iter().any(|row| !row.expectations.is_empty()) {
        columns.push(column_spec("expectations", &expectations.iter().collect::<Vec<_>>()));
    }
    let profile = json!({"num_rows": data.len(), "num_elements": data.len() * columns.len()});
    let source_json =
        json!({"tags": {"mlflow.user": user, "mlflow.source.name": source, "mlflow.source.type": "LOCAL"}});
    DatasetWire {
        name: Some("dataset".into()),
        digest: Some(sha256_hex(&python_json(&data))[..8].to_string()),
        source_type: Some("code".into()),
        source: Some(python_json(&source_json)),
        schema: Some(python_json(&json!({ "mlflow_colspec": columns }))),
        profile: Some(python_json(&profile)),
    }
}

/// One column's spec: an object whose properties are typed from the rows' values.
fn column_spec(name: &str, values: &[&Value]) -> Value {
    let mut spec = object_spec(values);
    if let Value::Object(map) = &mut spec {
        map.insert("name".into(), Value::String(name.into()));
        map.insert("required".into(), Value::Bool(true));
    }
    spec
}

fn object_spec(values: &[&Value]) -> Value {
    let mut keys: Vec<&String> = Vec::new();
    for value in values {
        for key in value.as_object().into_iter().flat_map(|map| map.keys()) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut properties = Map::new();
    for key in keys {
        let present: Vec<&Value> =
            values.iter().filter_map(|value| value.get(key.as_str())).filter(|v| !v.is_null()).collect();
        let mut spec = type_spec(&present);
        if let Value::Object(map) = &mut spec {
            map.insert("required".into(), Value::Bool(present.len() == values.len()));
        }
        properties.insert(key.clone(), spec);
    }
    json!({"type": "object", "properties": properties})
}

fn type_spec(values: &[&Value]) -> Value {
    let Some(first) = values.first() else {
        return json!({"type": "string"});
    };
    match first {
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(_) if values.iter().all(|v| v.is_i64() || v.is_u64()) => json!({"type": "long"}),
        Value::Number(_) => json!({"type": "double"}),
        Value::String(_) | Value::Null => json!({"type": "string"}),
        Value::Array(_) => {
            let items: Vec<&Value> = values.iter().filter_map(|v| v.as_array()).flatten().collect();
            json!({"type": "array", "items": type_spec(&items)})
        }
        Value::Object(_) => object_spec(values),
    }
}

/// Runs the predict function on one row inside a root span of a trace of its own.
async fn predict_row<P, Fut, E>(
    row: &EvalRecord,
    predict: &P,
    name: &str,
    run_id: &str,
) -> (EvalTrace, Value, Option<String>)
where
    P: Fn(Value) -> Fut + Sync,
    Fut: Future<Output = std::result::Result<Value, E>> + Send,
    E: Display,
{
    // An empty context: this row's spans never take another row's span as their parent,
    // whichever thread polls them.
    TraceContext::default()
        .attach(async {
            let span = start_span(name.to_string(), SpanType::Unknown);
            span.set_inputs(&row.inputs);
            update_current_trace(
                TraceUpdate::new().metadata("mlflow.sourceRun", run_id).tag("mlflow.eval.requestId", uuid4()),
            );
            let trace = EvalTrace {
                trace_id: span.trace_id().unwrap_or_default(),
                span_id: span.span_id().unwrap_or_default(),
                spans: Vec::new(),
            };
            let (outputs, error) = match predict(row.inputs.clone()).await {
                Ok(outputs) => {
                    span.set_outputs(&outputs);
                    (outputs, None)
                }
                Err(err) => {
                    span.record_error(&err);
                    (Value::Null, Some(err.to_string()))
                }
            };
            drop(span);
            (trace, outputs, error)
        })
        .await
}

/// Whether each scorer call is a trace of its own, as `mlflow.genai.evaluate` records it with
/// `MLFLOW_GENAI_EVAL_ENABLE_SCORER_TRACING`: a root `EVALUATOR` span named after the scorer
/// (the judges' LLM calls its `CHAT_MODEL` children), the trace tag `mlflow.trace.sourceScorer`,
/// the evaluation's run as `mlflow.sourceRun`, and the trace's id in each of the scorer's
/// feedbacks (`mlflow.assessment.scorerTraceId`). Off, scorers (and their judge calls) are
/// not traced at all.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScorerTracing<'a> {
    pub enabled: bool,
    pub run_id: Option<&'a str>,
}

/// `MLFLOW_GENAI_EVAL_ENABLE_SCORER_TRACING` as MLflow reads a boolean variable (default off).
pub(super) fn scorer_tracing_from_env() -> bool {
    std::env::var("MLFLOW_GENAI_EVAL_ENABLE_SCORER_TRACING")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
        .unwrap_or(false)
}

/// Runs one scorer, in a trace of its own when scorer tracing is on; the trace's id with it.
async fn run_scorer(
    scorer: &dyn Scorer,
    input: ScorerInput<'_>,
    tracing: ScorerTracing<'_>,
) -> (std::result::Result<Score, super::scorer::ScorerError>, Option<String>) {
    if !tracing.enabled || !crate::is_enabled() {
        return (super::llm_span::with_llm_tracing(false, scorer.score(input)).await, None);
    }
    TraceContext::default()
        .attach(async {
            let span = start_span(scorer.name().to_string(), SpanType::Evaluator);
            span.set_inputs(&json!({
                "inputs": input.inputs,
                "outputs": input.outputs,
                "expectations": input.expectations,
                "trace": {"info": {"trace_id": input.trace.trace_id}},
            }));
            let mut update = TraceUpdate::new().tag(SOURCE_SCORER, scorer.name());
            if let Some(run_id) = tracing.run_id {
                update = update.metadata("mlflow.sourceRun", run_id);
            }
            update_current_trace(update);
            let result = super::llm_span::with_llm_tracing(true, scorer.score(input)).await;
            match &result {
                Ok(score) => span.set_outputs(&score_json(scorer.name(), score)),
                Err(err) => span.record_error(err),
            }
            (result, span.trace_id())
        })
        .await
}

/// A scorer's result as its span's outputs: the value, or the feedback(s) it made.
fn score_json(name: &str, score: &Score) -> Value {
    let feedback = |f: &super::scorer::Feedback| json!({"name": f.name.as_deref().unwrap_or(name), "value": f.value, "rationale": f.rationale, "metadata": f.metadata});
    match score {
        Score::Value(value) => value.clone(),
        Score::Feedback(f) => feedback(f),
        Score::Many(many) => Value::Array(many.iter().map(feedback).collect()),
    }
}

/// Every scorer on one row (a failing scorer gives an error feedback).
pub(super) async fn score_row(
    row: &EvalRecord,
    trace: &EvalTrace,
    outputs: &Value,
    scorers: &[Box<dyn Scorer>],
    tracing: ScorerTracing<'_>,
) -> Vec<RowFeedback> {
    let input = ScorerInput { inputs: &row.inputs, outputs, expectations: &row.expectations, trace };
    let results = futures::future::join_all(scorers.iter().map(|scorer| run_scorer(&**scorer, input, tracing))).await;
    let mut feedbacks = Vec::new();
    for (scorer, (result, scorer_trace)) in scorers.iter().zip(results) {
        let first = feedbacks.len();
        let (source_type, judge_model) = match scorer.kind() {
            ScorerKind::Code => ("CODE", None),
            ScorerKind::LlmJudge { model } => ("LLM_JUDGE", Some(model)),
        };
        let source_id = |own: &str| judge_model.clone().unwrap_or_else(|| own.to_string());
        let name = scorer.name().to_string();
        // A feedback the scorer made itself: its own name (the scorer's when it has none),
        // the source `default` for code, as Python records a returned `Feedback`.
        let given = |feedback: super::scorer::Feedback| RowFeedback {
            scorer: name.clone(),
            name: feedback.name.unwrap_or_else(|| name.clone()),
            value: Some(feedback.value),
            rationale: feedback.rationale,
            error: None,
            span_id: feedback.span_id,
            metadata: feedback.metadata,
            source_type: source_type.into(),
            source_id: source_id("default"),
        };
        match result {
            Ok(Score::Value(value)) => feedbacks.push(RowFeedback {
                scorer: name.clone(),
                name: name.clone(),
                value: Some(value),
                rationale: None,
                error: None,
                span_id: None,
                metadata: BTreeMap::new(),
                source_type: source_type.into(),
                source_id: source_id(&name),
            }),
            Ok(Score::Feedback(feedback)) => feedbacks.push(given(feedback)),
            Ok(Score::Many(many)) => feedbacks.extend(many.into_iter().map(given)),
            Err(err) => feedbacks.push(RowFeedback {
                scorer: name.clone(),
                name: name.clone(),
                value: None,
                rationale: None,
                error: Some(err.to_string()),
                span_id: None,
                metadata: BTreeMap::new(),
                source_type: source_type.into(),
                source_id: source_id(&name),
            }),
        }
        if let Some(trace_id) = scorer_trace {
            for feedback in &mut feedbacks[first..] {
                feedback.metadata.insert(SCORER_TRACE_ID.to_string(), trace_id.clone());
            }
        }
    }
    feedbacks
}

pub(super) fn feedback_assessment(
    trace: &EvalTrace,
    feedback: &RowFeedback,
    run_id: Option<&str>,
    digest: Option<String>,
) -> AssessmentWire {
    let now = rfc3339_millis(now_nanos());
    let mut metadata = feedback.metadata.clone();
    if let Some(run_id) = run_id {
        metadata.insert(SOURCE_RUN.to_string(), run_id.to_string());
    }
    if let Some(digest) = digest {
        metadata.insert(SCORER_DIGEST.to_string(), digest);
    }
    AssessmentWire {
        assessment_name: Some(feedback.name.clone()),
        trace_id: Some(trace.trace_id.clone()),
        // On the root span, whichever span a judge looked at: `mlflow.genai.evaluate` logs
        // every feedback there.
        span_id: Some(trace.span_id.clone()),
        source: Some(AssessmentSourceWire {
            source_type: Some(feedback.source_type.clone()),
            source_id: Some(feedback.source_id.clone()),
        }),
        create_time: Some(now.clone()),
        last_update_time: Some(now),
        feedback: Some(FeedbackWire {
            value: feedback.value.clone(),
            error: feedback.error.as_ref().map(|message| AssessmentErrorWire {
                error_code: Some(SCORER_ERROR.into()),
                error_message: Some(message.clone()),
                stack_trace: None,
            }),
        }),
        rationale: feedback.rationale.clone(),
        metadata,
        valid: Some(true),
        ..AssessmentWire::default()
    }
}

fn expectation_assessment(trace: &EvalTrace, name: &str, value: &Value, run_id: &str, user: &str) -> AssessmentWire {
    let now = rfc3339_millis(now_nanos());
    // A primitive is a protobuf value; anything else is JSON text, as Python writes it.
    let expectation = match value {
        Value::Array(_) | Value::Object(_) => ExpectationWire {
            value: None,
            serialized_value: Some(SerializedValueWire {
                serialization_format: Some("JSON_FORMAT".into()),
                value: Some(python_json(value)),
            }),
        },
        primitive => ExpectationWire { value: Some(primitive.clone()), serialized_value: None },
    };
    AssessmentWire {
        assessment_name: Some(name.to_string()),
        trace_id: Some(trace.trace_id.clone()),
        span_id: Some(trace.span_id.clone()),
        source: Some(AssessmentSourceWire { source_type: Some("HUMAN".into()), source_id: Some(user.to_string()) }),
        create_time: Some(now.clone()),
        last_update_time: Some(now),
        expectation: Some(expectation),
        metadata: BTreeMap::from([(SOURCE_RUN.to_string(), run_id.to_string())]),
        ..AssessmentWire::default()
    }
}

fn now_nanos() -> u64 {
    crate::record::now_unix_nanos()
}

/// `<name>/mean` of every feedback name with at least one value that counts: booleans and
/// `yes`/`no` as 1 and 0, numbers as they are. Errors and other strings are left out.
pub(super) fn aggregate<'a>(feedbacks: impl Iterator<Item = &'a RowFeedback>) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for feedback in feedbacks {
        let number = match &feedback.value {
            Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("yes") => Some(1.0),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("no") => Some(0.0),
            _ => None,
        };
        if let Some(number) = number {
            let entry = sums.entry(feedback.name.as_str()).or_default();
            entry.0 += number;
            entry.1 += 1;
        }
    }
    sums.into_iter().map(|(name, (sum, n))| (format!("{name}/mean"), sum / n as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(name: &str, value: Option<Value>) -> RowFeedback {
        RowFeedback {
            scorer: name.into(),
            name: name.into(),
            value,
            rationale: None,
            error: None,
            span_id: None,
            metadata: BTreeMap::new(),
            source_type: "CODE".into(),
            source_id: name.into(),
        }
    }

    #[test]
    fn means_count_booleans_yes_no_and_numbers() {
        let rows = [
            fb("exact", Some(json!(true))),
            fb("exact", Some(json!(false))),
            fb("judge", Some(json!("yes"))),
            fb("judge", Some(json!("no"))),
            fb("judge", Some(json!("yes"))),
            fb("words", Some(json!(5))),
            fb("words", Some(json!(2.5))),
            fb("broken", None),
            fb("label", Some(json!("blue"))),
        ];
        let means = aggregate(rows.iter());
        assert_eq!(
            means,
            BTreeMap::from([
                ("exact/mean".to_string(), 0.5),
                ("judge/mean".to_string(), 2.0 / 3.0),
                ("words/mean".to_string(), 3.75)
            ])
        );
    }

    #[test]
    fn the_data_set_is_described_as_mlflow_describes_it() {
        let data = vec![
            EvalRecord::new(json!({"question": "a"})).expectation("expected_response", "x"),
            EvalRecord::new(json!({"question": "b"})).expectation("expected_response", "y"),
        ];
        let wire = dataset_wire(&data, "root", "probe");
        assert_eq!(
            wire.schema.as_deref(),
            Some(
                r#"{"mlflow_colspec": [{"type": "object", "properties": {"question": {"type": "string", "required": true}}, "name": "inputs", "required": true}, {"type": "object", "properties": {"expected_response": {"type": "string", "required": true}}, "name": "expectations", "required": true}]}"#
            )
        );
        assert_eq!(wire.profile.as_deref(), Some(r#"{"num_rows": 2, "num_elements": 4}"#));
        assert_eq!(
            wire.source.as_deref(),
            Some(r#"{"tags": {"mlflow.user": "root", "mlflow.source.name": "probe", "mlflow.source.type": "LOCAL"}}"#)
        );
        assert_eq!(wire.digest.as_ref().map(String::len), Some(8));
    }
}
