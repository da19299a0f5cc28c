"""Server time of the read path, for profiles: get_trace (a 100-span trace made by the real client,
a 100-span and a 10,000-span trace made by OTLP), search_traces (1,000 traces, no filter and a tag
filter) and search_runs (200 runs with params, metrics and tags), each timed over one keep-alive
``http.client`` connection (no ``requests``), p50 of ``--reps`` calls.

With ``--callgrind`` the server runs under ``valgrind --tool=callgrind`` with collection off; each
query's timed calls are collected on their own (``callgrind_control -i on``, then a dump named
after the query), so the instruction count per call of each query is exact and repeatable on a
noisy machine (the wall-clock figures are then those of valgrind, ~50x slower).

    .venv/bin/python bench/read_probe.py --ferroflow-bin target/release/ferroflow
    .venv/bin/python bench/read_probe.py --ferroflow-bin BIN --callgrind bench/out/callgrind --reps 20
    .venv/bin/python bench/read_probe.py --ferroflow-bin BIN --curl      # timed by curl instead
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ferrobench.otlp import OTLP_HEADERS, OtlpTemplate, SpanSpec, encode_otlp  # noqa: E402
from ferrobench.servers import ServerProc, free_port, rm_tree  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
API2, API3 = "/api/2.0/mlflow", "/api/3.0/mlflow"

CLIENT_TRACE = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment(experiment_id=sys.argv[2])

@mlflow.trace(span_type="TOOL")
def tool(i):
    return {"result": f"value {i}", "docs": [{"id": i, "text": "some retrieved text " * 4}]}

@mlflow.trace(span_type="AGENT")
def agent(question):
    return {"answer": [tool(i)["result"] for i in range(99)]}

agent("what is mlflow?")
print(mlflow.get_last_active_trace_id())
"""


class Conn:
    """One keep-alive connection; call() returns the whole body (not parsed) and its time."""

    def __init__(self, port: int):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: dict | bytes | None = None, headers: dict | None = None) -> tuple[bytes, float]:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        hdrs = headers or ({"Content-Type": "application/json"} if data is not None else {})
        t0 = time.perf_counter()
        self.c.request(method, path, body=data, headers=hdrs)
        r = self.c.getresponse()
        out = r.read()
        took = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError(f"{method} {path} -> {r.status}: {out[:300]!r}")
        return out, took


def populate(conn: Conn, port: int) -> dict[str, tuple[str, str, dict | None, int]]:
    """Creates the data; returns the queries: name -> (method, path, body, expected count)."""
    def experiment(name: str) -> str:
        out, _ = conn.call("POST", f"{API2}/experiments/create", {"name": f"{name}-{os.getpid()}"})
        return json.loads(out)["experiment_id"]

    queries: dict[str, tuple[str, str, dict | None, int]] = {}
    # 100 spans by the real client (synchronous export).
    exp = experiment("client-trace")
    env = {**os.environ, "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"}
    tid = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", CLIENT_TRACE, f"http://127.0.0.1:{port}", exp],
                         env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    queries["get_trace client 100 spans"] = ("GET", f"{API3}/traces/get?trace_id={tid}", None, 100)

    def otlp(exp: str, body: bytes) -> None:
        conn.call("POST", "/v1/traces", body, {**OTLP_HEADERS, "x-mlflow-experiment-id": exp})

    exp = experiment("otlp-traces")
    tpl = OtlpTemplate(1, 100)
    body, tm = tpl.instantiate()
    otlp(exp, body)
    queries["get_trace otlp 100 spans"] = ("GET", f"{API3}/traces/get?trace_id={tpl.trace_ids(tm)[0]}", None, 100)
    tmark, root = os.urandom(12), os.urandom(8)
    base = time.time_ns()
    big = OtlpTemplate(1, 5000, trace_marker=tmark, root_id=root, base_ns=base)
    last = OtlpTemplate(1, 4999, trace_marker=tmark, root_id=root, extra_root=True, base_ns=base)
    for tpl in (big, last):
        body, _ = tpl.instantiate(new_trace_ids=False)
        otlp(exp, body)
    queries["get_trace otlp 10k spans"] = ("GET", f"{API3}/traces/get?trace_id={big.trace_ids(tmark)[0]}", None, 10000)

    # 1,000 1-span traces, every 4th tagged env=prod.
    exp = experiment("search-traces")
    base = time.time_ns() - 10**12
    for lo in range(0, 1000, 500):
        spans = []
        for i in range(lo, lo + 500):
            st = base + i * 1_000_000
            spans.append(SpanSpec(os.urandom(16), os.urandom(8), None, "agent", st, st + 500_000, "AGENT",
                                  {"question": f"question {i}"}, f"answer {i}",
                                  {"env": "prod" if i % 4 == 0 else "dev", "idx": str(i)}))
        otlp(exp, encode_otlp(spans))
    loc = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]
    queries["search_traces 1k no filter"] = ("POST", f"{API3}/traces/search", {"locations": loc, "max_results": 100}, 100)
    queries["search_traces 1k tag filter"] = ("POST", f"{API3}/traces/search",
                                               {"locations": loc, "max_results": 100, "filter": "tags.env = 'prod'"}, 100)

    # 200 runs with 5 params, 5 metrics, 5 tags each.
    exp = experiment("search-runs")
    for i in range(200):
        out, _ = conn.call("POST", f"{API2}/runs/create", {"experiment_id": exp, "start_time": 1_700_000_000_000 + i})
        run_id = json.loads(out)["run"]["info"]["run_id"]
        conn.call("POST", f"{API2}/runs/log-batch", {
            "run_id": run_id,
            "params": [{"key": f"p{k}", "value": f"v{(i + k) % 7}"} for k in range(5)],
            "metrics": [{"key": f"m{k}", "value": ((i * 31 + k) % 100) / 100, "timestamp": 1_700_000_000_000, "step": 0}
                        for k in range(5)],
            "tags": [{"key": f"t{k}", "value": f"tag {i}"} for k in range(5)],
        })
    queries["search_runs 200 runs"] = ("POST", f"{API2}/runs/search", {"experiment_ids": [exp], "max_results": 1000}, 200)
    queries["search_runs 200 runs page 100"] = ("POST", f"{API2}/runs/search", {"experiment_ids": [exp], "max_results": 100}, 100)
    return queries


def count(name: str, out: bytes) -> int:
    doc = json.loads(out)
    if name.startswith("get_trace"):
        return len(doc["trace"]["spans"])
    return len(doc.get("traces", doc.get("runs", [])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ferroflow-bin", default=str(ROOT / "target/release/ferroflow"))
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--callgrind", metavar="DIR", help="run the server under callgrind; profiles go to DIR")
    ap.add_argument("--only", help="comma-separated substrings of the query names to time")
    ap.add_argument("--curl", action="store_true",
                    help="time the calls with curl (one process, one keep-alive connection, its time_total "
                         "per call): a client that reads a large body faster than http.client")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ff-read-probe-"))
    port = free_port()
    cmd = [args.ferroflow_bin, "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{tmp}/ff.db", "--artifacts-destination", str(tmp / "art")]
    out_dir = None
    if args.callgrind:
        out_dir = Path(args.callgrind).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={out_dir}/callgrind.out.%p", *cmd]
    server = ServerProc("ferroflow", cmd, tmp / "server.log", ROOT)
    try:
        server.start(port, timeout_s=300)
        conn = Conn(port)
        queries = populate(conn, port)
        print(f"{'query':34} {'p50 ms':>9} {'min ms':>9} {'Ir/call':>14} {'body KiB':>9}")
        for name, (method, path, body, expected) in queries.items():
            if args.only and not any(part in name for part in args.only.split(",")):
                continue
            for _ in range(3):
                out, _ = conn.call(method, path, body)
            got = count(name, out)
            if got != expected:
                raise RuntimeError(f"{name}: {got} items, expected {expected}")
            if out_dir:
                subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True)
            if args.curl:
                times = sorted(curl_times(port, method, path, body, args.reps))
            else:
                times = sorted(conn.call(method, path, body)[1] for _ in range(args.reps))
            ir = ""
            if out_dir:
                label = name.replace(" ", "_")
                subprocess.run(["callgrind_control", "-d", label, str(server.pid)], check=True, capture_output=True)
                subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], check=True, capture_output=True)
                ir = f"{dumped_ir(out_dir, server.pid, label) / args.reps:,.0f}"
            print(f"{name:34} {times[len(times) // 2] * 1000:9.3f} {times[0] * 1000:9.3f} {ir:>14} {len(out) / 1024:9.1f}",
                  flush=True)
    finally:
        server.stop()
        rm_tree(tmp)


def curl_times(port: int, method: str, path: str, body: dict | None, reps: int) -> list[float]:
    """Each call's time_total from one curl process that makes `reps` calls on one connection."""
    cmd = ["curl", "-s", "-X", method, "-w", "%{http_code} %{time_total}\n"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    for _ in range(reps):
        cmd += ["-o", "/dev/null", f"http://127.0.0.1:{port}{path}"]
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    codes, times = lines[0::2], [float(t) for t in lines[1::2]]
    if len(times) != reps or any(code != "200" for code in codes):
        raise RuntimeError(f"{method} {path}: curl answered {codes[:5]}...")
    return times


def dumped_ir(out_dir: Path, pid: int, label: str) -> int:
    """Instructions in the dump of `pid` named `label` (its `totals:` line; callgrind's `summary:`
    is wrong once instrumentation has been toggled)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        for path in out_dir.glob(f"callgrind.out.{pid}.*"):
            text = path.read_text(errors="replace")
            if f"Trigger: dump {label}\n" not in text:
                continue
            for line in reversed(text.splitlines()):
                if line.startswith("totals:"):
                    return int(line.split()[1])
        time.sleep(0.2)
    raise RuntimeError(f"no callgrind dump named {label} in {out_dir}")


if __name__ == "__main__":
    main()
