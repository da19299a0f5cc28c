//! `#[trace]` on something other than a function.
#[ferroflow_sdk::trace]
struct S;
fn main() {}
