"""Web UI bench: time per page at 10k traces, and time to first render of a 100k-span trace in
Chromium.

    .venv/bin/python bench/ui_pages.py [--binary target/release/ferroflow] [--traces 10000]
                                      [--spans 100000] [--requests 50]

Starts its own ferroflow server on a temporary database, fills one experiment with `--traces`
agent traces over OTLP (5 spans each: previews, tags, a user, sessions of 4 turns), then asks
each page `--requests` times, one request at a time on one keep-alive connection, and prints the
median and p95 of the full request time measured by the client (the server's own time is less:
this includes the loopback round trip and HTTP parsing). Last, a trace of `--spans` spans is
opened in headless Chromium (/usr/bin/chromium through playwright) and the time from navigation
to the first span row on screen is printed. Release build recommended:
`cargo build --release -p ferroflow`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ferrobench.servers import DEFAULT_FF_BIN, ServerProc, ferroflow_spec, free_port, rm_tree  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def post_spans(conn: http.client.HTTPConnection, experiment: str, spans: list[dict]) -> None:
    body = json.dumps({"resourceSpans": [{"resource": {"attributes": [kv("service.name", "bench")]},
                                          "scopeSpans": [{"spans": spans}]}]})
    conn.request("POST", "/v1/traces", body=body,
                 headers={"Content-Type": "application/json", "x-mlflow-experiment-id": experiment})
    response = conn.getresponse()
    text = response.read()
    if response.status != 200:
        raise RuntimeError(f"OTLP ingest answered {response.status}: {text[:300]!r}")


def agent_trace(i: int, start_ns: int) -> tuple[str, list[dict]]:
    trace = uuid.uuid4().hex
    root = "%016x" % (i * 8 + 1)
    spans = [{
        "traceId": trace, "spanId": root, "name": "agent",
        "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + (50 + i % 400) * 1_000_000),
        "attributes": [
            kv("mlflow.spanType", json.dumps("AGENT")),
            kv("mlflow.spanInputs", json.dumps({"question": f"question number {i} about topic {i % 97}"})),
            kv("mlflow.spanOutputs", json.dumps(f"answer number {i}")),
            kv("mlflow.traceTag.env", "prod" if i % 3 else "dev"),
            kv("session.id", f"session-{i // 4}"),
            kv("user.id", f"user-{i % 50}"),
        ],
        "status": {"code": 1},
    }]
    for k in range(4):
        spans.append({
            "traceId": trace, "spanId": "%016x" % (i * 8 + 2 + k), "parentSpanId": root, "name": f"step {k}",
            "startTimeUnixNano": str(start_ns + k * 1_000_000), "endTimeUnixNano": str(start_ns + (k + 1) * 1_000_000),
            "attributes": [kv("mlflow.spanType", json.dumps("LLM" if k == 1 else "TOOL")),
                           kv("mlflow.spanInputs", json.dumps({"k": k, "text": "x" * 200}))],
        })
    return f"tr-{trace}", spans


def timed_get(conn: http.client.HTTPConnection, path: str, n: int) -> tuple[float, float, int]:
    times = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - t0) * 1000)
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
        size = len(body)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, default=DEFAULT_FF_BIN)
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ferroflow-ui-bench-"))
    port = free_port()
    spec = ferroflow_spec(args.binary)
    server = ServerProc("ferroflow", spec.make_cmd(port, tmp), tmp / "server.log", tmp)
    server.start(port, spec.start_timeout_s)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/api/2.0/mlflow/experiments/create", body=json.dumps({"name": "ui-bench"}),
                     headers={"Content-Type": "application/json"})
        experiment = json.loads(conn.getresponse().read())["experiment_id"]
        t0 = time.perf_counter()
        now = time.time_ns() - args.traces * 10_000_000
        batch: list[dict] = []
        some_trace = ""
        for i in range(args.traces):
            trace_id, spans = agent_trace(i, now + i * 10_000_000)
            some_trace = some_trace or trace_id
            batch.extend(spans)
            if len(batch) >= 5000:
                post_spans(conn, experiment, batch)
                batch = []
        if batch:
            post_spans(conn, experiment, batch)
        print(f"filled {args.traces} traces in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        base = f"/experiments/{experiment}"
        pages = [
            ("experiments", "/experiments"),
            ("traces table", f"{base}/traces"),
            ("traces, slowest first", f"{base}/traces?order=latency"),
            ("traces, filtered by tag", f"{base}/traces?filter=tags.env+%3D+%27dev%27"),
            ("traces, page 100", f"{base}/traces?page=" + quote(base64.b64encode(b'{"offset": 5000}').decode())),
            ("trace view", f"{base}/traces/{some_trace}"),
            ("span details", f"{base}/traces/{some_trace}/spans/{'%016x' % 2}"),
            ("sessions", f"{base}/sessions"),
            ("one session", f"{base}/sessions/session-7"),
        ]
        rows = []
        for name, path in pages:
            median, p95, size = timed_get(conn, path, args.requests)
            rows.append((name, median, p95, size))

        # The big trace, in batches.
        trace = uuid.uuid4().hex
        start = time.time_ns()
        spans = []
        for i in range(args.spans):
            span = {"traceId": trace, "spanId": "%016x" % (i + 1), "name": f"step {i}",
                    "startTimeUnixNano": str(start + i * 1000),
                    "endTimeUnixNano": str(start + (args.spans * 1000 + 1000 if i == 0 else i * 1000 + 500)),
                    "attributes": [kv("mlflow.spanInputs", json.dumps({"i": i}))]}
            if i:
                span["parentSpanId"] = "%016x" % 1 if i % 10 == 1 else "%016x" % i
            spans.append(span)
            if len(spans) == 20_000:
                post_spans(conn, experiment, spans)
                spans = []
        if spans:
            post_spans(conn, experiment, spans)
        big_path = f"{base}/traces/tr-{trace}"
        big_median, big_p95, big_size = timed_get(conn, big_path, 5)

        from playwright.sync_api import sync_playwright

        profile = tempfile.mkdtemp(prefix="ferroflow-ui-bench-profile-")
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium",
                                                           headless=True, args=CHROMIUM_ARGS)
            page = context.new_page()
            renders = []
            for _ in range(3):
                t0 = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}{big_path}")
                page.locator("#span-tree .span-row").first.wait_for()
                renders.append(time.perf_counter() - t0)
            context.close()
        rm_tree(Path(profile))

        print(f"\n### UI pages at {args.traces} traces ({args.requests} requests each, one connection)\n")
        print("| page | median ms | p95 ms | HTML bytes |")
        print("|---|---:|---:|---:|")
        for name, median, p95, size in rows:
            print(f"| {name} | {median:.2f} | {p95:.2f} | {size} |")
        print(f"| trace view, {args.spans} spans | {big_median:.1f} | {big_p95:.1f} | {big_size} |")
        print(f"\n{args.spans}-span trace, navigation to first row in Chromium: "
              f"median {statistics.median(renders):.2f} s (runs: {', '.join(f'{r:.2f}' for r in renders)})")
    finally:
        server.stop()
        rm_tree(tmp)


if __name__ == "__main__":
    main()
