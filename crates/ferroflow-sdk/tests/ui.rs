//! Compile-time checks of `#[trace]`: misuse is a clear `compile_error!` (the `.stderr` files
//! next to each case are the expected messages), and the accepted forms compile.
//! `TRYBUILD=overwrite cargo test -p ferroflow-sdk --test ui` refreshes the `.stderr` files.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass_*.rs");
    cases.compile_fail("tests/ui/fail_*.rs");
}
