//! One argument both skipped and renamed.
#[ferroflow_sdk::trace(skip(x), rename(x = "y"))]
fn f(x: u8) -> u8 { x }
fn main() {}
