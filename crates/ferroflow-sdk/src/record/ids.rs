//! Trace and span ids: random, from a per-thread generator (wyrand) seeded once from the
//! standard library's hash randomness, so that making an id costs a few nanoseconds and no
//! system call. The ids only need to be unique, not secret.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // RandomState's keys are random per process and vary per instance; the time and the
    // thread's address make two threads start apart even if they were not.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(super::now_unix_nanos() as u128);
    hasher.write_usize(&hasher as *const _ as usize);
    hasher.finish() | 1
}

fn next_u64() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = (s as u128).wrapping_mul((s ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A new non-zero 64-bit span id.
pub(crate) fn span_id() -> u64 {
    loop {
        let id = next_u64();
        if id != 0 {
            return id;
        }
    }
}

/// A new non-zero 128-bit trace id.
pub(crate) fn trace_id() -> u128 {
    loop {
        let id = ((next_u64() as u128) << 64) | next_u64() as u128;
        if id != 0 {
            return id;
        }
    }
}

/// A random UUID (version 4) in its usual text form, for ids the Python client makes with
/// `uuid.uuid4()` (e.g. an evaluation row's request id).
pub(crate) fn uuid4() -> String {
    let mut bits = trace_id();
    bits = (bits & !(0xf << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// MLflow's trace id: `tr-` and the 32 lowercase hex digits of the OTel trace id.
pub(crate) fn mlflow_trace_id(trace_id: u128) -> String {
    ferroflow_proto::encoding::mlflow_trace_id(&trace_id.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_format() {
        let a = span_id();
        let b = span_id();
        assert_ne!(a, b);
        assert_ne!(trace_id(), trace_id());
        assert_eq!(mlflow_trace_id(0xab), format!("tr-{}ab", "0".repeat(30)));
        let uuid = uuid4();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"), "{uuid}");
    }
}
