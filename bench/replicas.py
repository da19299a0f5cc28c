#!/usr/bin/env python3
"""Stateless replicas: OTLP ingest through one and through two `ferroflow server` processes on
one PostgreSQL database, on this machine.

For each replica count the bench makes a fresh database, starts the replicas at the same moment
(so their migrations race, as a rolling deployment's would), and runs one `ferroload` per replica
for a fixed time with the same total number of connections. It prints the acknowledged spans/s,
the CPU the replicas and PostgreSQL spent per span, and checks that the database holds every
acknowledged span. Usage (release builds of ferroflow and ferroload, a PostgreSQL server):

    cargo build --release -p ferroflow -p ferroload
    .venv/bin/python bench/replicas.py --postgres "$(cargo xtask pg start | tail -1)"

On a 2-core machine the replicas, PostgreSQL and the load generators share two cores, so a
second replica cannot add throughput here; the CPU per span shows what one more core per replica
would buy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ferrobench.servers import (  # noqa: E402
    DEFAULT_FF_BIN, Deployment, ServerProc, ferroflow_spec, free_port, rm_tree, tree_cpu_s,
)

LOAD_BIN = DEFAULT_FF_BIN.parent / "ferroload"


def postmaster_pid(admin_url: str) -> int:
    import psycopg2

    with psycopg2.connect(admin_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('data_directory')")
        data_directory = cursor.fetchone()[0]
    return int(Path(data_directory, "postmaster.pid").read_text().split()[0])


def stored_spans(uri: str) -> int:
    import psycopg2

    with psycopg2.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM spans")
        return cursor.fetchone()[0]


def run(n: int, args, deployment: Deployment, postgres_pid: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"ff-replicas-{n}-"))
    uri = deployment.backend_store_uri("replicas", tmp)
    artifacts = deployment.artifacts_destination("art", tmp)
    servers = []
    try:
        spec = ferroflow_spec(args.binary)
        procs = []
        for i in range(n):
            port = free_port()
            cmd = [*spec.make_cmd(port, tmp)[:2], "--host", "127.0.0.1", "--port", str(port),
                   "--backend-store-uri", uri, "--artifacts-destination", artifacts]
            procs.append((ServerProc(f"replica{i}", cmd, tmp / f"replica{i}.log", tmp), port))
        servers = procs
        # Started together: their migrations run at the same moment.
        with ThreadPoolExecutor(len(procs)) as pool:
            started = list(pool.map(lambda p: p[0].start(p[1], 60.0), procs))
        conn = http.client.HTTPConnection("127.0.0.1", procs[0][1])
        conn.request("POST", "/api/2.0/mlflow/experiments/create", body=json.dumps({"name": f"replicas-{n}"}),
                     headers={"Content-Type": "application/json"})
        experiment = json.loads(conn.getresponse().read())["experiment_id"]
        conn.close()
        per = max(1, args.connections // n)
        cpu0 = [tree_cpu_s(p.pid) for p, _ in procs]
        pg0 = tree_cpu_s(postgres_pid)
        loads = [subprocess.Popen([str(LOAD_BIN), "--addr", f"127.0.0.1:{port}", "--experiment-id", experiment,
                                   "--connections", str(per), "--seconds", str(args.seconds), "--json"],
                                  stdout=subprocess.PIPE, text=True) for _, port in procs]
        results = [json.loads(load.communicate()[0].strip().splitlines()[-1]) for load in loads]
        server_cpu = sum(tree_cpu_s(p.pid) - c for (p, _), c in zip(procs, cpu0))
        pg_cpu = tree_cpu_s(postgres_pid) - pg0
        spans = sum(r["spans"] for r in results)
        seconds = max(r["seconds"] for r in results)
        errors = sum(r["errors"] for r in results)
        stored = stored_spans(uri)
        return {
            "replicas": n, "start_s": max(started), "spans": spans, "errors": errors,
            "spans_per_s": spans / seconds, "server_us_per_span": server_cpu * 1e6 / max(spans, 1),
            "postgres_us_per_span": pg_cpu * 1e6 / max(spans, 1), "stored": stored,
            "p50_ms": max(r["p50_ms"] for r in results),
        }
    finally:
        for proc, _ in servers:
            proc.stop()
        rm_tree(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, default=DEFAULT_FF_BIN)
    parser.add_argument("--postgres", required=True, metavar="ADMIN_URL", help="a PostgreSQL admin URL")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=4, help="load connections in all")
    parser.add_argument("--replicas", default="1,2")
    args = parser.parse_args()
    if not LOAD_BIN.exists():
        sys.exit(f"{LOAD_BIN} is missing: cargo build --release -p ferroload")
    deployment = Deployment(postgres_admin_url=args.postgres)
    postgres_pid = postmaster_pid(args.postgres)
    rows = []
    for n in (int(x) for x in args.replicas.split(",")):
        row = run(n, args, deployment, postgres_pid)
        print(f"{n} replica(s): {row['spans_per_s']:,.0f} spans/s, request p50 {row['p50_ms']:.1f} ms, "
              f"ferroflow CPU {row['server_us_per_span']:.1f} µs/span, PostgreSQL CPU "
              f"{row['postgres_us_per_span']:.1f} µs/span; acknowledged {row['spans']:,}, stored {row['stored']:,}, "
              f"errors {row['errors']}; all up {row['start_s'] * 1000:.0f} ms after start", flush=True)
        if row["stored"] < row["spans"]:
            sys.exit(f"lost spans: {row['spans']:,} acknowledged, {row['stored']:,} stored")
        rows.append(row)
        time.sleep(1)
    print("\n| replicas | spans/s | ratio to 1 | request p50 ms | ferroflow CPU µs/span | PostgreSQL CPU µs/span "
          "| acknowledged ≤ stored |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['replicas']} | {row['spans_per_s']:,.0f} | {row['spans_per_s'] / rows[0]['spans_per_s']:.2f} "
              f"| {row['p50_ms']:.1f} | {row['server_us_per_span']:.1f} | {row['postgres_us_per_span']:.1f} "
              f"| {row['spans']:,} ≤ {row['stored']:,} |")


if __name__ == "__main__":
    main()
