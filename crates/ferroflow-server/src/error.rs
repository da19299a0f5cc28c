//! The one place where failures become HTTP answers: MLflow's `{error_code, message}` body
//! with the status that matches the code (../shared/spec/mlflow-rest.md §2).

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.code);
        let message = if status.is_server_error() {
            // The cause goes to the log; the client learns only that it was ours.
            tracing::error!(error = %self.0.message, code = %self.0.code, "request failed");
            "An internal error occurred.".to_string()
        } else {
            tracing::debug!(error = %self.0.message, code = %self.0.code, "request rejected");
            self.0.message
        };
        let body = serde_json::json!({ "error_code": self.0.code.as_str(), "message": message });
        (status, axum::Json(body)).into_response()
    }
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
