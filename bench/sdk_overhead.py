#!/usr/bin/env python3
"""Per-span tracing overhead, Rust SDK `#[trace]` vs Python `@mlflow.trace`, in one run.

Both sides time the same two workloads with tracing enabled and disabled:

* flat:   ``traced_add(a, b)``, a TOOL span per call (every call is a one-span trace);
* nested: ``traced_parent(a)``, an AGENT span calling ``traced_add`` twice (3 spans per call);

figures are ns per span (median over repetitions, the same loop around an untraced function
subtracted), measured on the caller's path while the background exporter runs.

* **Rust**: ``crates/ferroflow-sdk/examples/span_overhead.rs`` (built with ``cargo build
  --release``), run once with tracing enabled (spans built, queued and handed to the exporter
  thread, whose sink discards them) and once with no tracking URI (disabled).
* **Python**: the installed ``mlflow`` with its defaults (OTel batch span processor, async
  trace logging), tracking URI pointing at a ferroflow server this script starts on a
  temporary store. By default (``--python-export discard``) the two calls that leave the process,
  ``MlflowV3SpanExporter._log_spans`` and ``_log_trace``, are replaced with no-ops, so that, as
  on the Rust side, no span goes over the network; everything MLflow does in-process (span
  objects, processors, trace manager, the exporter's trace assembly) still runs.
  ``--python-export server`` keeps them (spans really go to the server, asynchronously).
  Disabled: ``mlflow.tracing.disable()``. ``mlflow.flush_trace_async_logging()`` runs between
  repetitions, outside the timed loops, so that no repetition starts with a backlog.

Each side runs in processes of its own. Goals (issue 6): Rust ≤ 1 µs per span enabled,
≤ 20 ns disabled, and ≥ 20× less than Python's enabled overhead.

    .venv/bin/python bench/sdk_overhead.py                 # builds, runs, prints, writes JSON
    .venv/bin/python bench/sdk_overhead.py --no-build      # binaries already built
    .venv/bin/python bench/sdk_overhead.py --quick         # fewer repetitions

The result table is printed and written to ``bench/out/sdk_overhead.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ferrobench.servers import DEFAULT_FF_BIN as FERROFLOW_BIN
from ferrobench.servers import ROOT, ServerProc, ferroflow_spec, free_port, rm_tree

RUST_EXAMPLE = ROOT / "target" / "release" / "examples" / "span_overhead"

# Environment variables that would turn tracing on (or point it elsewhere) in a child process.
TRACING_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)

GOAL_RUST_ENABLED_NS = 1000.0
GOAL_RUST_DISABLED_NS = 20.0
GOAL_RATIO = 20.0


# --------------------------------------------------------------------------------------------
# Python worker (runs in a child process: `sdk_overhead.py --python-worker ...`).
# --------------------------------------------------------------------------------------------


def python_worker(args: argparse.Namespace) -> None:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"
    os.environ["MLFLOW_TRACKING_URI"] = args.url
    for key in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        # With MLFLOW_EXPERIMENT_ID set, mlflow asks the server for the experiment at the start
        # of every trace; an active experiment set once is what a program normally does.
        os.environ.pop(key, None)

    import mlflow

    mlflow.set_experiment("sdk-overhead-bench")
    exported = {"span_batches": 0, "traces": 0}
    if args.python_export == "discard":
        from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter

        def no_spans(self, *a, **k):
            exported["span_batches"] += 1

        def no_trace(self, *a, **k):
            exported["traces"] += 1

        MlflowV3SpanExporter._log_spans = no_spans
        MlflowV3SpanExporter._log_trace = no_trace

    @mlflow.trace(span_type="TOOL")
    def traced_add(a, b):
        return a + b

    @mlflow.trace(span_type="AGENT")
    def traced_parent(a):
        return traced_add(a, 1) + traced_add(a, 2)

    def plain_add(a, b):
        return a + b

    if args.mode == "disabled":
        mlflow.tracing.disable()

    def reps(fn, calls: int) -> list[float]:
        for i in range(args.warmup):
            fn(i)
        mlflow.flush_trace_async_logging()
        out = []
        for _ in range(args.reps):
            start = time.perf_counter_ns()
            for i in range(calls):
                fn(i)
            out.append((time.perf_counter_ns() - start) / calls)
            mlflow.flush_trace_async_logging()
        return sorted(out)

    baseline = reps(lambda i: plain_add(i, 1), args.calls)
    flat = reps(lambda i: traced_add(i, 1), args.calls)
    nested = reps(traced_parent, max(1, args.calls // 3))
    base = median(baseline)
    print(
        json.dumps(
            {
                "mode": args.mode,
                "calls_per_rep": args.calls,
                "reps": args.reps,
                "baseline_ns_per_call": base,
                "flat_ns_per_span": median(flat) - base,
                "flat_ns_per_span_min": flat[0] - baseline[0],
                "nested_ns_per_span": (median(nested) - base) / 3,
                "nested_ns_per_span_min": (nested[0] - baseline[0]) / 3,
                "export": args.python_export,
                "exporter_calls": exported,
                "mlflow_version": mlflow.__version__,
            }
        ),
        flush=True,
    )


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# --------------------------------------------------------------------------------------------
# Driver.
# --------------------------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TRACING_ENV}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    return env


def run_json(cmd: list[str], env: dict[str, str], timeout: float) -> dict:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no JSON:\n{proc.stdout[-2000:]}")
    return json.loads(lines[-1])


def build(args: argparse.Namespace) -> None:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise SystemExit("cargo not found; build the binaries yourself and pass --no-build")
    steps = [[cargo, "build", "--release", "-p", "ferroflow-sdk", "--example", "span_overhead"]]
    if args.ferroflow_bin is None:
        steps.append([cargo, "build", "--release", "-p", "ferroflow"])
    for cmd in steps:
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "-"
    if ns >= 10_000:
        return f"{ns / 1000:,.1f} µs"
    if ns >= 100:
        return f"{ns:,.0f} ns"
    return f"{ns:.1f} ns"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-build", action="store_true", help="do not run cargo")
    p.add_argument("--ferroflow-bin", type=Path, help="ferroflow binary for the Python side's server")
    p.add_argument("--rust-example", type=Path, default=RUST_EXAMPLE)
    p.add_argument("--python", default=sys.executable, help="interpreter with mlflow installed")
    p.add_argument("--python-export", choices=("discard", "server"), default="discard")
    p.add_argument("--rust-calls", type=int, default=20_000)
    p.add_argument("--rust-reps", type=int, default=30)
    p.add_argument("--py-calls", type=int, default=600, help="calls per repetition, enabled")
    p.add_argument("--py-disabled-calls", type=int, default=6_000)
    p.add_argument("--py-reps", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="fewer repetitions on both sides")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "sdk_overhead.json")
    # Internal: the Python measuring process.
    p.add_argument("--python-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=("enabled", "disabled"), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=100, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.python_worker:
        python_worker(args)
        return 0

    if args.quick:
        args.rust_reps, args.py_reps = 10, 3
    if not args.no_build:
        build(args)
    ferroflow_bin = (args.ferroflow_bin or FERROFLOW_BIN).resolve()
    args.rust_example = args.rust_example.resolve()
    for path in (args.rust_example, ferroflow_bin):
        if not path.exists():
            raise SystemExit(f"{path} not found (build it, or drop --no-build)")

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    if load > (os.cpu_count() or 1) * 0.5:
        print(f"warning: load average {load:.1f} on {os.cpu_count()} CPUs; figures will be noisy",
              file=sys.stderr)

    results: dict[str, dict] = {}
    env = clean_env()
    rust_args = ["--calls", str(args.rust_calls), "--reps", str(args.rust_reps)]
    print("rust: enabled ...", flush=True)
    results["rust_enabled"] = run_json([str(args.rust_example), *rust_args], env, 600)
    print("rust: disabled ...", flush=True)
    results["rust_disabled"] = run_json(
        [str(args.rust_example), "--disabled", *rust_args], env, 600
    )

    tmp = Path(tempfile.mkdtemp(prefix="sdk-overhead-"))
    spec, port = ferroflow_spec(ferroflow_bin), free_port()
    server = ServerProc(spec.name, spec.make_cmd(port, tmp), tmp / "ferroflow.log", tmp, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        server.start(port, spec.start_timeout_s)
        for mode, calls in (("enabled", args.py_calls), ("disabled", args.py_disabled_calls)):
            print(f"python: {mode} ...", flush=True)
            cmd = [
                args.python, str(Path(__file__).resolve()), "--python-worker",
                "--mode", mode, "--url", url,
                "--calls", str(calls), "--reps", str(args.py_reps),
                "--python-export", args.python_export,
            ]  # fmt: skip
            results[f"python_{mode}"] = run_json(cmd, env, 1800)
    finally:
        server.stop()
        rm_tree(tmp)

    rows = []
    checks = []
    for workload in ("flat", "nested"):
        key = f"{workload}_ns_per_span"
        r_on, r_off = results["rust_enabled"][key], results["rust_disabled"][key]
        p_on, p_off = results["python_enabled"][key], results["python_disabled"][key]
        ratio = p_on / r_on if r_on > 0 else float("inf")
        rows.append((workload, r_on, r_off, p_on, p_off, ratio))
        checks.append((f"rust {workload} enabled ≤ {GOAL_RUST_ENABLED_NS:.0f} ns", r_on <= GOAL_RUST_ENABLED_NS))
        checks.append((f"rust {workload} disabled ≤ {GOAL_RUST_DISABLED_NS:.0f} ns", r_off <= GOAL_RUST_DISABLED_NS))
        checks.append((f"python/rust {workload} enabled ≥ {GOAL_RATIO:.0f}x", ratio >= GOAL_RATIO))

    print()
    print(f"per-span overhead (median of repetitions; Python export: {args.python_export}; "
          f"mlflow {results['python_enabled'].get('mlflow_version')})")
    header = f"{'workload':<8} {'rust on':>10} {'rust off':>10} {'python on':>11} {'python off':>11} {'python/rust on':>15}"
    print(header)
    print("-" * len(header))
    for workload, r_on, r_off, p_on, p_off, ratio in rows:
        print(f"{workload:<8} {fmt_ns(r_on):>10} {fmt_ns(r_off):>10} {fmt_ns(p_on):>11} "
              f"{fmt_ns(p_off):>11} {ratio:>14,.0f}x")
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    lost = results["rust_enabled"].get("spans_lost", 0)
    if lost:
        print(f"note: the Rust exporter lost {lost} spans (queue too small?)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "load_avg_1m": load, "python": platform.python_version()},
        "results": results,
        "ratios": {w: ratio for w, *_, ratio in rows},
        "checks": {label: ok for label, ok in checks},
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
