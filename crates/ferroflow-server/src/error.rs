//! The one place where failures become answers: MLflow's `{error_code, message}` body with
//! the status that matches the code (`../shared/spec/mlflow-rest.md` §2), the OTLP/HTTP
//! endpoint's `{"detail": ...}` body ([`OtlpError`]), and the gRPC status of OTLP/gRPC
//! ([`grpc_status`]). Server-side failures are logged here, once; their text never reaches
//! the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferroflow_core::{Error, ErrorCode};

/// A failed request. Wraps the core error; its status follows from the code.
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError(error)
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidParameterValue | ErrorCode::BadRequest | ErrorCode::ResourceAlreadyExists => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::ResourceDoesNotExist | ErrorCode::NotFound | ErrorCode::EndpointNotFound => StatusCode::NOT_FOUND,
        ErrorCode::ResourceConflict => StatusCode::CONFLICT,
        ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::RequestLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::InternalError | ErrorCode::InvalidState => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// What the client may read of a failure: the message for its own mistakes, a fixed text
/// for ours (whose cause goes to the log, here and nowhere else).
fn client_message(error: Error) -> (StatusCode, String) {
    let status = status_of(error.code);
    if status.is_server_error() {
        tracing::error!(error = %error.message, code = %error.code, "request failed");
        (status, INTERNAL_MESSAGE.to_string())
    } else {
        tracing::debug!(error = %error.message, code = %error.code, "request rejected");
        (status, error.message)
    }
}

const INTERNAL_MESSAGE: &str = "An internal error occurred.";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code;
        let (status, message) = client_message(self.0);
        (status, axum::Json(error_body(code, message))).into_response()
    }
}

/// MLflow's error body: `error_code` and `message`, and the `error_class` and `sqlstate` that
/// MLflow 3.18's server derives from the code (`mlflow/error_classification.py`: a server-raised
/// exception takes the client-side class of its code, and no class for codes it does not list).
fn error_body(code: ErrorCode, message: String) -> serde_json::Value {
    let mut body = serde_json::json!({ "error_code": code.as_str(), "message": message });
    if let Some((error_class, sqlstate)) = error_class_of(code) {
        body["sqlstate"] = serde_json::Value::from(sqlstate);
        body["error_class"] = serde_json::Value::from(error_class);
    }
    body
}

/// `(error_class, sqlstate)` of a code, as MLflow 3.18 serializes a server-side failure.
fn error_class_of(code: ErrorCode) -> Option<(&'static str, &'static str)> {
    const INVALID: &str = "KAM00";
    const INTERNAL: &str = "XXM00";
    Some(match code {
        ErrorCode::InvalidParameterValue | ErrorCode::BadRequest => ("INVALID_PARAMETER_VALUE", INVALID),
        ErrorCode::ResourceAlreadyExists => ("RESOURCE_ALREADY_EXISTS", INVALID),
        ErrorCode::ResourceDoesNotExist | ErrorCode::NotFound | ErrorCode::EndpointNotFound => {
            ("RESOURCE_NOT_FOUND", INVALID)
        }
        ErrorCode::PermissionDenied => ("PERMISSION_DENIED", INVALID),
        ErrorCode::InternalError | ErrorCode::InvalidState | ErrorCode::TemporarilyUnavailable => {
            ("CLIENT_INTERNAL_ERROR", INTERNAL)
        }
        ErrorCode::ResourceConflict
        | ErrorCode::Unauthenticated
        | ErrorCode::RequestLimitExceeded
        | ErrorCode::PayloadTooLarge
        | ErrorCode::NotImplemented => return None,
    })
}

/// A proxied-artifact route on a server started with `--no-serve-artifacts`: 503, in the
/// reference's two shapes. File downloads and uploads answer `{"detail"}` JSON; the listing and
/// deletes answer a text that names the route's rule as Flask writes it.
#[derive(Debug)]
pub enum ArtifactsNotServed {
    Detail,
    Rule(String),
}

impl ArtifactsNotServed {
    /// From the request's method and full path (`…/mlflow-artifacts/artifacts[/<path>]`).
    pub fn for_request(method: &axum::http::Method, path: &str) -> Self {
        const ROUTE: &str = "/mlflow-artifacts/artifacts";
        match path.find(ROUTE) {
            Some(at) if path.len() > at + ROUTE.len() => {
                if method == axum::http::Method::GET || method == axum::http::Method::PUT {
                    ArtifactsNotServed::Detail
                } else {
                    ArtifactsNotServed::Rule(format!("{}/<path:artifact_path>", &path[..at + ROUTE.len()]))
                }
            }
            Some(_) | None => ArtifactsNotServed::Rule(path.to_string()),
        }
    }
}

impl IntoResponse for ArtifactsNotServed {
    fn into_response(self) -> Response {
        let status = StatusCode::SERVICE_UNAVAILABLE;
        match self {
            ArtifactsNotServed::Detail => {
                let detail = "Artifact serving is disabled. Run `mlflow server` with `--serve-artifacts` to enable.";
                (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response()
            }
            ArtifactsNotServed::Rule(rule) => {
                let text = format!(
                    "Endpoint: {rule} disabled due to the mlflow server running with `--no-serve-artifacts`. To \
                     enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`"
                );
                (status, [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], text).into_response()
            }
        }
    }
}

/// A failed `POST /v1/traces`. The endpoint answers in the OTLP/HTTP collector's
/// `{"detail": ...}` shape for problems with the request itself; a request that was read
/// but refused by the core (an unknown or inactive experiment, say) keeps MLflow's RPC shape,
/// as the reference server answers it.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("Invalid Content-Type: {0}. Expected: application/x-protobuf or application/json")]
    ContentType(String),
    #[error("Missing required header: x-mlflow-experiment-id")]
    MissingExperiment,
    /// The body could not be read, decompressed or decoded.
    #[error("{0}")]
    Body(String),
    /// The body, as sent or once decompressed, is over the route's limit: 413.
    #[error("{0}")]
    TooLarge(String),
    /// A span of a decoded body cannot be made an MLflow span (a trace or span id that is not
    /// one): 422 with the reference's text; the reason goes to the log.
    #[error("Cannot convert OpenTelemetry span to MLflow span")]
    Spans(Error),
    #[error("{}", .0.message)]
    Core(#[from] Error),
}

impl OtlpError {
    /// A body that could not be read: over the limit (`PAYLOAD_TOO_LARGE`, answered with the
    /// route's own `too_large` text) or broken in transit.
    pub fn reading_body(error: Error, too_large: impl FnOnce() -> String) -> Self {
        match error.code {
            ErrorCode::PayloadTooLarge => OtlpError::TooLarge(too_large()),
            _ => OtlpError::Body(error.message),
        }
    }
}

impl IntoResponse for OtlpError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            OtlpError::Core(error) => return ApiError(error).into_response(),
            OtlpError::Spans(ref error) => {
                tracing::debug!(error = %error.message, "OTLP span refused");
                (StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            }
            // The reference's web framework answers a missing required header with its
            // validation list, not a sentence.
            OtlpError::MissingExperiment => {
                let detail = serde_json::json!([{
                    "type": "missing", "loc": ["header", "x-mlflow-experiment-id"], "msg": "Field required", "input": null,
                }]);
                return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(serde_json::json!({ "detail": detail })))
                    .into_response();
            }
            OtlpError::ContentType(_) | OtlpError::Body(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            OtlpError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, self.to_string()),
        };
        (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response()
    }
}

/// The gRPC status of a failed OTLP/gRPC export.
pub fn grpc_status(error: Error) -> tonic::Status {
    let code = match status_of(error.code) {
        StatusCode::NOT_FOUND => tonic::Code::NotFound,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => tonic::Code::InvalidArgument,
        StatusCode::CONFLICT => tonic::Code::Aborted,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::TOO_MANY_REQUESTS => tonic::Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::NOT_IMPLEMENTED => tonic::Code::Unimplemented,
        _ => tonic::Code::Internal,
    };
    let (_, message) = client_message(error);
    tonic::Status::new(code, message)
}

/// The answer for routes ferroflow does not serve. Under `/api/` and `/ajax-api/` it is JSON in
/// MLflow's error shape with `ENDPOINT_NOT_FOUND`: the client reads any 404 as that code, so its
/// fallbacks to older APIs work the same, and a client decoding the body does not crash on
/// HTML. Other paths (a browser's) get a plain HTML page.
pub async fn endpoint_not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let path = uri.path();
    // `contains`: under `--static-prefix` the prefix comes first.
    let is_api = path.contains("/api/") || path.contains("/ajax-api/");
    if is_api {
        let message = format!("No API endpoint at {method} {path}.");
        return (StatusCode::NOT_FOUND, axum::Json(error_body(ErrorCode::EndpointNotFound, message))).into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>404 Not Found</title><h1>Not Found</h1>",
    )
        .into_response()
}
