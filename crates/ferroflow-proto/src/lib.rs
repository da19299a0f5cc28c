//! Wire shapes of the MLflow REST API: request and response bodies as the `mlflow` client
//! sends and parses them (../shared/spec/mlflow-rest.md §1.3).
//!
//! Requests are read leniently, the way MLflow's server reads them: int64 fields accept numbers
//! or decimal strings, booleans accept `True`/`false`/`1`, a repeated field accepts a single
//! value (GET query strings carry one value per key), absent fields take their default.
//! Responses omit empty fields, as protobuf's JSON printer does.
//!
//! [`encoding`] holds the encodings the server and the SDK share (Python's JSON text, OTLP
//! `AnyValue`s, `tr-` trace ids): shapes and encodings, no domain logic.

pub mod auth;
pub mod de;
pub mod encoding;
pub mod evaluation;
pub mod issues;
pub mod logged_models;
pub mod registry;
pub mod traces;
pub mod tracking;
