//! A `const fn` cannot record spans.
#[ferroflow_sdk::trace]
const fn f() -> u8 { 1 }
fn main() {}
