//! The SDK's error type: every failure of a call to the tracking server, with MLflow's error
//! code when the server sent one.

use std::fmt;

/// MLflow's error codes (the `error_code` of an error body), plus any other code verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidParameterValue,
    BadRequest,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    NotFound,
    EndpointNotFound,
    PermissionDenied,
    Unauthenticated,
    RequestLimitExceeded,
    InternalError,
    TemporarilyUnavailable,
    NotImplemented,
    /// Any code this enum does not name, as the server spelled it.
    Other(String),
}

impl ErrorCode {
    /// Parses the wire spelling (`"RESOURCE_DOES_NOT_EXIST"`, …).
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "INVALID_PARAMETER_VALUE" => ErrorCode::InvalidParameterValue,
            "BAD_REQUEST" => ErrorCode::BadRequest,
            "RESOURCE_ALREADY_EXISTS" => ErrorCode::ResourceAlreadyExists,
            "RESOURCE_DOES_NOT_EXIST" => ErrorCode::ResourceDoesNotExist,
            "NOT_FOUND" => ErrorCode::NotFound,
            "ENDPOINT_NOT_FOUND" => ErrorCode::EndpointNotFound,
            "PERMISSION_DENIED" => ErrorCode::PermissionDenied,
            "UNAUTHENTICATED" => ErrorCode::Unauthenticated,
            "REQUEST_LIMIT_EXCEEDED" => ErrorCode::RequestLimitExceeded,
            "INTERNAL_ERROR" => ErrorCode::InternalError,
            "TEMPORARILY_UNAVAILABLE" => ErrorCode::TemporarilyUnavailable,
            "NOT_IMPLEMENTED" => ErrorCode::NotImplemented,
            other => ErrorCode::Other(other.to_string()),
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
            ErrorCode::Other(code) => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in a call the SDK makes for you.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an MLflow error (`{"error_code", "message"}`).
    #[error("{code}: {message} (HTTP {status})")]
    Api { status: u16, code: ErrorCode, message: String },
    /// The request did not get an answer (connection refused, time-out, …).
    #[error("request to {url} failed: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered something that is not the expected shape.
    #[error("unexpected response from {url}: {message}")]
    Protocol { url: String, message: String },
    /// No tracking URI is configured (set `MLFLOW_TRACKING_URI` or use `Config::builder`).
    #[error("no tracking URI configured: set MLFLOW_TRACKING_URI or Config::builder().tracking_uri(...)")]
    NotConfigured,
    /// The configuration is unusable (a bad URI, a bad header, …).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A prompt URI that is not `prompts:/name/<version>` or `prompts:/name@<alias>`.
    #[error("invalid prompt URI {uri:?}: {reason}")]
    InvalidPromptUri { uri: String, reason: String },
    /// A registered model exists under that name but is not a prompt.
    #[error("INVALID_PARAMETER_VALUE: {name:?} is registered as a model, not a prompt")]
    NotAPrompt { name: String },
    /// `Prompt::format` was not given a value for a `{{variable}}` of the template.
    #[error("prompt {prompt:?} needs a value for {{{{{variable}}}}}, which was not given")]
    MissingVariable { prompt: String, variable: String },
    /// Any other invalid argument given to an SDK call.
    #[error("INVALID_PARAMETER_VALUE: {0}")]
    InvalidArgument(String),
    /// A local file the SDK reads or writes itself (a logged model's files in a local artifact
    /// root).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The MLflow error code of this error, when it has one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(code.clone()),
            Error::NotAPrompt { .. }
            | Error::InvalidPromptUri { .. }
            | Error::MissingVariable { .. }
            | Error::InvalidArgument(_) => Some(ErrorCode::InvalidParameterValue),
            _ => None,
        }
    }

    /// Whether this is a "does not exist" answer (`RESOURCE_DOES_NOT_EXIST` or `NOT_FOUND`).
    pub fn is_not_found(&self) -> bool {
        matches!(self.error_code(), Some(ErrorCode::ResourceDoesNotExist | ErrorCode::NotFound))
    }
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
