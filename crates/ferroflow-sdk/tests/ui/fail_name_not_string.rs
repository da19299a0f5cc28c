//! A span name that is not a string literal.
#[ferroflow_sdk::trace(name = 3)]
fn f() {}
fn main() {}
