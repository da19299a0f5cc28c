//! `POST /v1/traces`: OTLP/HTTP span ingest, protobuf or JSON, optionally gzip/deflate
//! compressed (`../shared/spec/mlflow-rest.md` §8.3). Failures are [`OtlpError`]s, answered
//! in `error.rs`.

use crate::convert::otlp::span_records;
use crate::error::OtlpError;
use crate::extract::read_body;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ferroflow_core::ids::{ExperimentId, RunId};
use ferroflow_core::traces;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::io::Read;

/// Largest OTLP body, compressed or not.
const MAX_OTLP_BODY: usize = 512 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

fn decompress(encoding: Option<&str>, body: bytes::Bytes) -> Result<bytes::Bytes, OtlpError> {
    let mut out = Vec::new();
    // One byte past the limit tells a body at the limit from one over it.
    let limit = MAX_OTLP_BODY as u64 + 1;
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => return Ok(body),
        Some("gzip") => {
            flate2::read::MultiGzDecoder::new(&body[..]).take(limit).read_to_end(&mut out).map_err(|e| {
                tracing::debug!(error = %e, "OTLP gzip body refused");
                OtlpError::Body("Failed to decompress gzip payload".to_string())
            })?;
        }
        Some("deflate") => {
            // HTTP "deflate" is zlib-wrapped; some senders send raw deflate.
            if flate2::read::ZlibDecoder::new(&body[..]).take(limit).read_to_end(&mut out).is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..]).take(limit).read_to_end(&mut out).map_err(|e| {
                    tracing::debug!(error = %e, "OTLP deflate body refused");
                    OtlpError::Body("Failed to decompress deflate payload".to_string())
                })?;
            }
        }
        Some(other) => return Err(OtlpError::Body(format!("Unsupported Content-Encoding: {other}"))),
    }
    if out.len() > MAX_OTLP_BODY {
        return Err(OtlpError::TooLarge(too_large_text()));
    }
    Ok(out.into())
}

fn too_large_text() -> String {
    format!("The request body is larger than the {} MiB limit of an OTLP export.", MAX_OTLP_BODY >> 20)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

pub async fn ingest(State(state): State<AppState>, request: Request) -> Result<Response, OtlpError> {
    let headers = request.headers().clone();
    // The reference validates its required header before it looks at the body's type.
    let experiment_id = header_text(&headers, "x-mlflow-experiment-id").ok_or(OtlpError::MissingExperiment)?;
    let raw_content_type = header_text(&headers, "content-type").unwrap_or("None");
    let content_type = raw_content_type.to_ascii_lowercase();
    let encoding =
        if content_type.starts_with("application/x-protobuf") || content_type.starts_with("application/protobuf") {
            Encoding::Protobuf
        } else if content_type.starts_with("application/json") {
            Encoding::Json
        } else {
            return Err(OtlpError::ContentType(raw_content_type.to_string()));
        };
    let experiment_id = ExperimentId::parse(experiment_id)?;
    let run_id = header_text(&headers, "x-mlflow-run-id").map(RunId::parse).transpose()?;
    let body = read_body(request.into_body(), MAX_OTLP_BODY, "an OTLP export")
        .await
        .map_err(|e| OtlpError::reading_body(e, too_large_text))?;
    let raw = decompress(header_text(&headers, "content-encoding"), body)?;
    let decoded = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(&raw[..]).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&raw).map_err(|e| e.to_string()),
    };
    // The reference's text, whatever the decoder's complaint (which goes to the log).
    let export = decoded.map_err(|e| {
        tracing::debug!(error = %e, "OTLP body refused");
        OtlpError::Body("Invalid OpenTelemetry format".to_string())
    })?;
    let spans = span_records(export).map_err(OtlpError::Spans)?;
    if spans.is_empty() {
        return Err(OtlpError::Body("Invalid OpenTelemetry format - no spans found".to_string()));
    }
    traces::ingest_spans(&*state.store, experiment_id, run_id.as_ref(), spans).await?;
    Ok(match encoding {
        Encoding::Protobuf => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], Body::empty()).into_response()
        }
        Encoding::Json => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
    })
}
