//! The same argument given twice.
#[ferroflow_sdk::trace(name = "a", name = "b")]
fn f() {}
fn main() {}
