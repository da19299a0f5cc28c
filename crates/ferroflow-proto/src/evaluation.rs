//! Evaluation datasets and registered scorers (../shared/spec/mlflow-rest.md §13–14), under `/api/3.0/mlflow`.
//!
//! Datasets carry JSON *inside strings*: `tags`, `schema`, `profile`, and the `records` of the
//! record endpoints. The shapes of that inner JSON (a record as the client sends it, a record
//! as the server returns it) are here too, since they are as much wire format as the outer
//! message. Scorers carry `serialized_scorer`, a JSON string kept verbatim.

use crate::de;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ---- dataset requests ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateDataset {
    pub name: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
    /// JSON object in a string.
    pub tags: Option<String>,
    pub created_by: Option<String>,
    // `source_type`, `source`, `schema` and `profile` are accepted and ignored: the server
    // computes schema and profile from the records, as the reference does.
    #[serde(deserialize_with = "de::opt_string")]
    pub source_type: Option<String>,
    pub source: Option<String>,
    pub schema: Option<String>,
    pub profile: Option<String>,
}

/// `GET`/`DELETE /datasets/{dataset_id}` and `GET .../experiment-ids`: the id is in the path.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasetRef {
    pub dataset_id: Option<String>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchEvaluationDatasets {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
    pub filter_string: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_results: Option<i64>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SetDatasetTags {
    pub dataset_id: Option<String>,
    /// JSON object in a string; merged into the dataset's tags.
    pub tags: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpsertDatasetRecords {
    pub dataset_id: Option<String>,
    /// JSON array of [`RecordIn`] in a string.
    pub records: Option<String>,
    pub updated_by: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetDatasetRecords {
    pub dataset_id: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteDatasetRecords {
    pub dataset_id: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub dataset_record_ids: Vec<String>,
}

/// `add-experiments` and `remove-experiments`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasetExperiments {
    pub dataset_id: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
}

/// One record inside the `records` string of an upsert. Other keys (a DataFrame from
/// `to_df()` brings `dataset_record_id`, `created_time`, …) are ignored, as the reference
/// ignores them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RecordIn {
    pub inputs: Option<Value>,
    /// `None` when the key is absent, `Some(Value::Null)` when it is `null`: the two mean
    /// different things to an update.
    #[serde(deserialize_with = "present")]
    pub outputs: Option<Value>,
    pub expectations: Option<Value>,
    pub tags: Option<Value>,
    pub source: Option<Value>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`; absence stays `None` through `default`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

// ---- dataset responses ----

#[derive(Debug, Serialize)]
pub struct Dataset {
    pub dataset_id: String,
    pub name: String,
    /// JSON object in a string.
    pub tags: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub digest: String,
    pub created_time: i64,
    pub last_update_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiment_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DatasetResponse {
    pub dataset: Dataset,
}

#[derive(Debug, Serialize)]
pub struct SearchEvaluationDatasetsResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<Dataset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Both counts always, zeros included, as the reference prints them.
#[derive(Debug, Serialize)]
pub struct UpsertDatasetRecordsResponse {
    pub inserted_count: u64,
    pub updated_count: u64,
}

#[derive(Debug, Serialize)]
pub struct GetDatasetRecordsResponse {
    /// JSON array of [`RecordOut`] in a string.
    pub records: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DeleteDatasetRecordsResponse {
    pub deleted_count: u64,
}

#[derive(Debug, Serialize)]
pub struct DatasetExperimentIdsResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiment_ids: Vec<String>,
}

/// One record inside the `records` string of a read, as the client's
/// `DatasetRecord.from_dict` reads it.
#[derive(Debug, Serialize)]
pub struct RecordOut {
    pub dataset_record_id: String,
    pub dataset_id: String,
    pub inputs: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectations: Option<Value>,
    pub tags: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    pub created_time: i64,
    pub last_update_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
}

// ---- scorer requests ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterScorer {
    #[serde(deserialize_with = "de::opt_string")]
    pub experiment_id: Option<String>,
    pub name: Option<String>,
    pub serialized_scorer: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListScorers {
    #[serde(deserialize_with = "de::opt_string")]
    pub experiment_id: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
}

/// `scorers/versions`, `scorers/get` and `scorers/delete`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScorerRef {
    #[serde(deserialize_with = "de::opt_string")]
    pub experiment_id: Option<String>,
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub version: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetOnlineScoringConfigs {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub scorer_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpsertOnlineScoringConfig {
    #[serde(deserialize_with = "de::opt_string")]
    pub experiment_id: Option<String>,
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_f64")]
    pub sample_rate: Option<f64>,
    pub filter_string: Option<String>,
}

// ---- scorer responses ----

/// `RegisterScorer.Response`: here `experiment_id` is a string and the name is `name`.
#[derive(Debug, Serialize)]
pub struct RegisterScorerResponse {
    pub version: i32,
    pub scorer_id: String,
    pub experiment_id: String,
    pub name: String,
    pub serialized_scorer: String,
    pub creation_time: i64,
}

/// A `Scorer` of list/get: `experiment_id` is an int32 on the wire (captured `8`, not `"8"`).
#[derive(Debug, Serialize)]
pub struct Scorer {
    pub experiment_id: i64,
    pub scorer_name: String,
    pub scorer_version: i32,
    pub serialized_scorer: String,
    pub creation_time: i64,
    pub scorer_id: String,
}

#[derive(Debug, Serialize)]
pub struct ScorersResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scorers: Vec<Scorer>,
}

#[derive(Debug, Serialize)]
pub struct ScorerResponse {
    pub scorer: Scorer,
}

#[derive(Debug, Serialize)]
pub struct OnlineScoringConfig {
    pub online_scoring_config_id: String,
    pub scorer_id: String,
    pub sample_rate: f64,
    pub experiment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_string: Option<String>,
}

/// `configs` is always present, even empty: the client indexes it without a default.
#[derive(Debug, Serialize)]
pub struct OnlineScoringConfigsResponse {
    pub configs: Vec<OnlineScoringConfig>,
}

#[derive(Debug, Serialize)]
pub struct OnlineScoringConfigResponse {
    pub config: OnlineScoringConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_outputs_keep_null_apart_from_absent() {
        let records: Vec<RecordIn> = serde_json::from_str(
            r#"[{"inputs": {"q": 1}}, {"inputs": {}, "outputs": null}, {"outputs": "x", "extra": 1}]"#,
        )
        .unwrap();
        assert_eq!(records[0].outputs, None);
        assert_eq!(records[1].outputs, Some(Value::Null));
        assert_eq!(records[2].outputs, Some(Value::String("x".into())));
        assert!(records[2].inputs.is_none());
    }

    #[test]
    fn empty_configs_are_printed() {
        let text = serde_json::to_string(&OnlineScoringConfigsResponse { configs: Vec::new() }).unwrap();
        assert_eq!(text, r#"{"configs":[]}"#);
    }
}
