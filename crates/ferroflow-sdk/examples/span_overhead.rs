//! Per-span overhead of `#[trace]`, as a plain timing loop that prints one JSON line: the
//! figures `bench/sdk_overhead.py` sets beside Python's `@mlflow.trace` (the criterion bench
//! `benches/trace_overhead.rs` measures the same functions with more statistics).
//!
//! ```sh
//! cargo run --release -p ferroflow-sdk --example span_overhead              # tracing enabled
//! cargo run --release -p ferroflow-sdk --example span_overhead -- --disabled
//! ```
//!
//! Enabled: spans are built, queued and handed to the background exporter, whose sink
//! discards them (`ExportTarget::Discard`: no network), as in the criterion bench. Disabled: no
//! tracking URI, so `#[trace]` records nothing. The two cannot share a process (the tracer is
//! chosen once per process), hence the flag.
//!
//! Each workload is run in `--reps` repetitions of `--calls` calls; the figures are ns per span
//! (a call of the nested workload makes 3 spans), the median and the minimum over the
//! repetitions, with the same loop around an untraced function subtracted. Options:
//! `--calls N` (default 20000), `--reps N` (default 30), `--warmup N` (calls, default 20000).

use std::hint::black_box;
use std::time::Instant;

use ferroflow_sdk::{trace, Config, ExportTarget};

#[trace(span_type = "TOOL")]
fn traced_add(a: i64, b: i64) -> i64 {
    a + b
}

#[trace(span_type = "AGENT")]
fn traced_parent(a: i64) -> i64 {
    traced_add(a, 1) + traced_add(a, 2)
}

#[inline(never)]
fn plain_add(a: i64, b: i64) -> i64 {
    a + b
}

struct Args {
    disabled: bool,
    calls: u64,
    reps: usize,
    warmup: u64,
}

fn parse_args() -> Args {
    let mut args = Args { disabled: false, calls: 20_000, reps: 30, warmup: 20_000 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> u64 {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--disabled" => args.disabled = true,
            "--enabled" => args.disabled = false,
            "--calls" => args.calls = number("--calls").max(1),
            "--reps" => args.reps = number("--reps").max(1) as usize,
            "--warmup" => args.warmup = number("--warmup"),
            other => panic!("unknown argument {other:?} (see the file's docs)"),
        }
    }
    args
}

/// ns per call of `f` for each repetition, sorted.
fn time_reps(args: &Args, f: impl Fn(i64) -> i64) -> Vec<f64> {
    for i in 0..args.warmup {
        black_box(f(black_box(i as i64)));
    }
    let mut per_call: Vec<f64> = (0..args.reps)
        .map(|_| {
            let start = Instant::now();
            for i in 0..args.calls {
                black_box(f(black_box(i as i64)));
            }
            start.elapsed().as_nanos() as f64 / args.calls as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn main() {
    let args = parse_args();
    if args.disabled {
        assert!(
            !ferroflow_sdk::is_enabled(),
            "--disabled needs an environment without MLFLOW_TRACKING_URI / OTEL_EXPORTER_OTLP_*"
        );
    } else {
        let config = Config::builder()
            .export(ExportTarget::Discard)
            // Big enough that the loop measures the caller's path, not drops.
            .max_queue(1 << 22)
            .build();
        ferroflow_sdk::init(config).expect("first init");
    }

    let baseline = time_reps(&args, |i| plain_add(i, 1));
    let flat = time_reps(&args, |i| traced_add(i, 1));
    let nested = time_reps(&args, traced_parent);
    let report = ferroflow_sdk::flush();
    let base = median(&baseline);
    let out = serde_json::json!({
        "mode": if args.disabled { "disabled" } else { "enabled" },
        "calls_per_rep": args.calls,
        "reps": args.reps,
        "baseline_ns_per_call": base,
        "flat_ns_per_span": median(&flat) - base,
        "flat_ns_per_span_min": flat[0] - baseline[0],
        "nested_ns_per_span": (median(&nested) - base) / 3.0,
        "nested_ns_per_span_min": (nested[0] - baseline[0]) / 3.0,
        "spans_delivered": report.spans_delivered,
        "spans_lost": report.lost(),
    });
    println!("{out}");
}
