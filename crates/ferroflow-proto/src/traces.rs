//! Traces and assessments (../shared/spec/mlflow-rest.md §8–9): TraceInfoV3 and the trace RPC messages. Span bodies
//! are OTLP (`opentelemetry_proto`) on the way in and stored read-format JSON on the way out.

use crate::de;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MlflowExperimentLocation {
    #[serde(deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TraceLocation {
    #[serde(rename = "type", deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub location_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlflow_experiment: Option<MlflowExperimentLocation>,
}

impl TraceLocation {
    pub fn experiment(experiment_id: String) -> Self {
        TraceLocation {
            location_type: Some("MLFLOW_EXPERIMENT".to_string()),
            mlflow_experiment: Some(MlflowExperimentLocation { experiment_id: Some(experiment_id) }),
        }
    }
}

/// TraceInfoV3, read and written. Metadata and tags keep their order; assessments pass
/// through as JSON objects.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TraceInfoV3 {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_location: Option<TraceLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_preview: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_preview: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_duration: Option<String>,
    #[serde(deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub trace_metadata: Map<String, Value>,
    #[serde(deserialize_with = "de::vec_or_one", skip_serializing_if = "Vec::is_empty")]
    pub assessments: Vec<Map<String, Value>>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
}

/// TraceInfoV3 as responses write it, borrowing the record it is made from: the same fields,
/// in the same order, as [`TraceInfoV3`] (which requests are read into), without building a
/// JSON map per record.
#[derive(Debug, Serialize)]
pub struct TraceInfoOut<'a> {
    pub trace_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<&'a str>,
    pub trace_location: ExperimentLocationOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_preview: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_preview: Option<&'a str>,
    pub request_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_duration: Option<String>,
    pub state: &'a str,
    #[serde(skip_serializing_if = "PairsOut::is_empty")]
    pub trace_metadata: PairsOut<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assessments: Vec<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "PairsOut::is_empty")]
    pub tags: PairsOut<'a>,
}

/// `{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "<id>"}}`, as
/// [`TraceLocation::experiment`] writes it (the integer id as a string, as on the wire).
#[derive(Debug)]
pub struct ExperimentLocationOut(pub i64);

impl Serialize for ExperimentLocationOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// An integer written as a JSON string, without an intermediate `String`.
        struct AsString(i64);
        impl Serialize for AsString {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }
        #[derive(Serialize)]
        struct Experiment {
            experiment_id: AsString,
        }
        #[derive(Serialize)]
        struct Location {
            #[serde(rename = "type")]
            location_type: &'static str,
            mlflow_experiment: Experiment,
        }
        Location {
            location_type: "MLFLOW_EXPERIMENT",
            mlflow_experiment: Experiment { experiment_id: AsString(self.0) },
        }
        .serialize(serializer)
    }
}

/// Key/value pairs (distinct keys) written as one JSON object, in their order.
#[derive(Debug, Clone, Copy)]
pub struct PairsOut<'a>(pub &'a [(String, String)]);

impl PairsOut<'_> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for PairsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TraceIn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_info: Option<TraceInfoV3>,
}

/// `POST /api/3.0/mlflow/traces`: read by the server, written by the SDK.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StartTraceV3 {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceIn>,
}

#[derive(Debug, Serialize)]
pub struct TraceInfoOnly<'a> {
    pub trace_info: TraceInfoOut<'a>,
}

#[derive(Debug, Serialize)]
pub struct TraceInfoResponse<'a> {
    pub trace: TraceInfoOnly<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TraceRef {
    pub trace_id: Option<String>,
    pub request_id: Option<String>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub allow_partial: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TraceIds {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub trace_ids: Vec<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TraceInfosResponse<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace_infos: Vec<TraceInfoOut<'a>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SearchTracesV3 {
    #[serde(deserialize_with = "de::vec_or_one")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<TraceLocation>,
    /// The older form: experiment ids directly.
    #[serde(deserialize_with = "de::vec_or_one")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiment_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(deserialize_with = "de::vec_or_one")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchTracesResponse<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<TraceInfoOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TraceTag {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteTraces {
    #[serde(deserialize_with = "de::opt_string")]
    pub experiment_id: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_timestamp_millis: Option<i64>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_traces: Option<i64>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub request_ids: Vec<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub trace_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DeleteTracesResponse {
    pub traces_deleted: u64,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LinkTracesToRun {
    #[serde(deserialize_with = "de::vec_or_one")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PromptVersionRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `POST /api/2.0/mlflow/traces/link-prompts`: read by the server, written by the SDK.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LinkPromptsToTrace {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub prompt_versions: Vec<PromptVersionRef>,
}

/// An assessment as a client creates it (`POST /api/3.0/mlflow/traces/{trace_id}/assessments`,
/// `{"assessment": …}`): written by the SDK; the server reads the same body as JSON and checks
/// it in the core.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AssessmentWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<AssessmentSourceWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<FeedbackWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectation: Option<ExpectationWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
}

/// Who made an assessment: `HUMAN`, `CODE` or `LLM_JUDGE`, and their id.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AssessmentSourceWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
}

/// A feedback's value (a protobuf `Value`: bool, number, string, list, object) or the error
/// that kept it from being computed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct FeedbackWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AssessmentErrorWire>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AssessmentErrorWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
}

/// An expectation's value: a primitive as `value`, anything else as JSON text in
/// `serialized_value` (`{"serialization_format": "JSON_FORMAT", "value": …}`), as the
/// Python client writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ExpectationWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serialized_value: Option<SerializedValueWire>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SerializedValueWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serialization_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `CreateAssessment`'s body as the SDK writes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateAssessment {
    pub assessment: AssessmentWire,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssessmentRequest {
    pub assessment: Option<Map<String, Value>>,
    pub update_mask: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct AssessmentResponse {
    pub assessment: Map<String, Value>,
}

// ---- v2 trace records (StartTrace, EndTrace, GetTraceInfo), still sent by older clients ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StartTraceV2 {
    #[serde(deserialize_with = "de::opt_string")]
    pub experiment_id: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub timestamp_ms: Option<i64>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub request_metadata: Vec<TraceTag>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub tags: Vec<TraceTag>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EndTraceV2 {
    #[serde(deserialize_with = "de::opt_i64")]
    pub timestamp_ms: Option<i64>,
    pub status: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub request_metadata: Vec<TraceTag>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub tags: Vec<TraceTag>,
}

#[derive(Debug, Serialize)]
pub struct KeyValueOut<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

/// MLflow's v2 `TraceInfo`: `request_id` and `status` where v3 has `trace_id` and `state`.
#[derive(Debug, Serialize)]
pub struct TraceInfoV2Out<'a> {
    pub request_id: &'a str,
    pub experiment_id: String,
    pub timestamp_ms: i64,
    pub execution_time_ms: i64,
    pub status: &'a str,
    pub request_metadata: Vec<KeyValueOut<'a>>,
    pub tags: Vec<KeyValueOut<'a>>,
}

#[derive(Debug, Serialize)]
pub struct TraceInfoV2Response<'a> {
    pub trace_info: TraceInfoV2Out<'a>,
}

// ---- trace metrics (`traces/metrics`, `traces/calculate-filter-correlation`) ----

/// One aggregation of a metrics query; enums may come as their names or numbers.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MetricAggregationIn {
    #[serde(deserialize_with = "de::opt_string")]
    pub aggregation_type: Option<String>,
    #[serde(deserialize_with = "de::opt_f64")]
    pub percentile_value: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueryTraceMetrics {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub view_type: Option<String>,
    pub metric_name: Option<String>,
    /// Absent is `None`: the field is required.
    pub aggregations: Option<Vec<MetricAggregationIn>>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub dimensions: Vec<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub filters: Vec<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub time_interval_seconds: Option<i64>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub start_time_ms: Option<i64>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub end_time_ms: Option<i64>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MetricDataPoint {
    pub metric_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "pairs_as_map")]
    pub dimensions: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "pairs_as_map")]
    pub values: Vec<(String, de::Double)>,
}

/// A protobuf map in the order of its entries.
fn pairs_as_map<S: serde::Serializer, V: Serialize>(pairs: &[(String, V)], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (key, value) in pairs {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

#[derive(Debug, Serialize)]
pub struct QueryTraceMetricsResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_points: Vec<MetricDataPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CalculateTraceFilterCorrelation {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
    pub filter_string1: Option<String>,
    pub filter_string2: Option<String>,
    pub base_filter: Option<String>,
}

/// NPMI values are left out when undefined, as the reference does.
#[derive(Debug, Serialize)]
pub struct CalculateTraceFilterCorrelationResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub npmi: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub npmi_smoothed: Option<f64>,
    pub filter1_count: i64,
    pub filter2_count: i64,
    pub joint_count: i64,
    pub total_count: i64,
}
