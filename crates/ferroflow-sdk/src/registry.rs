//! A client of the model registry (`/api/2.0/mlflow/registered-models/*`,
//! `/model-versions/*`): registered models, versions and aliases. The prompt registry in
//! [`crate::prompts`] is built on it, since MLflow stores prompts as registered models.
//!
//! Every call returns [`crate::Error`]; an MLflow error answer keeps its code
//! (`RESOURCE_DOES_NOT_EXIST`, `INVALID_PARAMETER_VALUE`, …) in [`crate::Error::Api`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferroflow_proto::registry as wire;
use ferroflow_proto::tracking::KeyValue;
use reqwest::Method;
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::prompts::Prompt;

fn tags_map(tags: Vec<KeyValue>) -> BTreeMap<String, String> {
    tags.into_iter().filter_map(|t| Some((t.key?, t.value.unwrap_or_default()))).collect()
}

fn key_values(tags: &[(String, String)]) -> Vec<KeyValue> {
    tags.iter().map(|(k, v)| KeyValue::new(k, v)).collect()
}

/// A registered model (or a prompt, when tagged `mlflow.prompt.is_prompt = true`).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub description: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub tags: BTreeMap<String, String>,
    /// alias → version.
    pub aliases: BTreeMap<String, String>,
    pub latest_versions: Vec<ModelVersion>,
}

impl From<wire::RegisteredModel> for RegisteredModel {
    fn from(wire: wire::RegisteredModel) -> Self {
        RegisteredModel {
            name: wire.name,
            description: wire.description.unwrap_or_default(),
            creation_timestamp: wire.creation_timestamp,
            last_updated_timestamp: wire.last_updated_timestamp,
            tags: tags_map(wire.tags),
            aliases: wire.aliases.into_iter().map(|a| (a.alias, a.version)).collect(),
            latest_versions: wire.latest_versions.into_iter().map(ModelVersion::from).collect(),
        }
    }
}

impl RegisteredModel {
    /// Whether this registered model is a prompt.
    pub fn is_prompt(&self) -> bool {
        self.tags.get(crate::prompts::IS_PROMPT_TAG).map(String::as_str) == Some("true")
    }
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub description: String,
    pub source: String,
    pub status: String,
    pub creation_timestamp: i64,
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<String>,
}

impl From<wire::ModelVersion> for ModelVersion {
    fn from(wire: wire::ModelVersion) -> Self {
        ModelVersion {
            name: wire.name,
            version: wire.version,
            description: wire.description,
            source: wire.source,
            status: wire.status,
            creation_timestamp: wire.creation_timestamp,
            tags: tags_map(wire.tags),
            aliases: wire.aliases,
        }
    }
}

/// The answer read as its typed message.
fn parse<T: serde::de::DeserializeOwned>(answer: Value, what: &str) -> Result<T> {
    serde_json::from_value(answer)
        .map_err(|err| Error::Protocol { url: what.to_string(), message: format!("not a valid answer: {err}") })
}

/// A request message as the JSON body the HTTP client sends.
pub(crate) fn body<T: serde::Serialize>(message: &T) -> Value {
    serde_json::to_value(message).unwrap_or(Value::Null)
}

/// Cached prompts: versions for good (they never change), aliases until their TTL runs out.
#[derive(Default)]
pub(crate) struct PromptCache {
    versions: HashMap<(String, u64), Prompt>,
    aliases: HashMap<(String, String), (Prompt, Instant)>,
}

/// A client of the registry (models and prompts) of one tracking server.
pub struct Client {
    pub(crate) http: HttpClient,
    pub(crate) alias_ttl: Duration,
    pub(crate) cache: Mutex<PromptCache>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("url", &self.http.url("")).field("alias_ttl", &self.alias_ttl).finish()
    }
}

pub(crate) const API: &str = "/api/2.0/mlflow";

impl Client {
    /// A client for the server of `MLFLOW_TRACKING_URI` (see [`Config::from_env`]).
    pub fn from_env() -> Result<Client> {
        Client::new(&Config::from_env())
    }

    pub fn new(config: &Config) -> Result<Client> {
        Ok(Client {
            http: HttpClient::new(config)?,
            alias_ttl: config.prompt_alias_ttl,
            cache: Mutex::new(PromptCache::default()),
        })
    }

    pub(crate) async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        self.http.call(Method::GET, &format!("{API}{path}"), query, None).await
    }

    pub(crate) async fn send(&self, method: Method, path: &str, body: Value) -> Result<Value> {
        self.http.call(method, &format!("{API}{path}"), &[], Some(&body)).await
    }

    pub(crate) fn cache(&self) -> std::sync::MutexGuard<'_, PromptCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn cached_version(&self, name: &str, version: u64) -> Option<Prompt> {
        self.cache().versions.get(&(name.to_string(), version)).cloned()
    }

    pub(crate) fn cached_alias(&self, name: &str, alias: &str) -> Option<Prompt> {
        let cache = self.cache();
        let (prompt, at) = cache.aliases.get(&(name.to_string(), alias.to_string()))?;
        (at.elapsed() < self.alias_ttl).then(|| prompt.clone())
    }

    pub(crate) fn remember(&self, prompt: &Prompt, alias: Option<&str>) {
        let mut cache = self.cache();
        cache.versions.insert((prompt.name.clone(), prompt.version), prompt.clone());
        if let Some(alias) = alias {
            cache.aliases.insert((prompt.name.clone(), alias.to_string()), (prompt.clone(), Instant::now()));
        }
    }

    pub(crate) fn forget_alias(&self, name: &str, alias: &str) {
        self.cache().aliases.remove(&(name.to_string(), alias.to_string()));
    }

    /// Empties the prompt cache.
    pub fn clear_cache(&self) {
        *self.cache() = PromptCache::default();
    }

    // ---- Registered models ----

    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let answer = self.get("/registered-models/get", &[("name", name)]).await?;
        let wire: wire::RegisteredModelResponse = parse(answer, "registered-models/get")?;
        Ok(wire.registered_model.into())
    }

    /// Creates a registered model with tags and a description.
    pub async fn create_registered_model(
        &self,
        name: &str,
        tags: &[(String, String)],
        description: &str,
    ) -> Result<RegisteredModel> {
        let request = wire::CreateRegisteredModel {
            name: Some(name.to_string()),
            tags: key_values(tags),
            description: Some(description.to_string()),
        };
        let answer = self.send(Method::POST, "/registered-models/create", body(&request)).await?;
        let wire: wire::RegisteredModelResponse = parse(answer, "registered-models/create")?;
        Ok(wire.registered_model.into())
    }

    pub async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        let answer = self.get("/model-versions/get", &[("name", name), ("version", version)]).await?;
        let wire: wire::ModelVersionResponse = parse(answer, "model-versions/get")?;
        Ok(wire.model_version.into())
    }

    /// Creates a model version.
    pub async fn create_model_version(
        &self,
        name: &str,
        source: &str,
        tags: &[(String, String)],
        description: &str,
    ) -> Result<ModelVersion> {
        let request = wire::CreateModelVersion {
            name: Some(name.to_string()),
            source: Some(source.to_string()),
            tags: key_values(tags),
            description: Some(description.to_string()),
            ..Default::default()
        };
        let answer = self.send(Method::POST, "/model-versions/create", body(&request)).await?;
        let wire: wire::ModelVersionResponse = parse(answer, "model-versions/create")?;
        Ok(wire.model_version.into())
    }

    /// The version an alias points at (`latest` is the newest version).
    pub async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let answer = self.get("/registered-models/alias", &[("name", name), ("alias", alias)]).await?;
        let wire: wire::ModelVersionResponse = parse(answer, "registered-models/alias")?;
        Ok(wire.model_version.into())
    }

    /// Points `alias` at `version`.
    pub async fn set_registered_model_alias(&self, name: &str, alias: &str, version: &str) -> Result<()> {
        let request = wire::RegisteredModelAlias {
            name: Some(name.to_string()),
            alias: Some(alias.to_string()),
            version: Some(version.to_string()),
        };
        self.send(Method::POST, "/registered-models/alias", body(&request)).await?;
        self.forget_alias(name, alias);
        Ok(())
    }

    pub async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        let request =
            wire::RegisteredModelAlias { name: Some(name.to_string()), alias: Some(alias.to_string()), version: None };
        self.send(Method::DELETE, "/registered-models/alias", body(&request)).await?;
        self.forget_alias(name, alias);
        Ok(())
    }

    pub async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        let request = wire::RegisteredModelTag {
            name: Some(name.to_string()),
            key: Some(key.to_string()),
            value: Some(value.to_string()),
        };
        self.send(Method::POST, "/registered-models/set-tag", body(&request)).await?;
        Ok(())
    }

    /// Registered models matching an MLflow filter (all pages, at most `max_results`).
    pub async fn search_registered_models(&self, filter: &str, max_results: usize) -> Result<Vec<RegisteredModel>> {
        let mut found = Vec::new();
        let mut page_token = String::new();
        loop {
            let page_size = (max_results - found.len()).min(1000).to_string();
            let mut query = vec![("filter", filter), ("max_results", page_size.as_str())];
            if !page_token.is_empty() {
                query.push(("page_token", page_token.as_str()));
            }
            let answer = self.get("/registered-models/search", &query).await?;
            let page: wire::SearchRegisteredModelsResponse = parse(answer, "registered-models/search")?;
            found.extend(page.registered_models.into_iter().map(RegisteredModel::from));
            page_token = page.next_page_token.unwrap_or_default();
            if page_token.is_empty() || found.len() >= max_results {
                found.truncate(max_results);
                return Ok(found);
            }
        }
    }
}
