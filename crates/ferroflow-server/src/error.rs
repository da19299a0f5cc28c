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
        let body = serde_json::json!({ "error_code": code.as_str(), "message": message });
        (status, axum::Json(body)).into_response()
    }
}

/// A failed `POST /v1/traces`. The endpoint answers in the OTLP/HTTP collector's
/// `{"detail": ...}` shape for problems with the request itself; a request that was read
/// but refused by the core (an unknown or inactive experiment, say) keeps MLflow's RPC shape,
/// as the reference server answers it.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("Invalid Content-Type: {0}. Expected application/x-protobuf or application/json")]
    ContentType(String),
    #[error("Missing required header: x-mlflow-experiment-id")]
    MissingExperiment,
    /// The body could not be read, decompressed or decoded.
    #[error("{0}")]
    Body(String),
    /// The spans of a decoded body are not acceptable; the status follows the code.
    #[error("{}", .0.message)]
    Spans(Error),
    #[error("{}", .0.message)]
    Core(#[from] Error),
}

impl IntoResponse for OtlpError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            OtlpError::Core(error) => return ApiError(error).into_response(),
            OtlpError::Spans(error) => client_message(error),
            OtlpError::MissingExperiment => (StatusCode::UNPROCESSABLE_ENTITY, self.to_string()),
            OtlpError::ContentType(_) | OtlpError::Body(_) => (StatusCode::BAD_REQUEST, self.to_string()),
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

/// The answer for routes ferroflow does not serve: a 404 whose body is not JSON, which the
/// client reads as `ENDPOINT_NOT_FOUND` and uses to fall back to older APIs.
pub async fn endpoint_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>404 Not Found</title><h1>Not Found</h1>",
    )
        .into_response()
}
