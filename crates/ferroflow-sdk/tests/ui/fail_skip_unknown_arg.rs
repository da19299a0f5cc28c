//! `skip` naming something that is not an argument.
#[ferroflow_sdk::trace(skip(missing))]
fn f(present: u8) -> u8 { present }
fn main() {}
