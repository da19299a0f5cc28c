#[ferroflow_sdk::trace(span_type = "AGNET")]
fn f() {}
fn main() {}
