//! Evaluation datasets with their records, and registered scorers: what `mlflow.genai`
//! keeps on the server for evaluation (../shared/spec/mlflow-rest.md §13–14).
//!
//! Records carry free-form JSON (inputs, outputs, expectations, tags), so their fields are
//! `serde_json` values; everything else is plain data like the other entities.

use super::Tag;
use crate::ids::ExperimentId;
use serde_json::{Map, Value};

/// A JSON object, as record inputs, expectations and tags are.
pub type JsonObject = Map<String, Value>;

/// An evaluation dataset without its records (they are paged separately).
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationDataset {
    /// `d-` + 32 hex.
    pub dataset_id: String,
    pub name: String,
    /// In the order they were first set.
    pub tags: Vec<Tag>,
    /// JSON text: the type of every key seen in inputs, outputs and expectations.
    pub schema: Option<String>,
    /// JSON text: `{"num_records": n}`; absent while the dataset is empty.
    pub profile: Option<String>,
    /// 8 hex characters that change whenever the records' content changes.
    pub digest: String,
    pub created_time: i64,
    pub last_update_time: i64,
    pub created_by: Option<String>,
    pub last_updated_by: Option<String>,
    /// Filled only where the reference returns them (create); `GET` leaves them to the
    /// `experiment-ids` call.
    pub experiment_ids: Option<Vec<ExperimentId>>,
}

/// What `datasets/create` asks for, after validation.
#[derive(Debug, Clone)]
pub struct NewEvaluationDataset {
    pub name: String,
    pub experiment_ids: Vec<ExperimentId>,
    pub tags: Vec<Tag>,
    pub created_by: Option<String>,
}

/// Where a record came from (`DatasetRecordSource.source_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSourceType {
    Unspecified,
    Trace,
    Human,
    Document,
    Code,
}

impl RecordSourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordSourceType::Unspecified => "UNSPECIFIED",
            RecordSourceType::Trace => "TRACE",
            RecordSourceType::Human => "HUMAN",
            RecordSourceType::Document => "DOCUMENT",
            RecordSourceType::Code => "CODE",
        }
    }

    /// Case-insensitive, as the client standardizes it; the protobuf name of the zero value
    /// (`SOURCE_TYPE_UNSPECIFIED`) is accepted too.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "UNSPECIFIED" | "SOURCE_TYPE_UNSPECIFIED" => Some(RecordSourceType::Unspecified),
            "TRACE" => Some(RecordSourceType::Trace),
            "HUMAN" => Some(RecordSourceType::Human),
            "DOCUMENT" => Some(RecordSourceType::Document),
            "CODE" => Some(RecordSourceType::Code),
            _ => None,
        }
    }
}

/// `{"source_type": ..., "source_data": {...}}` of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSource {
    pub source_type: RecordSourceType,
    pub source_data: JsonObject,
}

impl RecordSource {
    /// The id the client derives from the source: the trace id for traces, else
    /// `source_data.source_id`.
    pub fn source_id(&self) -> Option<&str> {
        let key = if self.source_type == RecordSourceType::Trace { "trace_id" } else { "source_id" };
        self.source_data.get(key).and_then(Value::as_str)
    }
}

/// One stored record of an evaluation dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRecord {
    /// `dr-` + 32 hex.
    pub dataset_record_id: String,
    pub dataset_id: String,
    /// The upsert key: a record whose inputs equal these (as JSON) is this record.
    pub inputs: JsonObject,
    /// Any JSON value; `None` when the record has none.
    pub outputs: Option<Value>,
    pub expectations: Option<JsonObject>,
    pub tags: JsonObject,
    pub source: Option<RecordSource>,
    pub created_time: i64,
    pub last_update_time: i64,
    pub created_by: Option<String>,
    pub last_updated_by: Option<String>,
}

/// One record of an upsert, as the client sent it (validated).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordUpsert {
    pub inputs: JsonObject,
    /// `None` when the client sent no `outputs` key (an update keeps the old outputs, an
    /// insert stores `{}`); `Some(Value::Null)` when it sent `null` (the outputs are cleared).
    pub outputs: Option<Value>,
    pub expectations: Option<JsonObject>,
    pub tags: Option<JsonObject>,
    pub source: Option<RecordSource>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
}

/// Where a page of records starts: just after this record in (created_time, id) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    pub created_time: i64,
    pub dataset_record_id: String,
}

/// One page of records and the cursor of the next page, if any.
#[derive(Debug, Clone)]
pub struct RecordPage {
    pub records: Vec<DatasetRecord>,
    pub next: Option<RecordCursor>,
}

/// One version of a registered scorer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScorerVersion {
    pub experiment_id: ExperimentId,
    pub scorer_name: String,
    /// 1, 2, 3, … per (experiment, name).
    pub scorer_version: i32,
    /// The client's serialization, stored and returned verbatim.
    pub serialized_scorer: String,
    pub creation_time: i64,
    /// uuid4 with dashes; the same for every version of a name until all are deleted.
    pub scorer_id: String,
}

/// How a registered scorer is meant to sample traces online. ferroflow keeps it for the
/// client to read back; it runs no scorer itself.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineScoringConfig {
    /// 32 hex.
    pub online_scoring_config_id: String,
    pub scorer_id: String,
    pub sample_rate: f64,
    pub experiment_id: ExperimentId,
    pub filter_string: Option<String>,
}
