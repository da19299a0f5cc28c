"""Times `traces/metrics` queries with percentiles on a large SQLite store (not run in CI).

The store is filled directly, not through the API: the server is started once on an empty
database (so its migrations make the schema) and asked for an experiment, then stopped; this
script writes N traces over 30 days into that database with Python's sqlite3 (each with a
root, an LLM span carrying model, provider and costs, and a tool span; a feedback assessment
on every other trace), in the columns the server's ingest fills, with the triggers of the
schema doing the rest. The `trace.text` indexer's mark is set past the written spans, so no
background indexing runs while queries are timed. Then the server is started again and each
query is sent `--repeat` times through the REST API; the table gives the median and the best.

    .venv/bin/python bench/trace_metrics_scale.py --traces 1000000 \\
        --binary target/debug/ferroflow --workdir /tmp/tm-bench

`--keep` leaves the filled database in the workdir, and a second run with `--reuse` times
queries on it without filling again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

import requests

DAY_MS = 86_400_000
NAMES = ["chat", "search", "plan", "summarize", "classify", "extract", "translate", "answer"]
MODELS = [("acme-large", "acme"), ("acme-small", "acme"), ("orbit-1", "orbit"), ("orbit-2", "orbit")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(binary: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    log = open(workdir / "server.log", "ab")
    proc = subprocess.Popen(
        [binary, "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{workdir / 'bench.db'}",
         "--artifacts-destination", str(workdir / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not come up; see server.log")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _fill(db: Path, experiment_id: int, traces: int, end_ms: int) -> None:
    rng = random.Random(17)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    start_ms = end_ms - 30 * DAY_MS
    step = 30 * DAY_MS / traces
    first_key = (conn.execute("SELECT coalesce(max(trace_key), 0) FROM traces").fetchone()[0]) + 1
    batch = 20_000
    t0 = time.monotonic()
    for offset in range(0, traces, batch):
        trace_rows, span_rows, assessment_rows = [], [], []
        for i in range(offset, min(offset + batch, traces)):
            key = first_key + i
            trace_id = f"tr-{key:032x}"
            request_ms = int(start_ms + i * step)
            duration = int(rng.lognormvariate(6.0, 0.8))
            errored = rng.random() < 0.05
            name = NAMES[i % len(NAMES)]
            tin, tout = rng.randint(50, 4000), rng.randint(10, 800)
            trace_rows.append((
                key, trace_id, experiment_id, request_ms, duration, "ERROR" if errored else "OK",
                name, tin, tout, tin + tout,
            ))  # fmt: skip
            start_ns = request_ms * 1_000_000
            model, provider = MODELS[i % len(MODELS)]
            llm_ms = max(1, int(duration * 0.7))
            cost_in, cost_out = tin * 2e-6, tout * 8e-6
            attributes = {
                "mlflow.spanType": "CHAT_MODEL",
                "mlflow.llm.model": model,
                "mlflow.llm.provider": provider,
                "mlflow.chat.tokenUsage": {"input_tokens": tin, "output_tokens": tout, "total_tokens": tin + tout},
                "mlflow.llm.cost": {"input_cost": cost_in, "output_cost": cost_out, "total_cost": cost_in + cost_out},
            }
            span_rows.append((key, f"{key:08x}00000001", None, name, "AGENT", "ERROR" if errored else "OK",
                              start_ns, start_ns + duration * 1_000_000, '{"mlflow.spanType": "AGENT"}',
                              None, None, None, None, None))  # fmt: skip
            span_rows.append((key, f"{key:08x}00000002", f"{key:08x}00000001", "llm", "CHAT_MODEL",
                              "ERROR" if errored else "OK", start_ns + 1_000_000,
                              start_ns + (1 + llm_ms) * 1_000_000, json.dumps(attributes),
                              model, provider, cost_in, cost_out, cost_in + cost_out))  # fmt: skip
            span_rows.append((key, f"{key:08x}00000003", f"{key:08x}00000001", "retrieve", "RETRIEVER", "OK",
                              start_ns + 2_000_000, start_ns + (2 + duration // 5) * 1_000_000,
                              '{"mlflow.spanType": "RETRIEVER"}', None, None, None, None, None))  # fmt: skip
            if i % 2 == 0:
                value = rng.choice([True, False, "yes", "no", rng.random()])
                assessment_id = f"a-{key:032x}"
                body = {
                    "assessment_id": assessment_id, "assessment_name": "quality", "trace_id": trace_id,
                    "source": {"source_type": "LLM_JUDGE", "source_id": "judge"},
                    "feedback": {"value": value}, "valid": True,
                }  # fmt: skip
                value_text = value if isinstance(value, str) else json.dumps(value)
                assessment_rows.append((assessment_id, trace_id, "quality", "feedback", value_text,
                                        request_ms, request_ms, json.dumps(body)))  # fmt: skip
        conn.executemany(
            "INSERT INTO traces (trace_key, trace_id, experiment_id, request_time, execution_duration, state, "
            "finalized, root_seen, has_spans, trace_name, input_tokens, output_tokens, total_tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, 1, 1, 1, ?, ?, ?, ?)",
            trace_rows,
        )
        conn.executemany(
            "INSERT INTO spans (trace_key, span_id, parent_span_id, name, span_type, status, start_time_ns, "
            "end_time_ns, attributes, model_name, model_provider, input_cost, output_cost, total_cost) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            span_rows,
        )
        conn.executemany(
            "INSERT INTO assessments (assessment_id, trace_id, name, kind, value_text, create_time, "
            "last_update_time, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            assessment_rows,
        )
        conn.commit()
        done = min(offset + batch, traces)
        if done % 200_000 == 0 or done == traces:
            print(f"  {done:,} traces written ({time.monotonic() - t0:.0f} s)", flush=True)
    # Nothing for the text indexer to catch up on while queries are timed.
    conn.execute("UPDATE span_text_progress SET indexed_key = (SELECT max(span_key) FROM spans)")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()


def _agg(kind: str, p: float | None = None) -> dict:
    return {"aggregation_type": kind, **({"percentile_value": p} if p is not None else {})}


def _queries(end_ms: int) -> list[tuple[str, dict]]:
    month = {"start_time_ms": end_ms - 30 * DAY_MS, "end_time_ms": end_ms}
    pct = [_agg("AVG"), _agg("PERCENTILE", 50), _agg("PERCENTILE", 95), _agg("PERCENTILE", 99)]
    return [
        ("TRACES latency AVG+P50/P95/P99, 30 days", {"view_type": "TRACES", "metric_name": "latency", "aggregations": pct, **month}),
        ("TRACES latency P50/P95 per day, 30 days", {"view_type": "TRACES", "metric_name": "latency", "aggregations": pct[1:3], "time_interval_seconds": 86400, **month}),
        ("TRACES latency P95 by trace_name, 1 day", {"view_type": "TRACES", "metric_name": "latency", "aggregations": [_agg("PERCENTILE", 95)], "dimensions": ["trace_name"], "start_time_ms": end_ms - DAY_MS, "end_time_ms": end_ms}),
        ("TRACES trace_count per hour by status, 30 days", {"view_type": "TRACES", "metric_name": "trace_count", "aggregations": [_agg("COUNT")], "dimensions": ["trace_status"], "time_interval_seconds": 3600, **month}),
        ("TRACES total_tokens SUM+P90 per day, 30 days", {"view_type": "TRACES", "metric_name": "total_tokens", "aggregations": [_agg("SUM"), _agg("PERCENTILE", 90)], "time_interval_seconds": 86400, **month}),
        ("SPANS latency P50/P95 by span_name, 30 days", {"view_type": "SPANS", "metric_name": "latency", "aggregations": pct[1:3], "dimensions": ["span_name"], **month}),
        ("SPANS span_count by span_type, 30 days", {"view_type": "SPANS", "metric_name": "span_count", "aggregations": [_agg("COUNT")], "dimensions": ["span_type"], **month}),
        ("SPANS total_cost SUM+P90 per day by model, 30 days", {"view_type": "SPANS", "metric_name": "total_cost", "aggregations": [_agg("SUM"), _agg("PERCENTILE", 90)], "dimensions": ["span_model_name"], "time_interval_seconds": 86400, **month}),
        ("ASSESSMENTS value AVG+P50 by name, 30 days", {"view_type": "ASSESSMENTS", "metric_name": "assessment_value", "aggregations": [_agg("AVG"), _agg("PERCENTILE", 50)], "dimensions": ["assessment_name"], **month}),
        ("ASSESSMENTS count by value, 1 day", {"view_type": "ASSESSMENTS", "metric_name": "assessment_count", "aggregations": [_agg("COUNT")], "dimensions": ["assessment_value"], "start_time_ms": end_ms - DAY_MS, "end_time_ms": end_ms}),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--binary", default=os.environ.get("FERROFLOW_BIN", "target/debug/ferroflow"))
    parser.add_argument("--workdir", default="/tmp/ferroflow-trace-metrics-bench")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the filled database in the workdir")
    parser.add_argument("--reuse", action="store_true", help="time queries on the database a --keep run left")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    meta_path = workdir / "bench.json"
    if args.reuse:
        meta = json.loads(meta_path.read_text())
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        proc, url = _start(args.binary, workdir)
        r = requests.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "trace-metrics-bench"}, timeout=10)
        r.raise_for_status()
        _stop(proc)
        meta = {"experiment_id": r.json()["experiment_id"], "end_ms": (int(time.time() * 1000) // DAY_MS) * DAY_MS,
                "traces": args.traces}  # fmt: skip
        print(f"filling {args.traces:,} traces (3 spans each, a feedback on every other)")
        t0 = time.monotonic()
        _fill(workdir / "bench.db", int(meta["experiment_id"]), args.traces, meta["end_ms"])
        print(f"filled in {time.monotonic() - t0:.0f} s; database {(workdir / 'bench.db').stat().st_size / 2**20:,.0f} MiB")
        meta_path.write_text(json.dumps(meta))
    proc, url = _start(args.binary, workdir)
    try:
        print(f"\n{meta['traces']:,} traces, experiment {meta['experiment_id']}, {args.repeat} runs each\n")
        print("| query | points | median ms | best ms |")
        print("| --- | ---: | ---: | ---: |")
        for label, body in _queries(meta["end_ms"]):
            body = {"experiment_ids": [meta["experiment_id"]], "max_results": 10000, **body}
            times, points = [], 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                r = requests.post(f"{url}/api/3.0/mlflow/traces/metrics", json=body, timeout=600)
                times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                points = len(r.json().get("data_points", []))
            print(f"| {label} | {points} | {statistics.median(times):,.0f} | {min(times):,.0f} |", flush=True)
    finally:
        _stop(proc)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
