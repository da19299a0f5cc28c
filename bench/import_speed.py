#!/usr/bin/env python3
"""`ferroflow import` speed: rows/s copied from an MLflow database of many traces.

The reference `mlflow server` makes the database (its own schema, on SQLite or, with
`--postgres`, on PostgreSQL) and the real client logs a few template traces into it (three spans,
tags, a feedback assessment); the bench then copies those rows under fresh trace ids until the
database holds `--traces` traces, rewriting the ids inside each span's JSON as MLflow writes them.
It times `ferroflow import` into a fresh SQLite store (or a PostgreSQL one with
`--target-postgres`), prints source rows/s and traces/s, the importer's CPU, and times a second
run (everything already there, so every record is checked and skipped). Usage:

    cargo build --release -p ferroflow
    .venv/bin/python bench/import_speed.py --traces 100000
    .venv/bin/python bench/import_speed.py --traces 100000 --postgres "$(cargo xtask pg start | tail -1)"
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ferrobench.servers import (  # noqa: E402
    DEFAULT_FF_BIN, QUIET_ENV, VENV_BIN, Deployment, ServerProc, free_port, reference_spec, rm_tree,
)

TEMPLATES = 10
TRACE_TABLES = ("trace_tags", "trace_request_metadata", "spans", "assessments")


def make_templates(url: str) -> None:
    """A few traces made by the real client, in a subprocess (its own tracking set-up)."""
    script = f"""
import mlflow
mlflow.set_tracking_uri({url!r})
mlflow.set_experiment("import-bench")
@mlflow.trace(span_type="AGENT")
def agent(q):
    with mlflow.start_span("llm", span_type="LLM") as s:
        s.set_inputs({{"messages": [{{"role": "user", "content": q}}]}})
        s.set_outputs({{"choices": [{{"message": {{"role": "assistant", "content": q.upper()}}}}]}})
    with mlflow.start_span("search", span_type="RETRIEVER") as s:
        s.set_inputs({{"query": q}})
        s.set_outputs([{{"page_content": "doc about " + q, "metadata": {{"id": 1}}}}])
    return "answer: " + q
ids = []
for i in range({TEMPLATES}):
    agent(f"question number {{i}} about mlflow")
    ids.append(mlflow.get_last_active_trace_id())
mlflow.flush_trace_async_logging()
for i, t in enumerate(ids):
    mlflow.set_trace_tag(t, "env", "prod" if i % 4 == 0 else "dev")
    mlflow.log_feedback(trace_id=t, name="quality", value=i / {TEMPLATES}, rationale="scored")
"""
    subprocess.run([str(VENV_BIN / "python"), "-c", script], check=True, env={**os.environ, **QUIET_ENV})


class Db:
    """The source database through DB-API (sqlite3 or psycopg2), its placeholder style aside."""

    def __init__(self, uri: str):
        if uri.startswith("sqlite:///"):
            import sqlite3

            self.conn, self.mark = sqlite3.connect(uri[len("sqlite:///"):]), "?"
        else:
            import psycopg2

            self.conn, self.mark = psycopg2.connect(uri.replace("+psycopg2", "")), "%s"

    def rows(self, sql: str, *params) -> list[tuple]:
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", self.mark), params)
        return cur.fetchall()

    def columns(self, table: str) -> list[str]:
        """The table's columns that take values (generated ones left out)."""
        if self.mark == "?":
            # table_xinfo's `hidden`: 2 and 3 mark generated columns.
            return [r[1] for r in self.rows(f"PRAGMA table_xinfo({table})") if r[6] not in (2, 3)]
        return [r[0] for r in self.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? AND is_generated = 'NEVER' ORDER BY ordinal_position", table)]

    def insert(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if rows:
            marks = ", ".join([self.mark] * len(columns))
            self.conn.cursor().executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def grow(db: Db, traces: int) -> dict[str, int]:
    """Copies the template traces under fresh ids until there are `traces`; returns row counts."""
    info_columns = db.columns("trace_info")
    templates = db.rows(f"SELECT {', '.join(info_columns)} FROM trace_info ORDER BY timestamp_ms")
    children = {t: (db.columns(t), {}) for t in TRACE_TABLES}
    for table, (columns, by_trace) in children.items():
        key = "request_id" if table.startswith("trace_") else "trace_id"
        for row in db.rows(f"SELECT {', '.join(columns)} FROM {table}"):
            by_trace.setdefault(row[columns.index(key)], []).append(row)
    at = {c: i for i, c in enumerate(info_columns)}
    made = len(templates)
    batch: dict[str, list[tuple]] = {t: [] for t in ("trace_info", *TRACE_TABLES)}
    while made < traces:
        template = templates[made % len(templates)]
        old_id = template[at["request_id"]]
        new_hex = uuid.uuid4().hex
        new_id = f"tr-{new_hex}"
        old_b64 = base64.b64encode(bytes.fromhex(old_id[3:])).decode()
        new_b64 = base64.b64encode(bytes.fromhex(new_hex)).decode()
        info = list(template)
        info[at["request_id"]] = new_id
        info[at["timestamp_ms"]] = template[at["timestamp_ms"]] + made
        if "client_request_id" in at:
            info[at["client_request_id"]] = None
        batch["trace_info"].append(tuple(info))
        for table, (columns, by_trace) in children.items():
            for row in by_trace.get(old_id, []):
                new = list(row)
                for i, column in enumerate(columns):
                    value = new[i]
                    if value == old_id:
                        new[i] = new_id
                    elif column == "content":
                        new[i] = value.replace(old_b64, new_b64).replace(old_id, new_id)
                    elif column == "assessment_id":
                        new[i] = f"a-{uuid.uuid4().hex}"
                batch[table].append(tuple(new))
        made += 1
        if made % 5000 == 0 or made == traces:
            db.insert("trace_info", info_columns, batch.pop("trace_info"))
            for table, (columns, _) in children.items():
                db.insert(table, columns, batch.pop(table))
            db.conn.commit()
            batch = {t: [] for t in ("trace_info", *TRACE_TABLES)}
            print(f"\r  source: {made:,} traces", end="", flush=True)
    print()
    return {t: db.rows(f"SELECT count(*) FROM {t}")[0][0] for t in ("trace_info", *TRACE_TABLES)}


def timed_import(binary: Path, source: str, target: str, workdir: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one `ferroflow import`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(binary), "import", "--from", source, "--backend-store-uri", target,
                           "--artifacts-destination", str(workdir / "ffart")],
                          capture_output=True, text=True, cwd=workdir)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"import failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, default=DEFAULT_FF_BIN)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="the MLflow database on this PostgreSQL server")
    parser.add_argument("--target-postgres", metavar="ADMIN_URL", help="import into a database on this server")
    args = parser.parse_args()
    args.binary = args.binary.resolve()  # the import runs in the scratch directory
    workdir = Path(tempfile.mkdtemp(prefix="ff-import-bench-"))
    try:
        source_deployment = Deployment(postgres_admin_url=args.postgres)
        spec = reference_spec(source_deployment)
        port = free_port()
        cmd = spec.make_cmd(port, workdir)
        source = cmd[cmd.index("--backend-store-uri") + 1]
        reference = ServerProc("reference", cmd, workdir / "reference.log", workdir)
        reference.start(port, spec.start_timeout_s)
        try:
            make_templates(f"http://127.0.0.1:{port}")
        finally:
            reference.stop()
        db = Db(source)
        counts = grow(db, args.traces)
        db.conn.close()
        rows = sum(counts.values())
        print("source rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()) + f"; {rows:,} in all")
        target = Deployment(postgres_admin_url=args.target_postgres).backend_store_uri("ff", workdir)
        where = "PostgreSQL" if args.postgres else "SQLite"
        into = "PostgreSQL" if args.target_postgres else "SQLite"
        for label in ("first import", "second import (all there)"):
            wall, cpu, out = timed_import(args.binary, source, target, workdir)
            traces_line = next((line for line in out.splitlines() if line.startswith("traces")), "")
            print(f"{label}, MLflow on {where} → ferroflow on {into}: {wall:.1f} s, {rows / wall:,.0f} source rows/s, "
                  f"{counts['trace_info'] / wall:,.0f} traces/s, importer CPU {cpu:.1f} s; {traces_line.split()}")
    finally:
        rm_tree(workdir)


if __name__ == "__main__":
    main()
