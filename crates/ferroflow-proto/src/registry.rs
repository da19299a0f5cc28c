//! Model registry and prompts: registered models, model versions, tags and aliases
//! (../shared/spec/mlflow-rest.md §10–11). Versions travel as strings but are read from numbers too.

use crate::de;
use crate::tracking::KeyValue;
use serde::{Deserialize, Serialize};

// ---- requests ----

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CreateRegisteredModel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Any request naming just a registered model (get, delete).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisteredModelRef {
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateRegisteredModel {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RenameRegisteredModel {
    pub name: Option<String>,
    pub new_name: Option<String>,
}

/// `registered-models/search` and `model-versions/search`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchRegistry {
    pub filter: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_results: Option<i64>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetLatestVersions {
    pub name: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub stages: Vec<String>,
}

/// `registered-models/set-tag` and `delete-tag`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RegisteredModelTag {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CreateModelVersion {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// Any request naming one version (get, delete, get-download-uri).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ModelVersionRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateModelVersion {
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub version: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransitionModelVersionStage {
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub version: Option<String>,
    pub stage: Option<String>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub archive_existing_versions: Option<bool>,
}

/// `model-versions/set-tag` and `delete-tag`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelVersionTag {
    pub name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub version: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `registered-models/alias` in all three methods.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RegisteredModelAlias {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(deserialize_with = "de::opt_string", skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

// ---- responses ----
//
// Written by the server and read by the SDK: absent fields read as their defaults.

/// `{alias, version}` as registered models list their aliases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AliasWire {
    pub alias: String,
    pub version: String,
}

/// A model version. `description`, `run_id` and `run_link` are printed even when empty, as the
/// reference does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub current_stage: String,
    pub description: String,
    pub source: String,
    pub run_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    pub run_link: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latest_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<AliasWire>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RegisteredModelResponse {
    pub registered_model: RegisteredModel,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchRegisteredModelsResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registered_models: Vec<RegisteredModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModelVersionResponse {
    pub model_version: ModelVersion,
}

/// `model-versions/search` and `get-latest-versions` (which never pages).
#[derive(Debug, Serialize)]
pub struct ModelVersionsResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DownloadUriResponse {
    pub artifact_uri: String,
}
