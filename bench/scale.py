"""Scale bench (issue 16): how ingest and the read path grow from an empty store to 1M traces.

    cargo build --release -p ferroflow -p ferroload
    .venv/bin/python bench/scale.py [--binary target/release/ferroflow] [--sizes 10000,100000,1000000]
                                   [--spans-per-trace 10] [--connections 4] [--repeat 30]
                                   [--workdir DIR] [--keep]

Starts one ferroflow server (release build) on an empty SQLite store and grows one experiment
to each size in `--sizes` (traces) with `ferroload` (OTLP protobuf, 500-span requests of
10-span traces, every fourth trace tagged `env=prod`; several connections). After each stage it
prints, for that store size:
- the stage's ingest rate (spans/s over acknowledged requests) and the server's CPU per span,
  and the peak server RSS sampled every 50 ms during the stage;
- the `trace.text` index lag when ingest stopped (spans not yet indexed) and how long the
  indexer took to catch up;
- first-page `traces/search` (100 traces) p50 and min over `--repeat` calls, one filter kind at a
  time (none, tag, status, time range, span name, text, slowest first), and `traces/get` of
  one 10-span trace;
- bytes on disk per span (database + WAL, after a checkpoint) against the span's own JSON
  size as `traces/get` returns it.

Calls go one at a time over one keep-alive connection, so p50 is the client-observed request
time (the loopback round trip and HTTP parsing included). Not run in CI: 1M traces is 10M
spans (several GiB on disk and a few minutes of ingest).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ferrobench.servers import DEFAULT_FF_BIN, ServerProc, ferroflow_spec, free_port, rm_tree, status_kib  # noqa: E402

LOAD_BIN = DEFAULT_FF_BIN.parent / "ferroload"


def call(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None) -> tuple[float, bytes]:
    """One request; returns (milliseconds, body). Raises on a non-200 answer."""
    data = json.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    start = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 200:
        raise RuntimeError(f"{method} {path} answered {response.status}: {payload[:300]!r}")
    return elapsed, payload


class RssSampler(threading.Thread):
    """Samples a process's VmRSS and RssAnon every 50 ms until stopped; keeps the peaks (KiB).
    RssAnon leaves out the store's memory-mapped pages, which the kernel can drop at will."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.peak_anon_kib, self._done = pid, 0, 0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kib = max(self.peak_kib, status_kib(self.pid, "VmRSS"))
            self.peak_anon_kib = max(self.peak_anon_kib, status_kib(self.pid, "RssAnon"))
            self._done.wait(0.05)

    def stop(self) -> tuple[int, int]:
        self._done.set()
        self.join()
        return self.peak_kib, self.peak_anon_kib


def index_lag(db: Path) -> int:
    """Spans the `trace.text` indexer has not reached yet (read-only, beside the server)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        (lag,) = conn.execute(
            "SELECT coalesce((SELECT max(span_key) FROM spans), 0) - "
            "coalesce((SELECT indexed_key FROM span_text_progress WHERE id = 0), 0)"
        ).fetchone()
    return int(lag)


def ingest(port: int, experiment: str, spans: int, connections: int, per_trace: int, pid: int) -> dict:
    cmd = [str(LOAD_BIN), "--addr", f"127.0.0.1:{port}", "--experiment-id", experiment,
           "--connections", str(connections), "--spans-per-trace", str(per_trace),
           "--max-spans", str(spans), "--seconds", "100000", "--server-pid", str(pid), "--tagged", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def timings(conn: http.client.HTTPConnection, repeat: int, method: str, path: str, body: dict | None) -> list[float]:
    call(conn, method, path, body)  # warm: first call pays for cold pages
    return [call(conn, method, path, body)[0] for _ in range(repeat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, default=DEFAULT_FF_BIN)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="store sizes in traces, ascending")
    parser.add_argument("--spans-per-trace", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="leave the store in the workdir")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not LOAD_BIN.exists():
        sys.exit(f"{LOAD_BIN} is missing: cargo build --release -p ferroload")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ff-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "ff.db"
    port = free_port()
    spec = ferroflow_spec(args.binary)
    server = ServerProc("ferroflow", spec.make_cmd(port, workdir), workdir / "server.log", workdir)
    server.start(port, spec.start_timeout_s)
    rows: list[tuple[str, ...]] = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        _, body = call(conn, "POST", "/api/2.0/mlflow/experiments/create", {"name": "scale-bench"})
        experiment = json.loads(body)["experiment_id"]
        traces_now = 0
        for size in sizes:
            sampler = RssSampler(server.pid)
            sampler.start()
            load = ingest(port, experiment, (size - traces_now) * args.spans_per_trace, args.connections,
                          args.spans_per_trace, server.pid)
            peak_kib, peak_anon_kib = sampler.stop()
            peak_mib, peak_anon_mib = peak_kib / 1024, peak_anon_kib / 1024
            traces_now = size
            # The keep-alive connection idled through the ingest: the server may have closed it.
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port)
            if load["errors"]:
                raise RuntimeError(f"ingest had {load['errors']} failed requests")
            lag_spans = index_lag(db)
            caught_up = time.perf_counter()
            while index_lag(db) > 0:
                time.sleep(0.1)
            catch_up_s = time.perf_counter() - caught_up

            search = "/api/3.0/mlflow/traces/search"
            _, first = call(conn, "POST", search, {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment":
                                                                  {"experiment_id": experiment}}], "max_results": 1})
            newest = json.loads(first)["traces"][0]
            queries = {
                "no filter": ("", None),
                "tags.env = 'prod'": ("tags.env = 'prod'", None),
                "trace.status = 'OK'": ("trace.status = 'OK'", None),
                "last minute": (None, None),
                "span.name = 'agent'": ("span.name = 'agent'", None),
                "trace.text LIKE '%mlflow%'": ("trace.text LIKE '%mlflow%'", None),
                "slowest first": ("", ["execution_time_ms DESC"]),
            }
            results: dict[str, tuple[float, float, int]] = {}
            now_ms = int(time.time() * 1000)
            for label, (flt, order) in queries.items():
                if flt is None:
                    flt = f"trace.timestamp_ms > {now_ms - 60_000}"
                body_ = {"locations": [{"type": "MLFLOW_EXPERIMENT",
                                        "mlflow_experiment": {"experiment_id": experiment}}],
                         "filter": flt, "max_results": 100}
                if order:
                    body_["order_by"] = order
                samples = timings(conn, args.repeat, "POST", search, body_)
                _, page = call(conn, "POST", search, body_)
                results[label] = (statistics.median(samples), min(samples), len(json.loads(page).get("traces", [])))
            trace_id = newest["trace_id"]
            samples = timings(conn, args.repeat, "GET", f"/api/3.0/mlflow/traces/get?trace_id={trace_id}", None)
            _, trace_body = call(conn, "GET", f"/api/3.0/mlflow/traces/get?trace_id={trace_id}", None)
            spans = json.loads(trace_body)["trace"]["spans"]
            json_per_span = sum(len(json.dumps(s, separators=(",", ":"))) for s in spans) / max(len(spans), 1)
            results[f"traces/get ({len(spans)} spans)"] = (statistics.median(samples), min(samples), len(spans))

            with sqlite3.connect(str(db), timeout=60) as c:
                c.execute("PRAGMA wal_checkpoint(PASSIVE)")
            disk = sum(p.stat().st_size for p in workdir.glob("ff.db*"))
            total_spans = size * args.spans_per_trace
            print(f"\n== {size:,} traces ({total_spans:,} spans) ==")
            print(f"ingest of this stage: {load['spans_per_s']:,} spans/s, server CPU "
                  f"{load['server_cpu_us_per_span']} µs/span, request p50 {load['p50_ms']} ms; "
                  f"peak server RSS {peak_mib:.0f} MiB (anonymous {peak_anon_mib:.0f} MiB)")
            print(f"text index: {lag_spans:,} span keys behind when ingest stopped, caught up in {catch_up_s:.1f} s")
            print(f"disk: {disk / 2**20:,.0f} MiB = {disk / total_spans:,.0f} B/span; span JSON "
                  f"{json_per_span:,.0f} B/span ({disk / total_spans / json_per_span:.2f}x)")
            for label, (p50, best, count) in results.items():
                print(f"  {label:<34} p50 {p50:7.2f} ms  min {best:7.2f} ms  ({count} rows)")
            rows.append((f"{size:,}", f"{load['spans_per_s']:,}", str(load["server_cpu_us_per_span"]),
                         f"{peak_mib:.0f} ({peak_anon_mib:.0f})", f"{lag_spans:,} / {catch_up_s:.1f} s",
                         f"{disk / total_spans:,.0f} ({disk / total_spans / json_per_span:.2f}x)",
                         *(f"{p50:.2f}" for p50, _, _ in results.values())))
        print("\n| traces | spans/s | CPU µs/span | peak RSS (anon) MiB | index lag / catch-up | disk B/span (×JSON) | "
              + " | ".join(results) + " |")
        print("|" + "---|" * (6 + len(results)))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    finally:
        server.stop()
        if not args.keep and args.workdir is None:
            rm_tree(workdir)


if __name__ == "__main__":
    main()
