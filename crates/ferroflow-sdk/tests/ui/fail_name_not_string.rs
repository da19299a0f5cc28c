#[ferroflow_sdk::trace(name = 3)]
fn f() {}
fn main() {}
