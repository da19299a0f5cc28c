//! Configuration: read from the environment variables MLflow users already set, or built in
//! code with [`Config::builder`].
//!
//! | variable | meaning |
//! | --- | --- |
//! | `MLFLOW_TRACKING_URI` | `http(s)://host:port[/prefix]` of the tracking server; unset = tracing is a no-op |
//! | `MLFLOW_EXPERIMENT_ID` | experiment that receives traces (wins over the name) |
//! | `MLFLOW_EXPERIMENT_NAME` | experiment by name; created on first export when missing |
//! | `MLFLOW_TRACKING_TOKEN` | `Authorization: Bearer <token>` |
//! | `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` | `Authorization: Basic ...` |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` | send plain OTLP there instead (as the Python client does); `MLFLOW_ENABLE_OTLP_EXPORTER=false` ignores them |
//! | `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS` | `k=v,k2=v2` headers of those requests |
//! | `MLFLOW_TRACE_MAX_RETRIES` | retries of one failed export request (default 3) |

use std::fmt;
use std::time::Duration;

/// Which experiment receives the traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Experiment {
    /// MLflow's `Default` experiment, id `"0"`.
    Default,
    Id(String),
    /// Looked up (and created when missing) by the exporter, off the caller's path.
    Name(String),
}

/// How requests authenticate. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Bearer(String),
    Basic { username: String, password: String },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, password: <redacted> }}")
            }
        }
    }
}

/// Where finished spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// What the Python client does against an MLflow server: OTLP protobuf to
    /// `<tracking_uri>/v1/traces` with `x-mlflow-experiment-id`, then the StartTraceV3 record
    /// `POST <tracking_uri>/api/3.0/mlflow/traces` when a trace's root span ends.
    Mlflow,
    /// Plain OTLP/HTTP protobuf to any OpenTelemetry collector: only the spans, no trace
    /// record. Trace tags, user and session travel as root-span attributes
    /// (`mlflow.traceTag.<key>`, `user.id`, `session.id`).
    Otlp {
        /// The full URL, e.g. `http://collector:4318/v1/traces`.
        endpoint: String,
        headers: Vec<(String, String)>,
    },
    /// Spans are built and queued, then thrown away by the background exporter; for
    /// benchmarks of the tracing overhead without the network.
    Discard,
}

/// The SDK's configuration. Build it with [`Config::from_env`] or [`Config::builder`].
#[derive(Debug, Clone)]
pub struct Config {
    pub tracking_uri: Option<String>,
    pub experiment: Experiment,
    pub auth: Auth,
    pub export: ExportTarget,
    /// Whether `#[trace]` and `start_span` record anything (default: when there is somewhere
    /// to send spans).
    pub tracing_enabled: bool,
    /// Finished spans and trace records waiting for the exporter; past this, new ones are
    /// dropped and counted (see [`crate::FlushReport`]).
    pub max_queue: usize,
    /// Spans per OTLP request at most.
    pub max_batch: usize,
    /// Retries of one failed export request (connection error, 408, 429, 5xx but 501).
    pub max_retries: u32,
    /// First retry delay; doubled on each retry up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Time-out of one HTTP request.
    pub request_timeout: Duration,
    /// How long a prompt alias (`prompts:/name@alias`) stays cached; versions stay cached for
    /// the life of the client since they never change.
    pub prompt_alias_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tracking_uri: None,
            experiment: Experiment::Default,
            auth: Auth::None,
            export: ExportTarget::Mlflow,
            tracing_enabled: false,
            max_queue: 4096,
            max_batch: 512,
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            prompt_alias_ttl: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// Reads the process environment (see the module docs for the variables).
    pub fn from_env() -> Config {
        Config::from_vars(|key| std::env::var(key).ok())
    }

    /// Like [`Config::from_env`], reading variables through `var` (for tests and embedding).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Config {
        let get = |key: &str| var(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut builder = Config::builder();
        if let Some(uri) = get("MLFLOW_TRACKING_URI") {
            builder = builder.tracking_uri(uri);
        }
        if let Some(id) = get("MLFLOW_EXPERIMENT_ID") {
            builder = builder.experiment_id(id);
        } else if let Some(name) = get("MLFLOW_EXPERIMENT_NAME") {
            builder = builder.experiment_name(name);
        }
        if let Some(token) = get("MLFLOW_TRACKING_TOKEN") {
            builder = builder.bearer_token(token);
        } else if let (Some(user), Some(password)) = (get("MLFLOW_TRACKING_USERNAME"), get("MLFLOW_TRACKING_PASSWORD"))
        {
            builder = builder.basic_auth(user, password);
        }
        let otlp_enabled =
            get("MLFLOW_ENABLE_OTLP_EXPORTER").map(|v| !v.eq_ignore_ascii_case("false") && v != "0").unwrap_or(true);
        if otlp_enabled {
            let endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
                get("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
            });
            if let Some(endpoint) = endpoint {
                let headers = get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
                    .or_else(|| get("OTEL_EXPORTER_OTLP_HEADERS"))
                    .map(|h| parse_otlp_headers(&h))
                    .unwrap_or_default();
                builder = builder.otlp_endpoint(endpoint, headers);
            }
        }
        if let Some(retries) = get("MLFLOW_TRACE_MAX_RETRIES").and_then(|v| v.parse().ok()) {
            builder = builder.max_retries(retries);
        }
        builder.build()
    }

    pub fn builder() -> ConfigBuilder {
        ConfigBuilder { config: Config::default(), tracing_enabled: None }
    }

    /// The tracking URI without a trailing slash, if any.
    pub fn base_url(&self) -> Option<&str> {
        self.tracking_uri.as_deref().map(|uri| uri.trim_end_matches('/'))
    }
}

/// `k=v,k2=v2` (the OTel header syntax; values may be percent-encoded, which is kept as is
/// except for `%20`).
fn parse_otlp_headers(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((key.trim().to_string(), value.trim().replace("%20", " ")))
        })
        .filter(|(key, _)| !key.is_empty())
        .collect()
}

/// Builds a [`Config`] in code; every method has the environment variable's meaning.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
    tracing_enabled: Option<bool>,
}

impl ConfigBuilder {
    /// `http(s)://host:port[/prefix]`. Only HTTP(S) servers can receive traces; any other
    /// scheme (`databricks`, `file:`, a bare path) leaves tracing off.
    pub fn tracking_uri(mut self, uri: impl Into<String>) -> Self {
        self.config.tracking_uri = Some(uri.into());
        self
    }
    pub fn experiment_id(mut self, id: impl Into<String>) -> Self {
        self.config.experiment = Experiment::Id(id.into());
        self
    }
    pub fn experiment_name(mut self, name: impl Into<String>) -> Self {
        self.config.experiment = Experiment::Name(name.into());
        self
    }
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.config.auth = Auth::Bearer(token.into());
        self
    }
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.auth = Auth::Basic { username: username.into(), password: password.into() };
        self
    }
    /// Sends plain OTLP to `endpoint` (full URL, `.../v1/traces`) instead of MLflow's protocol.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>, headers: Vec<(String, String)>) -> Self {
        self.config.export = ExportTarget::Otlp { endpoint: endpoint.into(), headers };
        self
    }
    pub fn export(mut self, target: ExportTarget) -> Self {
        self.config.export = target;
        self
    }
    /// Forces tracing on or off (by default it is on when there is somewhere to send spans).
    pub fn tracing_enabled(mut self, enabled: bool) -> Self {
        self.tracing_enabled = Some(enabled);
        self
    }
    pub fn max_queue(mut self, spans: usize) -> Self {
        self.config.max_queue = spans.max(1);
        self
    }
    pub fn max_batch(mut self, spans: usize) -> Self {
        self.config.max_batch = spans.max(1);
        self
    }
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }
    pub fn backoff(mut self, initial: std::time::Duration, max: std::time::Duration) -> Self {
        self.config.initial_backoff = initial;
        self.config.max_backoff = max.max(initial);
        self
    }
    pub fn request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }
    pub fn prompt_alias_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.config.prompt_alias_ttl = ttl;
        self
    }

    pub fn build(self) -> Config {
        let mut config = self.config;
        let http_uri =
            config.tracking_uri.as_deref().is_some_and(|uri| uri.starts_with("http://") || uri.starts_with("https://"));
        let has_sink = match &config.export {
            ExportTarget::Mlflow => http_uri,
            ExportTarget::Otlp { .. } | ExportTarget::Discard => true,
        };
        config.tracing_enabled = self.tracing_enabled.unwrap_or(has_sink) && has_sink;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|key| map.get(key).cloned())
    }

    #[test]
    fn no_uri_means_tracing_off() {
        let config = from(&[]);
        assert!(!config.tracing_enabled);
        assert_eq!(config.experiment, Experiment::Default);
        let file = from(&[("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")]);
        assert!(!file.tracing_enabled);
    }

    #[test]
    fn env_vars_are_read() {
        let config = from(&[
            ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/"),
            ("MLFLOW_EXPERIMENT_NAME", "demo"),
            ("MLFLOW_TRACKING_USERNAME", "alice"),
            ("MLFLOW_TRACKING_PASSWORD", "s3cret"),
        ]);
        assert!(config.tracing_enabled);
        assert_eq!(config.base_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.experiment, Experiment::Name("demo".into()));
        assert!(matches!(config.auth, Auth::Basic { .. }));
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(config.export, ExportTarget::Mlflow);

        let by_id = from(&[
            ("MLFLOW_TRACKING_URI", "http://h:1"),
            ("MLFLOW_EXPERIMENT_ID", "7"),
            ("MLFLOW_EXPERIMENT_NAME", "ignored"),
            ("MLFLOW_TRACKING_TOKEN", "tok"),
        ]);
        assert_eq!(by_id.experiment, Experiment::Id("7".into()));
        assert_eq!(by_id.auth, Auth::Bearer("tok".into()));
    }

    #[test]
    fn otel_endpoint_switches_to_plain_otlp() {
        let config = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-mlflow-experiment-id=3, a=b%20c"),
        ]);
        assert!(config.tracing_enabled);
        assert_eq!(
            config.export,
            ExportTarget::Otlp {
                endpoint: "http://collector:4318/v1/traces".into(),
                headers: vec![("x-mlflow-experiment-id".into(), "3".into()), ("a".into(), "b c".into())],
            }
        );
        let ignored =
            from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), ("MLFLOW_ENABLE_OTLP_EXPORTER", "false")]);
        assert!(!ignored.tracing_enabled);
    }

    #[test]
    fn builder_can_force_tracing_off() {
        let config = Config::builder().tracking_uri("http://h:1").tracing_enabled(false).build();
        assert!(!config.tracing_enabled);
    }
}
