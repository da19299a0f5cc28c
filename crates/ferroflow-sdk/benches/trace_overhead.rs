//! Per-span overhead of `#[trace]`, with tracing enabled (spans built, queued and handed to the
//! background exporter, whose sink discards them: no network) and disabled (no tracking URI).
//!
//! Both cannot share a process (the tracer is chosen once per process), so the benchmark
//! re-runs itself: `cargo bench -p ferroflow-sdk --bench trace_overhead` measures the enabled
//! case, then starts itself again with `TRACE_OVERHEAD_MODE=disabled` for the other.
//! Goals: ≤ 1 µs per span enabled, ≤ 20 ns disabled.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use ferroflow_sdk::{trace, Config, ExportTarget};

#[trace(span_type = "TOOL")]
fn traced_add(a: i64, b: i64) -> i64 {
    a + b
}

#[trace(span_type = "AGENT")]
fn traced_parent(a: i64) -> i64 {
    traced_add(a, 1) + traced_add(a, 2)
}

fn plain_add(a: i64, b: i64) -> i64 {
    a + b
}

fn mode() -> String {
    std::env::var("TRACE_OVERHEAD_MODE").unwrap_or_else(|_| "enabled".to_string())
}

fn bench(c: &mut Criterion) {
    let mode = mode();
    if mode == "enabled" {
        // A queue big enough that the benchmark measures the caller's path, not drops.
        let config = Config::builder().export(ExportTarget::Discard).max_queue(1 << 22).build();
        ferroflow_sdk::init(config).expect("first init");
        assert!(ferroflow_sdk::is_enabled());
    } else {
        assert!(!ferroflow_sdk::is_enabled(), "run the disabled case without MLFLOW_TRACKING_URI");
    }
    let mut group = c.benchmark_group(format!("trace_{mode}"));
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.bench_function("plain_fn_baseline", |b| b.iter(|| plain_add(black_box(1), black_box(2))));
    group.bench_function("traced_fn_one_span", |b| b.iter(|| traced_add(black_box(1), black_box(2))));
    group.bench_function("traced_fn_three_spans", |b| b.iter(|| traced_parent(black_box(1))));
    group.finish();
    if mode == "enabled" {
        let report = ferroflow_sdk::flush();
        eprintln!("exporter after the enabled run: {report:?}");
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    if mode() == "enabled" && std::env::var_os("TRACE_OVERHEAD_NO_RERUN").is_none() {
        // The disabled case, in a process of its own with no tracking URI.
        let exe = std::env::current_exe().expect("current exe");
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("TRACE_OVERHEAD_MODE", "disabled")
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .status()
            .expect("re-run for the disabled case");
        std::process::exit(status.code().unwrap_or(1));
    }
}
