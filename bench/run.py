#!/usr/bin/env python3
"""ferroflow vs. reference MLflow tracking server benchmark harness.

One invocation starts the reference ``mlflow server`` (from the project's
.venv) and ferroflow, each on a fresh temporary SQLite store and artifact
directory, runs the same workloads against each (one server at a time, so the
two never compete for the machine's cores), stops both servers, prints a
comparison table and writes it to ``bench/out/latest.md`` (plus
``bench/out/latest.json``).

Usage (from the repository root; the .venv must already exist):

    .venv/bin/python bench/run.py                 # full run, builds ferroflow first
    .venv/bin/python bench/run.py --quick         # shorter smoke run
    .venv/bin/python bench/run.py --skip-reference --only log_batch
    .venv/bin/python bench/run.py --list

Only the standard library and ``requests`` are used, plus ``mlflow`` for the
workloads that drive the real client, and the ``opentelemetry-proto`` classes
(an mlflow dependency) for OTLP bodies.

This file is the command line; the rest lives in the ``ferrobench`` package
beside it: ``servers`` (server processes and /proc probes), ``otlp`` (OTLP
request bodies), ``harness`` (figures, goals, the workload context and
registry, one server's run), ``workloads/`` (one module per area, each workload
declaring its goals), ``report`` (the comparison table); the scripts that run
the real client in a subprocess are ``bench/clients/*.py``.

Adding a workload: write ``def my_workload(ctx: Ctx) -> list[Figure]`` in the
module of its area under ``ferrobench/workloads/`` and decorate it with
``@workload("name", "description", goals=[...])``; it runs against every
server in turn and each returned Figure becomes a table row (matched across
servers by its ``key``).  See bench/README.md.
"""


from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from ferrobench.servers import (
    DEFAULT_FF_BIN, QUIET_ENV, ROOT, VENV_BIN, Deployment, S3Emulator, ServerSpec, ferroflow_spec, reference_spec,
    stop_all,
)
from ferrobench.harness import OUT_DIR, WORKLOADS, Config, Figure, all_goals, bench_server
from ferrobench.report import git_rev, mlflow_version, render
import ferrobench.workloads  # noqa: F401  (registers the workloads)

# Keep the Python client (the workloads that use it run in this process) from phoning home and
# from routing loopback traffic through a proxy.
os.environ.update(QUIET_ENV)


def build_ferroflow() -> Path:
    print("[build] cargo build --release -p ferroflow", flush=True)
    r = subprocess.run(["cargo", "build", "--release", "-p", "ferroflow"], cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"cargo build failed (exit {r.returncode}); use --ferroflow-bin or --skip-ferroflow")
    return DEFAULT_FF_BIN


def parse_args(argv: list[str] | None = None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="shorter run (smoke test of the harness)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only these workloads (repeatable or comma-separated); see --list")
    p.add_argument("--list", action="store_true", help="list workloads and exit")
    p.add_argument("--skip-reference", action="store_true", help="do not start the reference mlflow server")
    p.add_argument("--skip-ferroflow", action="store_true", help="do not build/start ferroflow")
    p.add_argument("--ferroflow-bin", type=Path,
                   help="use this ferroflow binary instead of running `cargo build --release -p ferroflow`")
    p.add_argument("--no-build", action="store_true", help=f"use {DEFAULT_FF_BIN.relative_to(ROOT)} as it is")
    p.add_argument("--threads", type=int, help="client threads for log_batch / populate (default 4)")
    p.add_argument("--duration", type=float, help="log_batch seconds (default 10, quick 3)")
    p.add_argument("--runs", type=int, help="runs in the search_runs experiment (default 1000)")
    p.add_argument("--traces", type=int,
                   help="traces for the large search_traces level and for assessments (default 10000, quick 1000)")
    p.add_argument("--otlp-seconds", type=float, help="otlp_ingest window per server (default 15, quick 5)")
    p.add_argument("--startup-samples", type=int,
                   help="cold starts per server for the start-up figure (median; default: reference 1, ferroflow 5)")
    p.add_argument("--settle", type=float, help="minimum seconds before each RSS sample; sampling then waits for RSS to stop changing (default 3, quick 1)")
    p.add_argument("--postgres", metavar="ADMIN_URL",
                   help="give each server a fresh database on this PostgreSQL server (e.g. the URL "
                        "`cargo xtask pg start` prints) instead of a SQLite file")
    p.add_argument("--s3", action="store_true",
                   help="give each server a fresh prefix of a bucket in an S3 emulator (moto, started here) "
                        "instead of an artifact directory")
    p.add_argument("--out", type=Path, default=OUT_DIR / "latest.md", help="markdown output path")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temporary stores")
    p.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failing workloads")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for w in WORKLOADS.values():
            print(f"{w.name:20s} {w.description}")
        return 0
    only = [n.strip() for o in args.only for n in o.split(",") if n.strip()]
    unknown = [n for n in only if n not in WORKLOADS]
    if unknown:
        sys.exit(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    selected = [w for w in WORKLOADS.values() if not only or w.name in only]

    q = args.quick
    cfg = Config(
        quick=q,
        threads=args.threads or 4,
        log_batch_seconds=args.duration or (3.0 if q else 10.0),
        log_batch_size=1000,
        search_runs=args.runs or 1000,
        search_reps=10 if q else 30,
        get_run_reps=100 if q else 300,
        client_calls=50 if q else 200,
        warmup=2 if q else 5,
        otlp_seconds=args.otlp_seconds or (5.0 if q else 15.0),
        otlp_max_spans=200_000 if q else 1_000_000,
        trace_levels=(100, args.traces or 1000) if q else (1000, args.traces or 10000),
        client_traces=50 if q else 200,
        registry_versions=50 if q else 200,
        registry_models=200 if q else 1000,
        eval_rows=20 if q else 100,
        assess_traces=args.traces or (1000 if q else 10000),
        assess_timed=50 if q else 200,
    )
    if args.settle is None:
        args.settle = 1.0 if q else 3.0

    deployment = Deployment(postgres_admin_url=args.postgres)
    if args.s3:
        import tempfile

        deployment.s3 = S3Emulator(Path(tempfile.mkdtemp(prefix="ffbench-s3-"))).start()
    specs: list[ServerSpec] = []
    ff_desc = "skipped"
    if not args.skip_reference:
        if not (VENV_BIN / "mlflow").exists():
            sys.exit(f"{VENV_BIN / 'mlflow'} not found: create the .venv first (see bench/README.md)")
        specs.append(reference_spec(deployment))
    if not args.skip_ferroflow:
        if args.ferroflow_bin:
            ff_bin = args.ferroflow_bin.resolve()
        elif args.no_build:
            ff_bin = DEFAULT_FF_BIN
        else:
            ff_bin = build_ferroflow()
        if not ff_bin.exists():
            sys.exit(f"ferroflow binary {ff_bin} not found (use --skip-ferroflow to bench the reference only)")
        specs.append(ferroflow_spec(ff_bin, deployment))
        ff_desc = f"`{ff_bin}`"
    if not specs:
        sys.exit("nothing to run: both servers skipped")

    # Turn SIGTERM/SIGHUP into KeyboardInterrupt so the finally-blocks stop the servers.
    def _sig(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sg in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sg, _sig)

    load_start = os.getloadavg()
    if load_start[0] > 0.5 * (os.cpu_count() or 1):
        print(f"WARNING: load average is {load_start[0]:.2f} before the run; other processes will distort "
              "the figures", flush=True)

    results: dict[str, list[Figure]] = {}
    checks: dict[str, list[str]] = {}
    try:
        for spec in specs:
            try:
                results[spec.name], checks[spec.name] = bench_server(spec, cfg, selected, args)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - e.g. server failed to start: still report the other
                print(f"[{spec.name}] FAILED: {e}", flush=True)
                results.setdefault(spec.name, [])
                checks[spec.name] = [f"server run failed: {e}"]
    except KeyboardInterrupt:
        print("\ninterrupted: stopping servers", flush=True)
        stop_all()
        return 130
    finally:
        stop_all()

    meta = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git_rev(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load": "load average (1 min) {:.2f} at start, {:.2f} at end".format(load_start[0], os.getloadavg()[0]),
        "mlflow": mlflow_version(),
        "ferroflow": ff_desc,
        "mode": "quick" if q else "full",
        "deployment": deployment.describe(),
        "workloads": [w.name for w in selected],
        "config": asdict(cfg),
    }
    md = render(results, checks, meta, all_goals())
    print()
    print(md)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "results": {k: [asdict(f) for f in v] for k, v in results.items()}, "checks": checks},
        indent=2, default=str))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
