#[ferroflow_sdk::trace(nmae = "x")]
fn f() {}
fn main() {}
