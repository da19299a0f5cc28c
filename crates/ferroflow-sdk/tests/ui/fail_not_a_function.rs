#[ferroflow_sdk::trace]
struct S;
fn main() {}
