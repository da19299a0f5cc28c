//! Logging, registering and loading Rust agents.
//!
//! A served agent (see [`crate::serve`]) is recorded as MLflow records a ResponsesAgent: a
//! logged model in the experiment whose `MLmodel` carries the ResponsesAgent signature as
//! MLflow infers it ([`signature`]) and the task `agent/v1/responses`, plus what a Rust agent
//! adds: its name, version, git commit and the endpoint it is served at, as tags
//! (`ferroflow.agent.name`, `ferroflow.agent.version`, `ferroflow.agent.endpoint`,
//! `mlflow.source.git.commit`). [`Models::register`] makes it a version of a registered model
//! (`source: models:/<model_id>`), aliases go through [`crate::registry::Client`], and
//! [`load_agent`] turns `models:/name@alias`, `models:/name/<version>`, `models:/<model_id>` or
//! an `http(s)://` endpoint into a [`RemoteAgent`], a `ResponsesAgent` over that endpoint.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ferroflow_sdk::models::{load_agent, AgentModel, Models};
//! use ferroflow_sdk::agent::{ResponsesAgent, ResponsesAgentRequest};
//!
//! let models = Models::new(&ferroflow_sdk::Config::from_env())?;
//! let logged = models.log_agent(&AgentModel::new("support", "http://10.0.0.5:8000").version("1.4.0")).await?;
//! let version = models.register("support-agent", &logged).await?;
//! models.registry().set_registered_model_alias("support-agent", "production", &version.version).await?;
//!
//! let agent = load_agent("models:/support-agent@production").await?;
//! let response = agent.predict(ResponsesAgentRequest::user_text("hi")).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use ferroflow_proto::logged_models::{CreateLoggedModel, FinalizeLoggedModel, LoggedModelResponse};
use ferroflow_proto::registry as wire;
use ferroflow_proto::tracking::KeyValue;
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};

use crate::agent::{
    AgentError, ResponsesAgent, ResponsesAgentRequest, ResponsesAgentResponse, ResponsesAgentStreamEvent,
};
use crate::config::{Config, Experiment};
use crate::error::{Error, ErrorCode, Result};
use crate::http::HttpClient;
use crate::registry::{self, ModelVersion};

pub mod signature;

/// Tag: the agent's name.
pub const AGENT_NAME_TAG: &str = "ferroflow.agent.name";
/// Tag: the agent's version.
pub const AGENT_VERSION_TAG: &str = "ferroflow.agent.version";
/// Tag: the URL the agent is served at (what `load_agent` calls).
pub const AGENT_ENDPOINT_TAG: &str = "ferroflow.agent.endpoint";
/// Tag: the git commit the agent was built from (MLflow's own tag).
pub const GIT_COMMIT_TAG: &str = "mlflow.source.git.commit";
/// The `metadata.task` of a ResponsesAgent's `MLmodel`.
pub const RESPONSES_AGENT_TASK: &str = "agent/v1/responses";

const API: &str = "/api/2.0/mlflow";
const ARTIFACTS_API: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// What to record about an agent when logging it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentModel {
    pub name: String,
    pub endpoint: String,
    pub version: Option<String>,
    pub git_commit: Option<String>,
    /// Extra tags of the logged model.
    pub tags: BTreeMap<String, String>,
    /// Whether `MLmodel` carries the ResponsesAgent signature (always, unless you mean to
    /// make a broken model for `ferroflow check` to catch).
    pub signature: bool,
}

impl AgentModel {
    /// An agent named `name`, served at `endpoint` (`http://host:port`).
    pub fn new(name: impl Into<String>, endpoint: impl Into<String>) -> AgentModel {
        AgentModel {
            name: name.into(),
            endpoint: endpoint.into().trim_end_matches('/').to_string(),
            version: None,
            git_commit: None,
            tags: BTreeMap::new(),
            signature: true,
        }
    }

    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    pub fn git_commit(mut self, commit: impl Into<String>) -> Self {
        self.git_commit = Some(commit.into());
        self
    }

    /// The commit from `GIT_COMMIT` (as CI systems set it), else from `git rev-parse HEAD` in
    /// the current directory, else none.
    pub fn git_commit_from_env(mut self) -> Self {
        self.git_commit = std::env::var("GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
            let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        });
        self
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Logs the model without a signature (a deliberately broken model).
    pub fn without_signature(mut self) -> Self {
        self.signature = false;
        self
    }
}

/// A logged model, as read back from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAgent {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub artifact_uri: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

impl LoggedAgent {
    /// The endpoint the agent was logged with.
    pub fn endpoint(&self) -> Option<&str> {
        self.tags.get(AGENT_ENDPOINT_TAG).map(String::as_str)
    }
}

impl From<ferroflow_proto::logged_models::LoggedModel> for LoggedAgent {
    fn from(model: ferroflow_proto::logged_models::LoggedModel) -> Self {
        let info = model.info;
        LoggedAgent {
            model_id: info.model_id,
            experiment_id: info.experiment_id,
            name: info.name,
            artifact_uri: info.artifact_uri,
            status: info.status,
            tags: info.tags.into_iter().filter_map(|t| Some((t.key?, t.value.unwrap_or_default()))).collect(),
        }
    }
}

/// The `MLmodel` of a logged agent (written as JSON, which YAML readers read too).
pub fn mlmodel(agent: &AgentModel, model_id: &str, artifact_uri: &str) -> Value {
    let mut model = json!({
        "artifact_path": artifact_uri,
        "flavors": {"ferroflow_agent": {
            "endpoint": agent.endpoint,
            "agent_name": agent.name,
            "agent_version": agent.version,
            "sdk_version": env!("CARGO_PKG_VERSION"),
        }},
        "metadata": {"task": RESPONSES_AGENT_TASK},
        "model_id": model_id,
        "model_uuid": model_id,
        "run_id": null,
    });
    if agent.signature {
        model["signature"] = signature::responses_agent_signature().to_mlmodel();
        model["is_signature_from_type_hint"] = json!(false);
        model["type_hint_from_example"] = json!(false);
    }
    model
}

/// Where a logged model's files are: behind the server's artifact proxy (`mlflow-artifacts:`),
/// or in a local directory (a server that does not serve artifacts, with a local artifact
/// root: the client writes there itself, as MLflow's Python client does).
#[derive(Debug, PartialEq)]
enum ArtifactDir {
    /// The path under the artifact proxy.
    Proxied(String),
    Local(std::path::PathBuf),
}

impl ArtifactDir {
    fn of(artifact_uri: &str) -> Result<ArtifactDir> {
        if let Some(rest) = artifact_uri.strip_prefix("mlflow-artifacts:") {
            // `mlflow-artifacts:/7/models/...` or `mlflow-artifacts://host/7/models/...`.
            let path = match rest.strip_prefix("//") {
                Some(with_host) => with_host.split_once('/').map(|(_, p)| p).unwrap_or(""),
                None => rest.trim_start_matches('/'),
            };
            return Ok(ArtifactDir::Proxied(path.to_string()));
        }
        if artifact_uri.starts_with('/') {
            return Ok(ArtifactDir::Local(artifact_uri.into()));
        }
        if artifact_uri.starts_with("file:") {
            if let Ok(path) = reqwest::Url::parse(artifact_uri).map_err(drop).and_then(|url| url.to_file_path()) {
                return Ok(ArtifactDir::Local(path));
            }
        }
        Err(Error::InvalidArgument(format!(
            "artifact location {artifact_uri:?} is neither served by the tracking server (mlflow-artifacts:) nor a \
             local directory, so the SDK cannot write the model's files there: run the server with artifact proxying"
        )))
    }
}

/// A client for logged models and registered agents of one tracking server.
pub struct Models {
    http: HttpClient,
    registry: registry::Client,
    experiment: Experiment,
}

impl Models {
    pub fn new(config: &Config) -> Result<Models> {
        Ok(Models {
            http: HttpClient::new(config)?,
            registry: registry::Client::new(config)?,
            experiment: config.experiment.clone(),
        })
    }

    /// The registry client (aliases, versions).
    pub fn registry(&self) -> &registry::Client {
        &self.registry
    }

    /// Logs `agent` as a logged model of the configured experiment: created, its `MLmodel`
    /// uploaded, then finalized READY.
    pub async fn log_agent(&self, agent: &AgentModel) -> Result<LoggedAgent> {
        let experiment_id = crate::export::resolve_experiment(&self.http, &self.experiment)
            .await
            .map_err(|message| Error::Protocol { url: "experiments".to_string(), message })?;
        let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
        let mut tags = vec![
            KeyValue::new("mlflow.user", user),
            KeyValue::new("mlflow.source.name", crate::export::mlflow::source_name()),
            KeyValue::new("mlflow.source.type", "LOCAL"),
            KeyValue::new(AGENT_NAME_TAG, &agent.name),
            KeyValue::new(AGENT_ENDPOINT_TAG, &agent.endpoint),
        ];
        if let Some(version) = &agent.version {
            tags.push(KeyValue::new(AGENT_VERSION_TAG, version));
        }
        if let Some(commit) = &agent.git_commit {
            tags.push(KeyValue::new(GIT_COMMIT_TAG, commit));
        }
        tags.extend(agent.tags.iter().map(|(k, v)| KeyValue::new(k, v)));
        let create = CreateLoggedModel {
            experiment_id: Some(experiment_id),
            name: Some(agent.name.clone()),
            model_type: Some("agent".to_string()),
            tags,
            ..CreateLoggedModel::default()
        };
        let created =
            self.http.call(Method::POST, &format!("{API}/logged-models"), &[], Some(&registry::body(&create))).await?;
        let created = parse_logged(created)?;

        let text =
            serde_json::to_string_pretty(&mlmodel(agent, &created.model_id, &created.artifact_uri)).unwrap_or_default();
        self.put_mlmodel(&created.artifact_uri, text).await?;

        let finalize = FinalizeLoggedModel { status: Some("LOGGED_MODEL_READY".to_string()) };
        let mut body = registry::body(&finalize);
        body["model_id"] = json!(created.model_id);
        let done = self
            .http
            .call(Method::PATCH, &format!("{API}/logged-models/{}", created.model_id), &[], Some(&body))
            .await?;
        parse_logged(done)
    }

    /// Registers a logged agent as a new version of `name` (creating the registered model on
    /// first use).
    pub async fn register(&self, name: &str, logged: &LoggedAgent) -> Result<ModelVersion> {
        match self.registry.create_registered_model(name, &[], "").await {
            Ok(_) => {}
            Err(err) if err.error_code() == Some(ErrorCode::ResourceAlreadyExists) => {}
            Err(err) => return Err(err),
        }
        let request = wire::CreateModelVersion {
            name: Some(name.to_string()),
            source: Some(format!("models:/{}", logged.model_id)),
            model_id: Some(logged.model_id.clone()),
            tags: logged
                .endpoint()
                .map(|endpoint| vec![KeyValue::new(AGENT_ENDPOINT_TAG, endpoint)])
                .unwrap_or_default(),
            ..Default::default()
        };
        let answer = self.registry.send(Method::POST, "/model-versions/create", registry::body(&request)).await?;
        let version: wire::ModelVersionResponse = serde_json::from_value(answer)
            .map_err(|err| Error::Protocol { url: "model-versions/create".to_string(), message: err.to_string() })?;
        Ok(version.model_version.into())
    }

    pub async fn get_logged_model(&self, model_id: &str) -> Result<LoggedAgent> {
        let answer = self.http.call(Method::GET, &format!("{API}/logged-models/{model_id}"), &[], None).await?;
        parse_logged(answer)
    }

    /// The `MLmodel` of a logged model, as YAML (MLflow writes it so) or JSON (the SDK writes
    /// it so; JSON is YAML too); `Ok(None)` when there is none.
    pub async fn get_mlmodel(&self, logged: &LoggedAgent) -> Result<Option<Value>> {
        let Some((bytes, url)) = self.fetch_mlmodel(&logged.artifact_uri).await? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&bytes).map_err(|err| Error::Protocol {
            url: url.clone(),
            message: format!("MLmodel is not UTF-8 text: {err}"),
        })?;
        serde_saphyr::from_str::<Value>(text)
            .map(Some)
            .map_err(|err| Error::Protocol { url, message: format!("MLmodel is not YAML or JSON: {err}") })
    }

    /// Writes a logged model's `MLmodel` where its files go.
    async fn put_mlmodel(&self, artifact_uri: &str, text: String) -> Result<()> {
        let path = match ArtifactDir::of(artifact_uri)? {
            ArtifactDir::Local(dir) => {
                let file = dir.join("MLmodel");
                let local = |source: std::io::Error| Error::Io { what: format!("writing {}", file.display()), source };
                tokio::fs::create_dir_all(&dir).await.map_err(local)?;
                return tokio::fs::write(&file, text).await.map_err(local);
            }
            ArtifactDir::Proxied(dir) => format!("{ARTIFACTS_API}/{dir}/MLmodel"),
        };
        let url = self.http.url(&path);
        let response = self
            .http
            .request(Method::PUT, &path)
            .body(text)
            .send()
            .await
            .map_err(|source| Error::Transport { url: url.clone(), source })?;
        if !response.status().is_success() {
            let status = response.status();
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(crate::http::api_error(status, &bytes));
        }
        Ok(())
    }

    /// A logged model's `MLmodel` bytes and where they were read; `None` when there is none.
    async fn fetch_mlmodel(&self, artifact_uri: &str) -> Result<Option<(Vec<u8>, String)>> {
        let path = match ArtifactDir::of(artifact_uri)? {
            ArtifactDir::Local(dir) => {
                let file = dir.join("MLmodel");
                return match tokio::fs::read(&file).await {
                    Ok(bytes) => Ok(Some((bytes, file.display().to_string()))),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(Error::Io { what: format!("reading {}", file.display()), source }),
                };
            }
            ArtifactDir::Proxied(dir) => format!("{ARTIFACTS_API}/{dir}/MLmodel"),
        };
        let url = self.http.url(&path);
        let response = self
            .http
            .request(Method::GET, &path)
            .send()
            .await
            .map_err(|source| Error::Transport { url: url.clone(), source })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| Error::Transport { url: url.clone(), source })?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(crate::http::api_error(status, &bytes));
        }
        Ok(Some((bytes.to_vec(), url)))
    }

    /// Resolves a `models:/` URI (`name@alias`, `name/<version>`, `<model_id>`) to its logged
    /// model.
    pub async fn resolve(&self, uri: &str) -> Result<LoggedAgent> {
        let rest = uri.strip_prefix("models:/").ok_or_else(|| invalid_uri(uri, "it does not start with models:/"))?;
        let model_id = if let Some((name, alias)) = rest.split_once('@') {
            model_id_of(&self.registry.get_model_version_by_alias(name, alias).await?, uri)?
        } else if let Some((name, version)) = rest.split_once('/') {
            model_id_of(&self.registry.get_model_version(name, version).await?, uri)?
        } else if rest.starts_with("m-") {
            rest.to_string()
        } else {
            return Err(invalid_uri(
                uri,
                "expected models:/<name>@<alias>, models:/<name>/<version> or models:/<model_id>",
            ));
        };
        self.get_logged_model(&model_id).await
    }

    /// The agent a `models:/` URI or an `http(s)://` endpoint names.
    pub async fn load_agent(&self, uri: &str) -> Result<RemoteAgent> {
        if uri.starts_with("http://") || uri.starts_with("https://") {
            return RemoteAgent::new(uri);
        }
        let logged = self.resolve(uri).await?;
        let endpoint = logged.endpoint().ok_or_else(|| {
            invalid_uri(
                uri,
                &format!("logged model {} has no {AGENT_ENDPOINT_TAG} tag (not a served agent)", logged.model_id),
            )
        })?;
        RemoteAgent::new(endpoint)
    }
}

fn invalid_uri(uri: &str, reason: &str) -> Error {
    Error::InvalidArgument(format!("cannot load agent {uri:?}: {reason}"))
}

fn model_id_of(version: &ModelVersion, uri: &str) -> Result<String> {
    version
        .source
        .strip_prefix("models:/")
        .filter(|id| id.starts_with("m-"))
        .map(str::to_string)
        .ok_or_else(|| invalid_uri(uri, &format!("its version's source {:?} is not a logged model", version.source)))
}

fn parse_logged(answer: Value) -> Result<LoggedAgent> {
    let response: LoggedModelResponse = serde_json::from_value(answer)
        .map_err(|err| Error::Protocol { url: "logged-models".to_string(), message: err.to_string() })?;
    Ok(response.model.into())
}

/// `load_agent("models:/name@production")` with the tracking server of `MLFLOW_TRACKING_URI`
/// (an `http(s)://` endpoint needs no tracking server).
pub async fn load_agent(uri: &str) -> Result<RemoteAgent> {
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return RemoteAgent::new(uri);
    }
    Models::new(&Config::from_env())?.load_agent(uri).await
}

/// A `ResponsesAgent` served elsewhere, called over MLflow's `/invocations` contract.
#[derive(Debug, Clone)]
pub struct RemoteAgent {
    endpoint: String,
    http: reqwest::Client,
}

/// Why a call to a remote agent failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteAgentError {
    #[error("agent at {endpoint} answered HTTP {status}: {body}")]
    Status { endpoint: String, status: u16, body: String },
    #[error("agent at {endpoint} sent an error event: {message}")]
    Event { endpoint: String, message: String },
    #[error("agent at {endpoint} answered something that is not a ResponsesAgent answer: {message}")]
    Malformed { endpoint: String, message: String },
}

impl RemoteAgent {
    /// An agent served at `endpoint` (`http://host:port`).
    pub fn new(endpoint: &str) -> Result<RemoteAgent> {
        let http = reqwest::Client::builder()
            .user_agent(crate::http::USER_AGENT)
            .build()
            .map_err(|err| Error::Config(format!("could not build the HTTP client: {err}")))?;
        Ok(RemoteAgent { endpoint: endpoint.trim_end_matches('/').to_string(), http })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Posts to `/invocations`, with the caller's trace context as a `traceparent` header so the
    /// served agent's spans join the caller's trace.
    async fn post(&self, request: &ResponsesAgentRequest) -> Result<reqwest::Response, AgentError> {
        let mut builder = self.http.post(format!("{}/invocations", self.endpoint)).json(request);
        if let Some(traceparent) = crate::live::context::current_traceparent() {
            builder = builder.header("traceparent", traceparent);
        }
        let response = builder.send().await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(Box::new(RemoteAgentError::Status {
                endpoint: self.endpoint.clone(),
                status: status.as_u16(),
                body,
            }));
        }
        Ok(response)
    }

    fn malformed(&self, message: impl Into<String>) -> AgentError {
        Box::new(RemoteAgentError::Malformed { endpoint: self.endpoint.clone(), message: message.into() })
    }
}

impl ResponsesAgent for RemoteAgent {
    async fn predict(&self, mut request: ResponsesAgentRequest) -> Result<ResponsesAgentResponse, AgentError> {
        request.stream = None;
        let bytes = self.post(&request).await?.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|err| self.malformed(err.to_string()))
    }

    fn predict_stream(
        &self,
        mut request: ResponsesAgentRequest,
    ) -> impl Stream<Item = Result<ResponsesAgentStreamEvent, AgentError>> + Send {
        request.stream = Some(true);
        let start = async move { self.post(&request).await };
        futures::stream::once(start)
            .map(move |response| {
                let state = (response.map(Some), Vec::<u8>::new(), false);
                futures::stream::unfold(state, move |(mut response, mut buffer, mut finished)| async move {
                    loop {
                        if finished {
                            return None;
                        }
                        // One whole event in the buffer: hand it out.
                        if let Some(end) = find(&buffer, b"\n\n") {
                            let event: Vec<u8> = buffer.drain(..end + 2).collect();
                            match self.read_event(&event) {
                                SseEvent::Done => return None,
                                SseEvent::Skip => continue,
                                SseEvent::Event(item) => {
                                    let item = *item;
                                    finished = item.is_err();
                                    return Some((item, (response, buffer, finished)));
                                }
                            }
                        }
                        let chunk = match &mut response {
                            Err(_) => {
                                let Err(err) = std::mem::replace(&mut response, Ok(None)) else { unreachable!() };
                                return Some((Err(err), (Ok(None), buffer, true)));
                            }
                            Ok(None) => return None,
                            Ok(Some(body)) => body.chunk().await,
                        };
                        match chunk {
                            Ok(Some(bytes)) => buffer.extend_from_slice(&bytes),
                            Ok(None) => {
                                if buffer.iter().all(u8::is_ascii_whitespace) {
                                    return None;
                                }
                                buffer.extend_from_slice(b"\n\n");
                                response = Ok(None);
                            }
                            Err(err) => return Some((Err(err.into()), (Ok(None), buffer, true))),
                        }
                    }
                })
            })
            .flatten()
    }
}

enum SseEvent {
    Done,
    Skip,
    Event(Box<Result<ResponsesAgentStreamEvent, AgentError>>),
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl RemoteAgent {
    /// One server-sent event: its `data:` lines joined.
    fn read_event(&self, raw: &[u8]) -> SseEvent {
        let text = String::from_utf8_lossy(raw);
        let data: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("data:")).map(str::trim_start).collect();
        if data.is_empty() {
            return SseEvent::Skip;
        }
        let data = data.join("\n");
        if data.trim() == "[DONE]" {
            return SseEvent::Done;
        }
        let value: Value = match serde_json::from_str(&data) {
            Ok(value) => value,
            Err(err) => return SseEvent::Event(Box::new(Err(self.malformed(format!("event is not JSON: {err}"))))),
        };
        if let Some(message) = value.get("error") {
            let message = message.as_str().map(str::to_string).unwrap_or_else(|| message.to_string());
            return SseEvent::Event(Box::new(Err(Box::new(RemoteAgentError::Event {
                endpoint: self.endpoint.clone(),
                message,
            }))));
        }
        if value.get("type").is_none() && value.get("trace_id").is_some() {
            return SseEvent::Skip;
        }
        SseEvent::Event(Box::new(serde_json::from_value(value).map_err(|err| self.malformed(err.to_string()))))
    }
}

#[cfg(test)]
mod tests {
    use super::ArtifactDir;

    #[test]
    fn artifact_locations_are_the_proxy_or_a_local_directory() {
        let proxied = |path: &str| Some(ArtifactDir::Proxied(path.to_string()));
        let local = |path: &str| Some(ArtifactDir::Local(path.into()));
        for (uri, expected) in [
            ("mlflow-artifacts:/7/models/m-1/artifacts", proxied("7/models/m-1/artifacts")),
            ("mlflow-artifacts://host:5000/7/models/m-1/artifacts", proxied("7/models/m-1/artifacts")),
            ("/srv/mlruns/7/models/m-1/artifacts", local("/srv/mlruns/7/models/m-1/artifacts")),
            ("file:///srv/ml%20runs/7/models/m-1/artifacts", local("/srv/ml runs/7/models/m-1/artifacts")),
            ("file://localhost/srv/mlruns/7", local("/srv/mlruns/7")),
            ("s3://bucket/7/models/m-1/artifacts", None),
            ("file://otherhost/srv/mlruns/7", None),
            ("relative/dir", None),
        ] {
            assert_eq!(ArtifactDir::of(uri).ok(), expected, "{uri}");
        }
        let error = ArtifactDir::of("s3://bucket/7").unwrap_err().to_string();
        assert!(error.contains("s3://bucket/7") && error.contains("artifact proxying"), "{error}");
    }
}
