//! `POST /v1/traces`: OTLP/HTTP span ingest, protobuf or JSON, optionally gzip/deflate
//! compressed (../shared/spec/mlflow-rest.md §8.3). Errors use the OTLP endpoint's `{"detail": ...}` shape, except
//! store errors, which keep MLflow's RPC shape.

use crate::convert::otlp::span_records;
use crate::error::ApiError;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ferroflow_core::traces;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::io::Read;

/// Largest OTLP body, compressed or not.
const MAX_OTLP_BODY: usize = 512 * 1024 * 1024;

fn detail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "detail": message.into() }))).into_response()
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

fn decompress(encoding: Option<&str>, body: bytes::Bytes) -> Result<bytes::Bytes, String> {
    let mut out = Vec::new();
    let limit = MAX_OTLP_BODY as u64;
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => return Ok(body),
        Some("gzip") => {
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| format!("Invalid gzip body: {e}"))?;
        }
        Some("deflate") => {
            // HTTP "deflate" is zlib-wrapped; some senders send raw deflate.
            if flate2::read::ZlibDecoder::new(&body[..]).take(limit).read_to_end(&mut out).is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..])
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("Invalid deflate body: {e}"))?;
            }
        }
        Some(other) => return Err(format!("Unsupported Content-Encoding: {other}")),
    }
    Ok(out.into())
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

pub async fn ingest(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let content_type = header_text(&headers, "content-type").unwrap_or("").to_ascii_lowercase();
    let encoding =
        if content_type.starts_with("application/x-protobuf") || content_type.starts_with("application/protobuf") {
            Encoding::Protobuf
        } else if content_type.starts_with("application/json") {
            Encoding::Json
        } else {
            return detail(
                StatusCode::BAD_REQUEST,
                format!("Invalid Content-Type: {content_type}. Expected application/x-protobuf or application/json"),
            );
        };
    let Some(experiment_id) = header_text(&headers, "x-mlflow-experiment-id").map(str::to_string) else {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "Missing required header: x-mlflow-experiment-id");
    };
    let run_id = header_text(&headers, "x-mlflow-run-id").map(str::to_string);
    let body = match axum::body::to_bytes(request.into_body(), MAX_OTLP_BODY).await {
        Ok(body) => body,
        Err(e) => return detail(StatusCode::BAD_REQUEST, format!("Could not read the request body: {e}")),
    };
    let raw = match decompress(header_text(&headers, "content-encoding"), body) {
        Ok(raw) => raw,
        Err(message) => return detail(StatusCode::BAD_REQUEST, message),
    };
    let decoded = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(&raw[..]).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&raw).map_err(|e| e.to_string()),
    };
    let export = match decoded {
        Ok(export) => export,
        Err(e) => return detail(StatusCode::BAD_REQUEST, format!("Invalid OpenTelemetry format: {e}")),
    };
    let spans = match span_records(export) {
        Ok(spans) => spans,
        Err(e) => return detail(StatusCode::BAD_REQUEST, e.message),
    };
    if spans.is_empty() {
        return detail(StatusCode::BAD_REQUEST, "Invalid OpenTelemetry format: no spans found");
    }
    if let Err(error) = traces::ingest_spans(&*state.store, &experiment_id, run_id.as_deref(), spans).await {
        return ApiError(error).into_response();
    }
    match encoding {
        Encoding::Protobuf => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], Body::empty()).into_response()
        }
        Encoding::Json => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
    }
}
