//! An unknown argument name (a typo of `name`).
#[ferroflow_sdk::trace(nmae = "x")]
fn f() {}
fn main() {}
