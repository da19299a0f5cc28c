//! A span type MLflow does not name, not marked `custom(...)`.
#[ferroflow_sdk::trace(span_type = "AGNET")]
fn f() {}
fn main() {}
