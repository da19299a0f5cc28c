//! What `#[trace]` expands to. Not a public API: names and signatures change without notice.
//!
//! Inputs and outputs are recorded through "autoref specialization": the macro writes
//! `(&&Wrap(&value)).__ff_input(..)` / `(&&&&Wrap(&out)).__ff_output(..)` and method lookup
//! picks the most specific impl that applies: a `Result` whose error is `Display` (the span is
//! ERROR on `Err`), a `Serialize` value (recorded), or anything else (left out). This works on
//! concrete types; in a generic function it sees only the bounds that are declared.

use std::fmt::Display;

use serde::Serialize;

pub use crate::tracer::{instrument, FnMeta, FnSpan, Inputs};

/// The wrapper the specialization dispatches on.
pub struct Wrap<T>(pub T);

pub trait InputSerialize {
    fn __ff_input(&self, inputs: &mut Inputs, key: &'static str);
}
impl<T: Serialize + ?Sized> InputSerialize for &Wrap<&T> {
    fn __ff_input(&self, inputs: &mut Inputs, key: &'static str) {
        inputs.insert(key, self.0);
    }
}

pub trait InputFallback {
    fn __ff_input(&self, inputs: &mut Inputs, key: &'static str);
}
impl<T: ?Sized> InputFallback for Wrap<&T> {
    fn __ff_input(&self, _inputs: &mut Inputs, _key: &'static str) {}
}

/// `Result<T: Serialize, E: Display>`: outputs on `Ok`, ERROR on `Err`.
pub trait OutputResult {
    fn __ff_output(&self, span: &FnSpan);
}
impl<T: Serialize, E: Display> OutputResult for &&&Wrap<&Result<T, E>> {
    fn __ff_output(&self, span: &FnSpan) {
        match self.0 {
            Ok(value) => span.finish_output(value),
            Err(error) => span.finish_error(error),
        }
    }
}

/// `Result<T, E: Display>` with a `T` that cannot be recorded: ERROR on `Err`, no outputs.
pub trait OutputResultError {
    fn __ff_output(&self, span: &FnSpan);
}
impl<T, E: Display> OutputResultError for &&Wrap<&Result<T, E>> {
    fn __ff_output(&self, span: &FnSpan) {
        match self.0 {
            Ok(_) => span.finish_unit(),
            Err(error) => span.finish_error(error),
        }
    }
}

pub trait OutputSerialize {
    fn __ff_output(&self, span: &FnSpan);
}
impl<T: Serialize + ?Sized> OutputSerialize for &Wrap<&T> {
    fn __ff_output(&self, span: &FnSpan) {
        span.finish_output(self.0);
    }
}

pub trait OutputFallback {
    fn __ff_output(&self, span: &FnSpan);
}
impl<T: ?Sized> OutputFallback for Wrap<&T> {
    fn __ff_output(&self, span: &FnSpan) {
        span.finish_unit();
    }
}
