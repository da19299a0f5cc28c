//! Logged models (MLflow 3, ../shared/spec/mlflow-rest.md §12). The model id travels in the path; request bodies may
//! repeat it.

use crate::de;
use crate::tracking::{KeyValue, Metric};
use serde::{Deserialize, Serialize};

// ---- requests ----

/// Serialize: the SDK sends it (`ferroflow_sdk::models::log_agent`).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CreateLoggedModel {
    #[serde(deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one", skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    #[serde(deserialize_with = "de::vec_or_one", skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

/// The query of `GET logged-models/{model_id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetLoggedModel {
    #[serde(deserialize_with = "de::opt_bool")]
    pub allow_deleted: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct FinalizeLoggedModel {
    /// The enum name (`LOGGED_MODEL_READY`) or its number.
    #[serde(deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SetLoggedModelTags {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogLoggedModelParams {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub params: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasetFilterWire {
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// One `order_by` object: logged-model search orders by objects, not strings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderByWire {
    pub field_name: Option<String>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub ascending: Option<bool>,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchLoggedModels {
    #[serde(deserialize_with = "de::vec_or_one")]
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub datasets: Vec<DatasetFilterWire>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_results: Option<i64>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub order_by: Vec<OrderByWire>,
    pub page_token: Option<String>,
}

// ---- responses ----

/// `model_type` and `source_run_id` are printed even when empty, as the reference does.
/// Deserialize: the SDK reads it back (`ferroflow_sdk::models`).
#[derive(Debug, Serialize, Deserialize)]
pub struct LoggedModelInfo {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub artifact_uri: String,
    pub status: String,
    pub model_type: String,
    pub source_run_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct LoggedModelData {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    /// Not read back by the SDK (left empty when deserialized).
    #[serde(skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoggedModel {
    pub info: LoggedModelInfo,
    #[serde(default)]
    pub data: LoggedModelData,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LoggedModelResponse {
    pub model: LoggedModel,
}

/// An empty result is `{}`.
#[derive(Debug, Serialize)]
pub struct SearchLoggedModelsResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<LoggedModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}
