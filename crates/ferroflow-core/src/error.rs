//! The one error type that crosses the core boundary, carrying MLflow's error codes.
//!
//! Stores map their own failures into it (a missing row becomes `RESOURCE_DOES_NOT_EXIST`,
//! anything unexpected becomes [`ErrorCode::InternalError`]); the server maps the code to an
//! HTTP status in exactly one place.

use std::fmt;

/// MLflow's `error_code` values that ferroflow produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParameterValue,
    BadRequest,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    NotFound,
    EndpointNotFound,
    ResourceConflict,
    PermissionDenied,
    Unauthenticated,
    RequestLimitExceeded,
    /// A request body over its route's size limit (HTTP 413; MLflow has no code of its own for
    /// it, so the wire name is `REQUEST_LIMIT_EXCEEDED`).
    PayloadTooLarge,
    InternalError,
    InvalidState,
    NotImplemented,
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The name MLflow puts in `error_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::ResourceConflict => "RESOURCE_CONFLICT",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::RequestLimitExceeded | ErrorCode::PayloadTooLarge => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with the MLflow error code the client should see.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
    /// `INVALID_PARAMETER_VALUE`: the request is well-formed but a value is not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidParameterValue, message)
    }
    /// `RESOURCE_DOES_NOT_EXIST`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::ResourceDoesNotExist, message)
    }
    /// `RESOURCE_ALREADY_EXISTS`.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::ResourceAlreadyExists, message)
    }
    /// `BAD_REQUEST`: the request could not be read at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::BadRequest, message)
    }
    /// `INTERNAL_ERROR`: a failure of ours, not of the request. The message is logged,
    /// never shown to the client.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InternalError, message)
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self.code, ErrorCode::ResourceDoesNotExist | ErrorCode::NotFound)
    }
}
