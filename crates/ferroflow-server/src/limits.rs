//! The cap on requests in flight: past it a request is answered at once with 503 and
//! `Retry-After`, so a flood of OTLP exports meets back-pressure the exporters understand
//! (they retry) instead of growing memory without bound. Nothing is acknowledged that was not
//! stored: a refused request did no work.

use axum::extract::Request;
use axum::http::header::RETRY_AFTER;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use ferroflow_core::{Error, ErrorCode};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Wraps `routes` so that at most `max` requests run at once.
pub fn concurrency(routes: Router, max: usize) -> Router {
    let permits = Arc::new(Semaphore::new(max.max(1)));
    routes.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let permits = permits.clone();
        async move {
            let Ok(_permit) = permits.try_acquire_owned() else {
                return busy();
            };
            next.run(request).await
        }
    }))
}

fn busy() -> Response {
    let error = Error::new(ErrorCode::TemporarilyUnavailable, "The server is busy; retry the request shortly.");
    let mut response = crate::error::ApiError(error).into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
