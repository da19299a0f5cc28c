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
``client_log_metric`` workload.

Adding a workload: write ``def my_workload(ctx: Ctx) -> list[Figure]`` and
decorate it with ``@workload("name", "description")``; it runs against every
server in turn and each returned Figure becomes a table row (matched across
servers by its ``key``).  See bench/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
VENV_BIN = ROOT / ".venv" / "bin"
DEFAULT_FF_BIN = ROOT / "target" / "release" / "ferroflow"

# Keep the Python client and the reference server from phoning home and from
# routing loopback traffic through a proxy.
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
os.environ.update(QUIET_ENV)

API = "/api/2.0/mlflow"


# --------------------------------------------------------------------------
# Result model
# --------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured number for one server. Rows are matched across servers by key."""

    key: str
    label: str
    value: float | None
    unit: str
    better: str = "lower"  # "lower" (latency, memory, time) or "higher" (throughput)
    info: bool = False  # informational row: no ratio is computed
    note: str = ""


@dataclass
class Goal:
    """A target from the issue, checked against the ferroflow figures."""

    key: str
    kind: str  # "ratio" (vs reference, bigger = ferroflow better), "max" / "min" (absolute bound on ferroflow)
    threshold: float
    text: str


GOALS = [
    Goal("log_batch.metrics_per_s", "ratio", 20.0, "log_batch ≥ 20× reference metrics/s"),
    Goal("search_runs.all.p50", "ratio", 10.0, "search_runs p50 ≥ 10× faster (1,000 runs)"),
    Goal("search_runs.filtered.p50", "ratio", 10.0, "filtered search_runs p50 ≥ 10× faster (1,000 runs)"),
    Goal("rss.idle", "max", 15.0, "idle RSS ≤ 15 MiB"),
    Goal("startup.health_ms", "max", 100.0, "/health within 100 ms of process start"),
    # issue 3: tracing
    Goal("otlp_ingest.spans_per_s", "ratio", 50.0, "OTLP ingest ≥ 50× reference spans/s"),
    Goal("otlp_ingest.spans_per_s", "min", 100_000.0, "OTLP ingest ≥ 100,000 spans/s (absolute)"),
    Goal("search_traces.all_1000.p50", "ratio", 20.0, "search_traces p50 ≥ 20× faster (1,000 traces)"),
    Goal("search_traces.tag_1000.p50", "ratio", 20.0, "filtered search_traces p50 ≥ 20× faster (1,000 traces)"),
    Goal("search_traces.all_10000.p50", "ratio", 20.0, "search_traces p50 ≥ 20× faster (10,000 traces)"),
    Goal("search_traces.tag_10000.p50", "ratio", 20.0, "filtered search_traces p50 ≥ 20× faster (10,000 traces)"),
    Goal("search_traces.all.scale", "max", 2.0, "search_traces p50 at 10k ≤ 2× p50 at 1k"),
    Goal("search_traces.tag.scale", "max", 2.0, "filtered search_traces p50 at 10k ≤ 2× p50 at 1k"),
    Goal("huge_trace.peak_rss", "max", 200.0, "100,000-span trace: peak RSS < 200 MiB"),
    # issue 4: registry
    Goal("registry.create_version.per_s", "ratio", 10.0, "model-version registrations/s ≥ 10× reference"),
    Goal("registry.load_prompt.p50", "ratio", 10.0, "load_prompt by alias p50 ≥ 10× faster"),
    Goal("registry.search_models.client.p50", "ratio", 10.0, "search_registered_models p50 ≥ 10× faster (1,000 models)"),
    Goal("registry.concurrent.ok", "min", 1.0, "16-thread registration yields exactly versions 1..100"),
    # issue 5: evaluation
    Goal("assessments.search_feedback.p50", "ratio", 20.0, "feedback-filtered search_traces p50 ≥ 20× faster (10,000 traces)"),
]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, math.ceil(q / 100.0 * len(s)) - 1)
    return s[k]


def latency_figures(key: str, label: str, samples_s: list[float], note: str = "") -> list[Figure]:
    ms = [x * 1000.0 for x in samples_s]
    return [
        Figure(f"{key}.p50", f"{label} p50", pct(ms, 50), "ms", "lower", note=note),
        Figure(f"{key}.p95", f"{label} p95", pct(ms, 95), "ms", "lower", note=note),
    ]


# --------------------------------------------------------------------------
# Process handling
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ..." -- comm may contain spaces/parens.
        rest = stat[stat.rfind(b")") + 2 :].split()
        ppid = int(rest[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _proc_stat(pid: int) -> list[bytes] | None:
    """Fields after "(comm)" of /proc/<pid>/stat: [state, ppid, pgrp, ...]."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def _alive_pid(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in (b"Z", b"X")


def group_pids(pgid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st is not None and int(st[2]) == pgid:
                out.append(int(name))
    return out


def process_tree(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[float, float, int, float]:
    """(sum VmRSS MiB, sum Pss MiB, process count, largest single VmRSS MiB) over root and descendants."""
    pids = process_tree(root)
    rss_each = [_status_kib(p, "VmRSS") / 1024.0 for p in pids]
    pss = sum(_pss_kib(p) for p in pids) / 1024.0
    return sum(rss_each), pss, len(pids), max(rss_each, default=0.0)


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int) -> float:
    """User+system CPU seconds of root and its live descendants (plus their reaped children)."""
    total = 0
    for pid in process_tree(root):
        st = _proc_stat(pid)
        if st is not None:
            total += sum(int(x) for x in st[11:15])  # utime stime cutime cstime
    return total / _CLK_TCK


def settled_memory(root: int, min_wait: float, max_wait: float = 60.0) -> tuple[float, float, int, float]:
    """tree_memory() once the tree has stopped growing: after min_wait seconds, sample every
    0.5 s until the summed RSS moved < 1 % over the last 2 s (the reference keeps spawning and
    importing helper processes well after /health answers), at most max_wait seconds."""
    time.sleep(min_wait)
    t_end = time.monotonic() + max_wait
    hist = [tree_memory(root)]
    while time.monotonic() < t_end:
        time.sleep(0.5)
        hist.append(tree_memory(root))
        if len(hist) >= 5:
            rss = [h[0] for h in hist[-5:]]
            same_procs = len({h[2] for h in hist[-5:]}) == 1
            if same_procs and max(rss) - min(rss) <= 0.01 * max(rss) + 0.1:
                break
    return hist[-1]


def health_once(port: int, timeout: float = 0.5) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class ServerProc:
    """A server started in its own session/process group; stop() kills the whole tree."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, cwd: Path):
        self.name, self.cmd, self.log_path, self.cwd = name, cmd, log_path, cwd
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, port: int, timeout_s: float, poll_s: float = 0.002) -> float:
        """Start the process; return seconds from spawn to first 200 from GET /health."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.update(QUIET_ENV)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C reaches only us, we stop it
        )
        _LIVE.add(self)
        deadline = t0 + timeout_s
        while True:
            if health_once(port):
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before /health was OK; "
                    f"see {self.log_path}:\n{tail(self.log_path)}"
                )
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.name} did not answer /health within {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(poll_s)

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc is None:
            return
        pids = set(group_pids(self.proc.pid))
        if self.alive():
            pids.update(process_tree(self.proc.pid))
        try:
            if self.alive():
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    pass
            # Kill the group and any descendant that left it (only processes we started).
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            pids.update(group_pids(self.proc.pid))
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            # Wait until every process of the tree is really gone, so the store can be deleted.
            deadline = time.monotonic() + 5
            while any(_alive_pid(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            _LIVE.discard(self)
            if self._log:
                self._log.close()
                self._log = None


_LIVE: set[ServerProc] = set()


def stop_all() -> None:
    for s in list(_LIVE):
        try:
            s.stop(grace_s=3.0)
        except Exception:  # noqa: BLE001 - best effort during teardown
            pass


atexit.register(lambda: stop_all())


def rm_tree(path: Path) -> None:
    for _ in range(5):  # a dying server may still touch its store for a moment
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.2)


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --------------------------------------------------------------------------
# Servers under test
# --------------------------------------------------------------------------


@dataclass
class ServerSpec:
    name: str  # "reference" | "ferroflow"
    make_cmd: Callable[[int, Path], list[str]]
    start_timeout_s: float
    startup_samples: int = 1  # default cold starts for the start-up median (--startup-samples overrides)


def reference_spec() -> ServerSpec:
    mlflow_bin = VENV_BIN / "mlflow"

    def cmd(port: int, tmp: Path) -> list[str]:
        return [
            str(mlflow_bin), "server",
            "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{tmp}/ref.db",
            "--artifacts-destination", str(tmp / "art"),
            "--workers", "1",
        ]

    return ServerSpec("reference", cmd, start_timeout_s=180.0)


def ferroflow_spec(binary: Path) -> ServerSpec:
    def cmd(port: int, tmp: Path) -> list[str]:
        return [
            str(binary), "server",
            "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{tmp}/ff.db",
            "--artifacts-destination", str(tmp / "ffart"),
        ]

    return ServerSpec("ferroflow", cmd, start_timeout_s=60.0, startup_samples=5)


# --------------------------------------------------------------------------
# Workload plumbing
# --------------------------------------------------------------------------


@dataclass
class Config:
    quick: bool
    threads: int
    log_batch_seconds: float
    log_batch_size: int
    search_runs: int
    search_reps: int
    get_run_reps: int
    client_calls: int
    warmup: int
    otlp_seconds: float = 15.0
    otlp_max_spans: int = 1_000_000
    trace_levels: tuple = (1000, 10000)
    client_traces: int = 200
    registry_versions: int = 200
    registry_models: int = 1000
    eval_rows: int = 100
    assess_traces: int = 10000
    assess_timed: int = 200


class Ctx:
    """What a workload gets: the server's URL plus helpers."""

    def __init__(self, server: str, base_url: str, cfg: Config, proc: ServerProc):
        self.server, self.base_url, self.cfg, self.proc = server, base_url, cfg, proc
        self.checks: list[str] = []  # correctness warnings surfaced in the report
        self.shared: dict = {}  # data a workload may reuse from an earlier one on the same server
        self._raw = threading.local()  # raw_call's keep-alive connection, one per thread

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy/netrc lookups per request
        return s

    def url(self, path: str) -> str:
        return self.base_url + path

    def raw_connection(self) -> http.client.HTTPConnection:
        """This thread's keep-alive connection to the server (for raw_call)."""
        conn = getattr(self._raw, "conn", None)
        if conn is None:
            u = urllib.parse.urlsplit(self.base_url)
            conn = self._raw.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        return conn

    def drop_raw_connection(self) -> None:
        conn = getattr(self._raw, "conn", None)
        if conn is not None:
            conn.close()
            self._raw.conn = None

    def call(self, s: requests.Session, method: str, path: str, body: dict | None = None, **params) -> dict:
        r = s.request(method, self.url(path), json=body, params=params or None, timeout=120)
        if r.status_code != 200:
            raise RuntimeError(f"{method} {path} -> HTTP {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else {}

    def check(self, ok: bool, msg: str) -> None:
        if not ok:
            self.checks.append(msg)

    # -- shared helpers for workloads ------------------------------------
    def create_experiment(self, s: requests.Session, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        return str(self.call(s, "POST", f"{API}/experiments/create", {"name": name})["experiment_id"])

    def create_run(self, s: requests.Session, experiment_id: str, name: str | None = None) -> str:
        body = {"experiment_id": experiment_id, "start_time": now_ms(), "tags": []}
        if name:
            body["run_name"] = name
        info = self.call(s, "POST", f"{API}/runs/create", body)["run"]["info"]
        return info.get("run_id") or info["run_uuid"]


@dataclass
class Workload:
    name: str
    description: str
    fn: Callable[[Ctx], list[Figure]]


WORKLOADS: dict[str, Workload] = {}


def workload(name: str, description: str):
    def deco(fn: Callable[[Ctx], list[Figure]]):
        WORKLOADS[name] = Workload(name, description, fn)
        return fn

    return deco


def now_ms() -> int:
    return int(time.time() * 1000)


def run_data(i: int, rng: random.Random) -> tuple[list[dict], list[dict], list[dict], dict]:
    """5 params, 5 metrics, 5 tags for run number i; also returns the values used by filters."""
    ts = now_ms()
    m = [rng.random() for _ in range(5)]
    params = [{"key": f"p{k}", "value": f"v{(i + k) % 10}"} for k in range(5)]
    metrics = [{"key": f"m{k}", "value": m[k], "timestamp": ts, "step": 0} for k in range(5)]
    tags = [{"key": f"t{k}", "value": f"tag-{i % 7}-{k}"} for k in range(5)]
    return params, metrics, tags, {"m0": m[0], "m1": m[1], "p0": params[0]["value"]}


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------


@workload("log_batch", "POST runs/log-batch, N threads x 1000 metrics/request for a fixed duration")
def wl_log_batch(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    setup = ctx.session()
    exp = ctx.create_experiment(setup, "bench-log-batch")
    run_ids = [ctx.create_run(setup, exp, f"log-batch-{t}") for t in range(cfg.threads)]
    setup.close()

    n = cfg.log_batch_size
    ok_metrics = [0] * cfg.threads
    ok_reqs = [0] * cfg.threads
    errors: list[str] = []
    lat: list[list[float]] = [[] for _ in range(cfg.threads)]
    end_times = [0.0] * cfg.threads
    state = {"t0": 0.0}
    # The barrier action stamps t0 before any thread is released into the timed window.
    barrier = threading.Barrier(cfg.threads + 1, action=lambda: state.__setitem__("t0", time.perf_counter()))

    def worker(t: int) -> None:
        s = ctx.session()
        rng = random.Random(t)
        # 10 keys x (n/10) steps per request; steps keep increasing across requests and the
        # timestamp is unique per request, so no (key, timestamp, step, value) row repeats.
        heads = [f'{{"key":"m{j % 10}","value":{rng.random()!r},"timestamp":' for j in range(n)]
        prefix = f'{{"run_id":"{run_ids[t]}","metrics":['
        steps_per_req = max(1, n // 10)
        base_ts = now_ms()
        headers = {"Content-Type": "application/json"}
        url = ctx.url(f"{API}/runs/log-batch")
        i = 0

        def body_for(i: int) -> bytes:
            ts, base = base_ts + i, i * steps_per_req
            return (
                prefix
                + ",".join([f'{h}{ts},"step":{base + j // 10}}}' for j, h in enumerate(heads)])
                + '],"params":[],"tags":[]}'
            ).encode()

        try:
            # Untimed warm-up requests (first-request costs: connection, caches, lazy init).
            for _ in range(min(cfg.warmup, 2)):
                r = s.post(url, data=body_for(i), headers=headers, timeout=120)
                i += 1
                if r.status_code != 200 and len(errors) < 5:
                    errors.append(f"warm-up HTTP {r.status_code}: {r.text[:200]}")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        barrier.wait()
        deadline = state["t0"] + cfg.log_batch_seconds
        try:
            while time.perf_counter() < deadline and i < 1_000_000:
                body = body_for(i)
                t1 = time.perf_counter()
                r = s.post(url, data=body, headers=headers, timeout=120)
                t2 = time.perf_counter()
                i += 1
                if r.status_code == 200:
                    ok_metrics[t] += n
                    ok_reqs[t] += 1
                    lat[t].append(t2 - t1)
                    end_times[t] = t2
                elif len(errors) < 5:
                    errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(cfg.threads)]
    for th in threads:
        th.start()
    barrier.wait()  # released once every thread has done its warm-up
    cpu0 = time.process_time()
    for th in threads:
        th.join()
    client_cpu = time.process_time() - cpu0
    elapsed = max(end_times) - state["t0"] if any(end_times) else 0.0
    total = sum(ok_metrics)
    ctx.check(not errors, f"log_batch: {len(errors)}+ failed requests, first: {errors[:1]}")
    if total == 0 or elapsed <= 0:
        raise RuntimeError(f"log_batch: no successful request ({errors[:1]})")
    all_lat = [x for l in lat for x in l]
    note = f"{cfg.threads} threads, {n}/req, {sum(ok_reqs)} req in {elapsed:.1f} s, client CPU {client_cpu:.1f} s"
    return [
        Figure("log_batch.metrics_per_s", "log_batch throughput", total / elapsed, "metrics/s", "higher", note=note),
        *latency_figures("log_batch.req", "log_batch request latency", all_lat),
    ]


@workload("search_runs", "POST runs/search over 1,000 runs (5 params/metrics/tags each), plain and filtered+ordered")
def wl_search_runs(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    s = ctx.session()
    exp = ctx.create_experiment(s, "bench-search")
    n_runs = cfg.search_runs
    rng = random.Random(42)
    datas = [run_data(i, rng) for i in range(n_runs)]
    expected_filtered = sum(1 for d in datas if d[3]["m0"] > 0.5 and d[3]["p0"] == "v0")

    # Populate through the REST API: runs/create + runs/log-batch per run, cfg.threads in parallel.
    errors: list[str] = []
    next_i = iter(range(n_runs))
    lock = threading.Lock()

    def populate() -> None:
        ps = ctx.session()
        try:
            while True:
                with lock:
                    i = next(next_i, None)
                if i is None:
                    return
                params, metrics, tags, _ = datas[i]
                rid = ctx.create_run(ps, exp, f"search-{i}")
                ctx.call(ps, "POST", f"{API}/runs/log-batch",
                         {"run_id": rid, "metrics": metrics, "params": params, "tags": tags})
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            ps.close()

    t0 = time.perf_counter()
    ths = [threading.Thread(target=populate, daemon=True) for _ in range(cfg.threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    populate_s = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"search_runs populate failed: {errors[0]}")

    queries = {
        "all": {"experiment_ids": [exp], "max_results": 1000},
        "filtered": {
            "experiment_ids": [exp],
            "max_results": 1000,
            "filter": "metrics.m0 > 0.5 and params.p0 = 'v0'",
            "order_by": ["metrics.m1 DESC"],
        },
    }
    expected = {"all": min(n_runs, 1000), "filtered": expected_filtered}
    figs = [Figure("search_runs.populate_s", f"search_runs populate {n_runs} runs", populate_s, "s", "lower",
                   note=f"runs/create + log-batch per run, {cfg.threads} threads")]
    url = ctx.url(f"{API}/runs/search")
    for qname, body in queries.items():
        for _ in range(cfg.warmup):
            s.post(url, json=body, timeout=120)
        samples, got = [], None
        for _ in range(cfg.search_reps):
            t1 = time.perf_counter()
            r = s.post(url, json=body, timeout=120)
            data = r.content
            t2 = time.perf_counter()
            if r.status_code != 200:
                raise RuntimeError(f"runs/search ({qname}) -> HTTP {r.status_code}: {r.text[:300]}")
            samples.append(t2 - t1)
            got = data
        runs = json.loads(got).get("runs", [])
        ctx.check(len(runs) == expected[qname],
                  f"search_runs[{qname}]: got {len(runs)} runs, expected {expected[qname]}")
        if qname == "filtered" and runs:
            m1 = [next((m["value"] for m in r_["data"].get("metrics", []) if m["key"] == "m1"), None) for r_ in runs]
            ctx.check(all(a is not None and b is not None and a >= b for a, b in zip(m1, m1[1:])),
                      "search_runs[filtered]: result not ordered by metrics.m1 DESC")
        label = "search_runs all 1000" if qname == "all" else "search_runs filter+order"
        figs += latency_figures(f"search_runs.{qname}", label, samples,
                                note=f"{cfg.search_reps} reps, {len(runs)} runs returned")
    s.close()
    return figs


@workload("get_run", "GET runs/get on a run with 5 params/metrics/tags, persistent session")
def wl_get_run(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    s = ctx.session()
    exp = ctx.create_experiment(s, "bench-get-run")
    rid = ctx.create_run(s, exp, "get-run")
    params, metrics, tags, _ = run_data(0, random.Random(7))
    ctx.call(s, "POST", f"{API}/runs/log-batch", {"run_id": rid, "metrics": metrics, "params": params, "tags": tags})
    url = ctx.url(f"{API}/runs/get")
    q = {"run_id": rid}
    for _ in range(cfg.warmup):
        s.get(url, params=q, timeout=60)
    samples, last = [], None
    for _ in range(cfg.get_run_reps):
        t1 = time.perf_counter()
        r = s.get(url, params=q, timeout=60)
        data = r.content
        t2 = time.perf_counter()
        if r.status_code != 200:
            raise RuntimeError(f"runs/get -> HTTP {r.status_code}: {r.text[:300]}")
        samples.append(t2 - t1)
        last = data
    run = json.loads(last)["run"]
    d = run.get("data", {})
    ctx.check(len(d.get("params", [])) == 5 and len(d.get("metrics", [])) == 5
              and len([t for t in d.get("tags", []) if t["key"].startswith("t")]) == 5,
              "get_run: returned run does not carry 5 params / 5 metrics / 5 tags")
    s.close()
    return latency_figures("get_run", "get_run", samples, note=f"{cfg.get_run_reps} reps")


@workload("client_log_metric", "mlflow.MlflowClient().log_metric loop (the real Python client; client-bound)")
def wl_client_log_metric(ctx: Ctx) -> list[Figure]:
    from mlflow.tracking import MlflowClient  # imported lazily: slow, and only this workload needs it

    cfg = ctx.cfg
    client = MlflowClient(tracking_uri=ctx.base_url)
    exp = client.create_experiment(f"bench-client-{uuid.uuid4().hex[:8]}")
    run = client.create_run(exp)
    rid = run.info.run_id
    for i in range(cfg.warmup):
        client.log_metric(rid, "warmup", float(i), step=i)
    samples = []
    t0 = time.perf_counter()
    for i in range(cfg.client_calls):
        t1 = time.perf_counter()
        client.log_metric(rid, "loss", 1.0 / (i + 1), step=i)
        samples.append(time.perf_counter() - t1)
    total = time.perf_counter() - t0
    hist = client.get_metric_history(rid, "loss")
    ctx.check(len(hist) == cfg.client_calls,
              f"client_log_metric: metric history has {len(hist)} points, expected {cfg.client_calls}")
    return [
        Figure("client_log_metric.total_s", f"MlflowClient.log_metric x{cfg.client_calls} total", total, "s", "lower"),
        *latency_figures("client_log_metric", "MlflowClient.log_metric", samples),
    ]


# --------------------------------------------------------------------------
# Tracing, registry and evaluation workloads (issues 3-5)
# --------------------------------------------------------------------------

API3 = "/api/3.0/mlflow"
OTLP_HEADERS = {"Content-Type": "application/x-protobuf"}


@dataclass
class SpanSpec:
    """One span for encode_otlp(); attributes follow what the MLflow exporter sends (native AnyValues)."""

    trace_id: bytes  # 16 bytes
    span_id: bytes  # 8 bytes
    parent_id: bytes | None
    name: str
    start_ns: int
    end_ns: int
    span_type: str = "CHAIN"
    inputs: dict | None = None
    outputs: str = ""
    trace_tags: dict | None = None  # root only: sent as mlflow.traceTag.<key> (become trace tags)


def encode_otlp(spans: list[SpanSpec]) -> bytes:
    """An OTLP/HTTP protobuf ExportTraceServiceRequest (one resource, one scope) holding `spans`."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    from opentelemetry.proto.common.v1 import common_pb2 as cm
    from opentelemetry.proto.trace.v1 import trace_pb2 as tr

    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=cm.AnyValue(string_value="ferroflow-bench"))
    ss = rs.scope_spans.add()
    ss.scope.name = "mlflow.tracing"
    for sp in spans:
        s = ss.spans.add()
        s.trace_id, s.span_id = sp.trace_id, sp.span_id
        if sp.parent_id:
            s.parent_span_id = sp.parent_id
        s.name = sp.name
        s.kind = tr.Span.SPAN_KIND_INTERNAL
        s.start_time_unix_nano, s.end_time_unix_nano = sp.start_ns, sp.end_ns
        s.status.code = tr.Status.STATUS_CODE_OK
        a = s.attributes
        a.add(key="mlflow.traceRequestId", value=cm.AnyValue(string_value="tr-" + sp.trace_id.hex()))
        a.add(key="mlflow.spanType", value=cm.AnyValue(string_value=sp.span_type))
        inp = cm.AnyValue()
        for k, v in (sp.inputs or {"query": "what is mlflow?"}).items():
            inp.kvlist_value.values.add(key=k, value=cm.AnyValue(string_value=str(v)))
        a.add(key="mlflow.spanInputs", value=inp)
        a.add(key="mlflow.spanOutputs", value=cm.AnyValue(string_value=sp.outputs or "MLflow is an open source platform"))
        a.add(key="mlflow.spanFunctionName", value=cm.AnyValue(string_value=sp.name))
        a.add(key="mlflow.spanLogLevel", value=cm.AnyValue(int_value=20))
        for k, v in (sp.trace_tags or {}).items():
            a.add(key=f"mlflow.traceTag.{k}", value=cm.AnyValue(string_value=v))
    return req.SerializeToString()


class OtlpTemplate:
    """An encoded OTLP request whose ids are built around random byte markers: trace id =
    12-byte marker + 4-byte index, span id = 6-byte marker + 2-byte index.  instantiate() makes a
    copy with fresh ids by a same-length byte replacement (raw and hex forms), so many unique
    requests cost no protobuf encoding in the timed loop."""

    def __init__(self, n_traces: int, spans_per_trace: int, *, trace_marker: bytes | None = None,
                 root_id: bytes | None = None, extra_root: bool = False, base_ns: int | None = None):
        assert n_traces * spans_per_trace + 1 < 65536
        self.tmark = trace_marker or os.urandom(12)
        self.smark = os.urandom(6)
        self.n_traces, self.spans_per_trace = n_traces, spans_per_trace
        base = base_ns or time.time_ns()
        spans: list[SpanSpec] = []
        k = 0
        for t in range(n_traces):
            tid = self.tmark + t.to_bytes(4, "big")
            # root_id given: every span is a child of that (external) root; else span 0 is the root.
            root = root_id or (self.smark + (t * spans_per_trace).to_bytes(2, "big"))
            kids, root_spec = [], None
            for j in range(spans_per_trace):
                sid = self.smark + k.to_bytes(2, "big")
                k += 1
                st = base + t * 1_000_000 + j * 1_000
                if root_id is None and j == 0:
                    root_spec = SpanSpec(tid, sid, None, "agent", st, st + 900_000, "AGENT",
                                         {"question": f"question {t}"}, f"answer {t}")
                else:
                    kids.append(SpanSpec(tid, sid, root, f"step-{j}", st, st + 500, "LLM" if j % 2 else "RETRIEVER",
                                         {"q": f"sub-question {j}"}, f"result {j}"))
            spans += kids  # children first, root last (the order the client sends them in)
            if root_spec:
                spans.append(root_spec)
            if extra_root and root_id is not None:
                spans.append(SpanSpec(tid, root_id, None, "agent", base, base + 10_000_000_000, "AGENT",
                                      {"question": "huge"}, "done"))
        self.n_spans = len(spans)
        self.body = encode_otlp(spans)

    def instantiate(self, new_trace_ids: bool = True) -> tuple[bytes, bytes]:
        """(body with fresh span ids [and trace ids], trace marker used)."""
        body = self.body.replace(self.smark, os.urandom(6))
        tm = self.tmark
        if new_trace_ids:
            tm = os.urandom(12)
            body = body.replace(self.tmark, tm).replace(self.tmark.hex().encode(), tm.hex().encode())
        return body, tm

    def trace_ids(self, tmark: bytes) -> list[str]:
        return ["tr-" + (tmark + t.to_bytes(4, "big")).hex() for t in range(self.n_traces)]


def post_otlp(ctx: Ctx, s: requests.Session, exp: str, body: bytes) -> None:
    r = s.post(ctx.url("/v1/traces"), data=body, headers={**OTLP_HEADERS, "x-mlflow-experiment-id": exp}, timeout=600)
    if r.status_code != 200:
        raise RuntimeError(f"POST /v1/traces -> HTTP {r.status_code}: {r.text[:300]}")


def trace_location(exp: str) -> list[dict]:
    return [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]


def search_traces_page(ctx: Ctx, s: requests.Session, exp: str, filt: str | None = None, max_results: int = 100,
                       page_token: str | None = None) -> dict:
    body: dict = {"locations": trace_location(exp), "max_results": max_results}
    if filt:
        body["filter"] = filt
    if page_token:
        body["page_token"] = page_token
    return ctx.call(s, "POST", f"{API3}/traces/search", body)


def count_traces(ctx: Ctx, s: requests.Session, exp: str, filt: str | None = None, max_pages: int = 2000) -> tuple[int, int]:
    """(traces found by paging through traces/search with 500 per page, distinct trace ids)."""
    n, ids, token = 0, set(), None
    for _ in range(max_pages):
        d = search_traces_page(ctx, s, exp, filt, 500, token)
        tr = d.get("traces", [])
        n += len(tr)
        ids.update(t["trace_id"] for t in tr)
        token = d.get("next_page_token")
        if not token or not tr:
            break
    return n, len(ids)


def parallel(ctx: Ctx, n_threads: int, items, fn, retries: int = 2) -> list[str]:
    """Run fn(session, item) for every item on n_threads threads (own session each); a request
    failing with an exception is retried `retries` times. Returns error strings."""
    it = iter(items)
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        s = ctx.session()
        try:
            while True:
                with lock:
                    item = next(it, None)
                if item is None or len(errors) > 20:
                    return
                for attempt in range(retries + 1):
                    try:
                        fn(s, item)
                        break
                    except Exception as e:  # noqa: BLE001
                        if attempt == retries:
                            errors.append(repr(e)[:300])
                        else:
                            time.sleep(0.2 * (attempt + 1))
        finally:
            s.close()

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(n_threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return errors


def raw_call(ctx: Ctx, method: str, path: str, body: dict | None = None, **params) -> bytes:
    """One request over the calling thread's thin keep-alive connection (``http.client``, no
    ``requests``: that library costs ~0.4 ms a call by itself), body read in full but not parsed:
    what the timed loops measure. The body and query string are the ones ``requests`` would send
    for ``json=body, params=params``."""
    if params:
        path = f"{path}?{urllib.parse.urlencode(params)}"
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    for attempt in range(2):
        conn = ctx.raw_connection()
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            out = r.read()
            break
        except (http.client.HTTPException, ConnectionError):
            # The server closed an idle keep-alive connection: reconnect once.
            ctx.drop_raw_connection()
            if attempt:
                raise
    if r.status != 200:
        raise RuntimeError(f"{method} {path} -> HTTP {r.status}: {out[:300]!r}")
    return out


def iso_ns(ts: str) -> int:
    """Nanoseconds since the epoch of a protobuf-JSON Timestamp ("2026-11-27T11:35:55.021Z", 0-9 fraction digits)."""
    if not ts:
        return 0
    main, _, frac = ts.rstrip("Z").partition(".")
    secs = _dt.datetime.fromisoformat(main).replace(tzinfo=_dt.timezone.utc).timestamp()
    return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])


def search_body(exp: str, filt: str | None, max_results: int = 100) -> dict:
    body: dict = {"locations": trace_location(exp), "max_results": max_results}
    if filt:
        body["filter"] = filt
    return body


def timed_reps(fn, reps: int, warmup: int) -> tuple[list[float], object]:
    for _ in range(warmup):
        fn()
    samples, last = [], None
    for _ in range(reps):
        t1 = time.perf_counter()
        last = fn()
        samples.append(time.perf_counter() - t1)
    return samples, last


def populate_flat_traces(ctx: Ctx, exp: str, start: int, stop: int, base_ns: int, tag_env, per_request: int = 500) -> tuple[list[str], float]:
    """Ingest 1-span traces number start..stop-1 via OTLP (root start = base + i ms, root attribute
    mlflow.traceTag.env = tag_env(i)); cfg.threads senders. Returns (trace ids by index, seconds)."""
    ids = [""] * (stop - start)
    bodies = []
    for lo in range(start, stop, per_request):
        spans = []
        for i in range(lo, min(stop, lo + per_request)):
            tid = os.urandom(16)
            ids[i - start] = "tr-" + tid.hex()
            st = base_ns + i * 1_000_000
            spans.append(SpanSpec(tid, os.urandom(8), None, "agent", st, st + 500_000, "AGENT",
                                  {"question": f"question {i}"}, f"answer {i}", {"env": tag_env(i), "idx": str(i)}))
        bodies.append(encode_otlp(spans))
    t0 = time.perf_counter()
    errors = parallel(ctx, ctx.cfg.threads, bodies, lambda s, b: post_otlp(ctx, s, exp, b))
    took = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"trace population failed: {errors[0]}")
    return ids, took


def trace_pool(ctx: Ctx, n: int) -> dict:
    """A per-server experiment of n 1-span traces (tag env=prod for every 4th), shared by
    search_traces and assessments so the reference populates it only once; grown on demand."""
    pool = ctx.shared.get("trace_pool")
    if pool is None:
        s = ctx.session()
        pool = {"exp": ctx.create_experiment(s, "bench-trace-search"), "ids": [], "base_ns": time.time_ns() - 10**13,
                "populate_s": 0.0}
        s.close()
        ctx.shared["trace_pool"] = pool
    have = len(pool["ids"])
    if have < n:
        ids, took = populate_flat_traces(ctx, pool["exp"], have, n, pool["base_ns"],
                                         lambda i: "prod" if i % 4 == 0 else "dev")
        pool["ids"] += ids
        pool["populate_s"] += took
        pool.setdefault("populate_steps", []).append((have, n, took))
    return pool


@workload("otlp_ingest", "POST /v1/traces, 4 threads x pre-encoded protobuf requests of 500 spans (10-span traces)")
def wl_otlp_ingest(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    setup = ctx.session()
    exp = ctx.create_experiment(setup, "bench-otlp")
    tpl = OtlpTemplate(50, 10)  # 50 traces x 10 spans = 500 spans per request
    url = ctx.url("/v1/traces")
    headers = {**OTLP_HEADERS, "x-mlflow-experiment-id": exp}
    max_reqs = max(1, cfg.otlp_max_spans // tpl.n_spans)
    lock = threading.Lock()
    counter = {"issued": 0}
    ok_reqs = [0] * cfg.threads
    tmarks: list[bytes] = []
    errors: list[str] = []
    lat: list[list[float]] = [[] for _ in range(cfg.threads)]
    end_times = [0.0] * cfg.threads
    state = {"t0": 0.0}
    barrier = threading.Barrier(cfg.threads + 1, action=lambda: state.__setitem__("t0", time.perf_counter()))
    warm_marks: list[bytes] = []

    def worker(t: int) -> None:
        s = ctx.session()
        try:
            body, tm = tpl.instantiate()  # one untimed warm-up request per thread
            r = s.post(url, data=body, headers=headers, timeout=600)
            if r.status_code == 200:
                with lock:
                    warm_marks.append(tm)
            else:
                errors.append(f"warm-up HTTP {r.status_code}: {r.text[:200]}")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        barrier.wait()
        deadline = state["t0"] + cfg.otlp_seconds
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if counter["issued"] >= max_reqs:
                        break
                    counter["issued"] += 1
                body, tm = tpl.instantiate()
                t1 = time.perf_counter()
                r = s.post(url, data=body, headers=headers, timeout=600)
                t2 = time.perf_counter()
                if r.status_code == 200:
                    ok_reqs[t] += 1
                    lat[t].append(t2 - t1)
                    end_times[t] = t2
                    with lock:
                        tmarks.append(tm)
                elif len(errors) < 5:
                    errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            s.close()

    ths = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(cfg.threads)]
    for th in ths:
        th.start()
    barrier.wait()
    cpu0 = time.process_time()
    for th in ths:
        th.join()
    client_cpu = time.process_time() - cpu0
    elapsed = max(end_times) - state["t0"] if any(end_times) else 0.0
    n_req = sum(ok_reqs)
    spans = n_req * tpl.n_spans
    ctx.check(not errors, f"otlp_ingest: {len(errors)}+ failed requests, first: {errors[:1]}")
    if n_req == 0 or elapsed <= 0:
        raise RuntimeError(f"otlp_ingest: no successful request ({errors[:1]})")
    rate = spans / elapsed

    # Result check: every trace of every accepted request is searchable, and a sampled trace has its 10 spans.
    expected = (n_req + len(warm_marks)) * tpl.n_traces
    t_chk = time.perf_counter()
    got, distinct = count_traces(ctx, setup, exp)
    count_s, recounts = time.perf_counter() - t_chk, 0
    while got < expected and time.perf_counter() - t_chk < 30:  # tolerate asynchronous commit, but say so
        time.sleep(1.0)
        recounts += 1
        got, distinct = count_traces(ctx, setup, exp)
    visible_after = time.perf_counter() - t_chk
    ctx.check(got == expected and distinct == expected,
              f"otlp_ingest: traces/search finds {got} traces ({distinct} distinct), expected {expected}")
    sample_id = tpl.trace_ids(random.choice(tmarks))[7]
    tr = ctx.call(setup, "GET", f"{API3}/traces/get", trace_id=sample_id)["trace"]
    span_list = tr.get("spans", [])
    ctx.check(len(span_list) == tpl.spans_per_trace and tr["trace_info"]["trace_id"] == sample_id,
              f"otlp_ingest: traces/get {sample_id} returned {len(span_list)} spans, expected {tpl.spans_per_trace}")
    roots = [x for x in span_list if not x.get("parent_span_id")]
    ctx.check(len(roots) == 1 and any(a["key"] == "mlflow.spanInputs" for a in roots[0].get("attributes", [])),
              "otlp_ingest: sampled trace lacks a root span with mlflow.spanInputs")
    ctx.check(tr["trace_info"].get("state") == "OK", f"otlp_ingest: sampled trace state {tr['trace_info'].get('state')}")
    setup.close()
    all_lat = [x for l in lat for x in l]
    bound = "time" if counter["issued"] < max_reqs else f"cap {max_reqs} req"
    note = (f"{cfg.threads} threads, {tpl.n_spans} spans/req (10-span traces), {n_req} req in {elapsed:.1f} s "
            f"({bound}), client CPU {client_cpu:.1f} s; {got} of {expected} traces found by paging traces/search "
            f"({count_s:.1f} s)" + (f", only after {recounts} recount(s), {visible_after:.1f} s" if recounts else ""))
    return [
        Figure("otlp_ingest.spans_per_s", "otlp_ingest throughput", rate, "spans/s", "higher", note=note),
        *latency_figures("otlp_ingest.req", "otlp_ingest request (500 spans) latency", all_lat),
    ]


CLIENT_PRELUDE = r'''
import json, os, sys, threading, time
import requests
_iv, _lk, _orig = [], threading.Lock(), requests.Session.request
def _timed(self, method, url, *a, **kw):
    t0 = time.perf_counter()
    try:
        return _orig(self, method, url, *a, **kw)
    finally:
        t1 = time.perf_counter()
        with _lk:
            _iv.append((t0, t1))
requests.Session.request = _timed  # every HTTP call of the mlflow client (REST and OTLP) goes through here

def server_wait(t0, t1):
    """(union of in-flight request intervals, summed request time, request count) within [t0, t1]."""
    iv = sorted((max(a, t0), min(b, t1)) for a, b in list(_iv) if b > t0 and a < t1)
    union, cs, ce = 0.0, None, None
    for a, b in iv:
        if ce is None or a > ce:
            if ce is not None:
                union += ce - cs
            cs, ce = a, b
        else:
            ce = max(ce, b)
    if ce is not None:
        union += ce - cs
    return union, sum(b - a for a, b in iv), len(iv)

ARGS = json.loads(sys.argv[1])
import mlflow
mlflow.set_tracking_uri(ARGS["uri"])
'''

CLIENT_TRACES_SCRIPT = CLIENT_PRELUDE + r'''
exp = mlflow.set_experiment(ARGS["experiment"])

@mlflow.trace(span_type="TOOL")
def leaf(x):
    return {"value": x * 2}

@mlflow.trace(span_type="CHAIN")
def middle(x):
    return leaf(x)["value"] + 1

@mlflow.trace(span_type="AGENT")
def agent(question, x):
    return {"answer": f"{question}: {middle(x)}"}

for i in range(ARGS["warmup"]):
    agent("warm-up", i)
t0 = time.perf_counter()
for i in range(ARGS["n"]):
    agent("what is mlflow?", i)
t1 = time.perf_counter()
union, summed, nreq = server_wait(t0, t1)
print("BENCH_RESULT " + json.dumps({"seconds": t1 - t0, "server_wait_s": union, "request_s": summed,
                                    "requests": nreq, "experiment_id": exp.experiment_id}))
'''

EVALUATE_SCRIPT = CLIENT_PRELUDE + r'''
from mlflow.entities import Feedback
from mlflow.genai.scorers import scorer

@scorer
def is_nonempty(outputs) -> bool:
    return bool(outputs)

@scorer
def answer_length(outputs) -> float:
    return float(len(str(outputs)))

@scorer
def mentions_question(inputs, outputs) -> Feedback:
    ok = inputs["question"] in str(outputs)
    return Feedback(value=ok, rationale="the answer repeats the question" if ok else "it does not")

def predict_fn(question):
    return f"The answer to {question} is 42."

# Untimed warm-up (lazy imports, first-call costs) in a separate experiment.
mlflow.set_experiment(ARGS["experiment"] + "-warmup")
mlflow.genai.evaluate(data=[{"inputs": {"question": f"warm {i}"}} for i in range(3)], predict_fn=predict_fn,
                      scorers=[is_nonempty, answer_length, mentions_question])
exp = mlflow.set_experiment(ARGS["experiment"])
data = [{"inputs": {"question": f"question {i}"}} for i in range(ARGS["n"])]
t0 = time.perf_counter()
res = mlflow.genai.evaluate(data=data, predict_fn=predict_fn, scorers=[is_nonempty, answer_length, mentions_question])
t1 = time.perf_counter()
union, summed, nreq = server_wait(t0, t1)
print("BENCH_RESULT " + json.dumps({"seconds": t1 - t0, "server_wait_s": union, "request_s": summed, "requests": nreq,
                                    "experiment_id": exp.experiment_id, "run_id": res.run_id,
                                    "metrics": {k: v for k, v in res.metrics.items()}}))
'''


def run_client_script(ctx: Ctx, script: str, args: dict, env_extra: dict, timeout: float) -> dict:
    env = dict(os.environ)
    env.update(QUIET_ENV)
    env.update(env_extra)
    args = {"uri": ctx.base_url, **args}
    r = subprocess.run([sys.executable, "-c", script, json.dumps(args)], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=tempfile.gettempdir())
    line = next((l for l in reversed(r.stdout.splitlines()) if l.startswith("BENCH_RESULT ")), None)
    if r.returncode != 0 or line is None:
        raise RuntimeError(f"client subprocess failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    return json.loads(line[len("BENCH_RESULT "):])


@workload("client_traces", "the real client: @mlflow.trace nested functions (3 spans/trace), synchronous export")
def wl_client_traces(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    n = cfg.client_traces
    name = f"bench-client-traces-{uuid.uuid4().hex[:8]}"
    res = run_client_script(ctx, CLIENT_TRACES_SCRIPT, {"experiment": name, "n": n, "warmup": 3},
                            {"MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"}, timeout=1200)
    s = ctx.session()
    exp = str(res["experiment_id"])
    got, _ = count_traces(ctx, s, exp)
    ctx.check(got == n + 3, f"client_traces: {got} traces in the experiment, expected {n + 3}")
    first = search_traces_page(ctx, s, exp, None, 1).get("traces", [])
    if first:
        tr = ctx.call(s, "GET", f"{API3}/traces/get", trace_id=first[0]["trace_id"])["trace"]
        ctx.check(len(tr.get("spans", [])) == 3, f"client_traces: newest trace has {len(tr.get('spans', []))} spans, expected 3")
        ctx.check(tr["trace_info"].get("tags", {}).get("mlflow.trace.spansLocation") == "TRACKING_STORE",
                  "client_traces: trace not marked spansLocation=TRACKING_STORE (spans went to artifacts?)")
    s.close()
    share = 100.0 * res["server_wait_s"] / res["seconds"]
    return [
        Figure("client_traces.per_s", f"client @mlflow.trace x{n} (3 spans, sync export)", n / res["seconds"], "traces/s",
               "higher", note=f"{res['requests']} HTTP requests; server wait {share:.0f} % of wall"),
        Figure("client_traces.server_share", "client_traces: share of wall time waiting on the server",
               share, "%", "lower", info=True),
    ]


@workload("search_traces", "POST traces/search (max_results 100; no filter and a tag filter) at 1,000 and 10,000 traces")
def wl_search_traces(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    s = ctx.session()
    figs: list[Figure] = []
    p50: dict[tuple[str, int], float] = {}
    for level in cfg.trace_levels:
        pool = trace_pool(ctx, level)
        exp, ids = pool["exp"], pool["ids"][:level]
        step = next((st for st in pool.get("populate_steps", []) if st[1] == level), None)
        if step:
            figs.append(Figure(f"search_traces.populate_{level}", f"search_traces populate {step[0]:,}→{level:,} traces",
                               step[2], "s", "lower", info=True,
                               note=f"1-span traces, 500 per OTLP request, {cfg.threads} threads"))
        got, distinct = count_traces(ctx, s, exp)
        ctx.check(got == level and distinct == level, f"search_traces: experiment has {got} traces, expected {level}")
        newest_prod = max(i for i in range(level) if i % 4 == 0)
        for qname, filt, newest in (("all", None, level - 1), ("tag", "tags.env = 'prod'", newest_prod)):
            body = search_body(exp, filt)
            samples, last = timed_reps(lambda: raw_call(ctx, "POST", f"{API3}/traces/search", body),
                                       cfg.search_reps, cfg.warmup)
            tr = json.loads(last).get("traces", [])
            want = min(100, level if filt is None else len(range(0, level, 4)))
            ctx.check(len(tr) == want, f"search_traces[{qname} @{level}]: {len(tr)} traces returned, expected {want}")
            ctx.check(bool(tr) and tr[0]["trace_id"] == ids[newest],
                      f"search_traces[{qname} @{level}]: first result is not the newest matching trace (default order timestamp DESC)")
            if filt:
                ctx.check(all(t.get("tags", {}).get("env") == "prod" for t in tr),
                          f"search_traces[{qname} @{level}]: a returned trace lacks tag env=prod")
            times = [iso_ns(t.get("request_time", "")) for t in tr]
            ctx.check(times == sorted(times, reverse=True), f"search_traces[{qname} @{level}]: not ordered by time DESC")
            p50[(qname, level)] = pct(samples, 50)
            label = f"search_traces {'no filter' if qname == 'all' else 'tags.env filter'} @{level:,}"
            figs += latency_figures(f"search_traces.{qname}_{level}", label, samples, note=f"{cfg.search_reps} reps, page of 100")
    lo, hi = min(cfg.trace_levels), max(cfg.trace_levels)
    if lo != hi:
        for qname in ("all", "tag"):
            figs.append(Figure(f"search_traces.{qname}.scale", f"search_traces {qname} p50 @{hi:,} / p50 @{lo:,}",
                               p50[(qname, hi)] / p50[(qname, lo)], "x", "lower", info=True))
    s.close()
    return figs


@workload("get_trace", "GET traces/get for a 100-span trace, persistent session")
def wl_get_trace(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    s = ctx.session()
    exp = ctx.create_experiment(s, "bench-get-trace")
    tpl = OtlpTemplate(1, 100)
    body, tm = tpl.instantiate()
    post_otlp(ctx, s, exp, body)
    tid = tpl.trace_ids(tm)[0]
    url = ctx.url(f"{API3}/traces/get")

    def get():
        r = s.get(url, params={"trace_id": tid}, timeout=60)
        if r.status_code != 200:
            raise RuntimeError(f"traces/get -> HTTP {r.status_code}: {r.text[:300]}")
        return r.content

    samples, last = timed_reps(get, cfg.get_run_reps, cfg.warmup)
    tr = json.loads(last)["trace"]
    ctx.check(len(tr.get("spans", [])) == 100 and tr["trace_info"]["trace_id"] == tid,
              f"get_trace: {len(tr.get('spans', []))} spans returned, expected 100")
    s.close()
    return latency_figures("get_trace", "get_trace (100 spans)", samples,
                           note=f"{cfg.get_run_reps} reps, {len(last) / 1024:.0f} KiB body")


@workload("huge_trace", "ferroflow only: one 100,000-span trace (20 x 5,000-span requests), then traces/get streamed; peak RSS")
def wl_huge_trace(ctx: Ctx) -> list[Figure]:
    if ctx.server != "ferroflow":
        print(f"[{ctx.server}]   huge_trace: skipped (ferroflow only)", flush=True)
        return []
    cfg = ctx.cfg
    n_batches, per = 20, 5000
    s = ctx.session()
    exp = ctx.create_experiment(s, "bench-huge-trace")
    tmark, root = os.urandom(12), os.urandom(8)
    base = time.time_ns()
    tpl = OtlpTemplate(1, per, trace_marker=tmark, root_id=root, base_ns=base)
    tpl_last = OtlpTemplate(1, per - 1, trace_marker=tmark, root_id=root, extra_root=True, base_ns=base)
    tid = tpl.trace_ids(tmark)[0]
    pid = ctx.proc.pid
    def mem() -> dict[str, float]:
        out = {}
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    k = line.split(":", 1)[0]
                    if k in ("VmRSS", "RssAnon", "RssFile"):
                        out[k] = int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return out

    m0 = mem()
    rss0 = m0.get("VmRSS", 0.0)
    peak = {"rss": rss0, "anon": m0.get("RssAnon", 0.0), "file": m0.get("RssFile", 0.0), "stop": False}

    def sampler() -> None:
        while not peak["stop"]:
            m = mem()
            peak["rss"] = max(peak["rss"], m.get("VmRSS", 0.0))
            peak["anon"] = max(peak["anon"], m.get("RssAnon", 0.0))
            peak["file"] = max(peak["file"], m.get("RssFile", 0.0))
            time.sleep(0.02)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    out_path = Path(tempfile.mkdtemp(prefix="ffbench-huge-")) / "trace.json"
    try:
        t0 = time.perf_counter()
        for b in range(n_batches):
            body, _ = (tpl_last if b == n_batches - 1 else tpl).instantiate(new_trace_ids=False)
            post_otlp(ctx, s, exp, body)
        ingest_s = time.perf_counter() - t0
        peak_ingest = max(peak["rss"], mem().get("VmRSS", 0.0))
        t1 = time.perf_counter()
        r = s.get(ctx.url(f"{API3}/traces/get"), params={"trace_id": tid}, stream=True, timeout=600)
        if r.status_code != 200:
            raise RuntimeError(f"traces/get (huge) -> HTTP {r.status_code}: {r.text[:300]}")
        size = 0
        with open(out_path, "wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
                size += len(chunk)
        get_s = time.perf_counter() - t1
        time.sleep(0.1)
    finally:
        peak["stop"] = True
        th.join()
    hwm = _status_kib(pid, "VmHWM") / 1024.0
    with open(out_path, "rb") as f:
        tr = json.load(f)["trace"]
    spans = tr.get("spans", [])
    ids = {x["span_id"] for x in spans}
    ctx.check(len(spans) == n_batches * per and len(ids) == len(spans),
              f"huge_trace: traces/get returned {len(spans)} spans ({len(ids)} distinct), expected {n_batches * per}")
    ctx.check(tr["trace_info"].get("state") == "OK", f"huge_trace: trace state {tr['trace_info'].get('state')}")
    rm_tree(out_path.parent)
    s.close()
    return [
        Figure("huge_trace.ingest_s", f"huge_trace ingest {n_batches * per:,} spans", ingest_s, "s", "lower",
               note=f"{n_batches} sequential requests of {per} spans"),
        Figure("huge_trace.get_s", "huge_trace traces/get streamed to a file", get_s, "s", "lower",
               note=f"{size / 1048576:.0f} MiB body"),
        Figure("huge_trace.peak_rss", "huge_trace peak server RSS", peak["rss"], "MiB", "lower",
               note=f"VmRSS sampled every 20 ms: {rss0:.0f} MiB before, peak {peak_ingest:.0f} MiB by the end of "
                    f"ingest; VmHWM since start {hwm:.0f} MiB; peak RssAnon {peak['anon']:.0f} MiB, "
                    f"peak RssFile (mmap'd store) {peak['file']:.0f} MiB"),
        Figure("huge_trace.peak_anon", "huge_trace peak server RssAnon (heap, excl. mmap'd files)", peak["anon"], "MiB",
               "lower", info=True),
    ]


def create_version(ctx: Ctx, s: requests.Session, name: str, i: int) -> dict:
    return ctx.call(s, "POST", f"{API}/model-versions/create",
                    {"name": name, "source": f"s3://bench-bucket/models/{name}/{i}", "description": f"v{i}"})["model_version"]


@workload("registry", "model-version create/s, prompt load by alias, search_registered_models (1,000 models), concurrent create")
def wl_registry(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    s = ctx.session()
    tag = uuid.uuid4().hex[:6]
    figs: list[Figure] = []

    # 1. Sequential model-version registrations on one model.
    model = f"bench-reg-{tag}"
    ctx.call(s, "POST", f"{API}/registered-models/create", {"name": model})
    warm = f"bench-regwarm-{tag}"
    ctx.call(s, "POST", f"{API}/registered-models/create", {"name": warm})
    for i in range(cfg.warmup):
        create_version(ctx, s, warm, i)
    lat, versions = [], []
    t0 = time.perf_counter()
    for i in range(cfg.registry_versions):
        t1 = time.perf_counter()
        mv = create_version(ctx, s, model, i)
        lat.append(time.perf_counter() - t1)
        versions.append(mv["version"])
    took = time.perf_counter() - t0
    ctx.check(versions == [str(v) for v in range(1, cfg.registry_versions + 1)],
              f"registry: sequential versions are not 1..{cfg.registry_versions}: {versions[:5]}...")
    ctx.check(mv.get("status") == "READY", f"registry: created version status {mv.get('status')}")
    figs += [
        Figure("registry.create_version.per_s", f"model-versions/create x{cfg.registry_versions} (sequential)",
               cfg.registry_versions / took, "versions/s", "higher"),
        *latency_figures("registry.create_version", "model-versions/create", lat),
    ]

    # 2. Prompt load by alias (client cache off): the two REST calls the client makes, and the client itself.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=ctx.base_url, registry_uri=ctx.base_url)
    pname = f"bench-prompt-{tag}"
    template = "Answer the question {{question}} in the style of {{style}}."
    client.register_prompt(pname, template, commit_message="v1")
    client.register_prompt(pname, template + " Be brief.", commit_message="v2")
    client.set_prompt_alias(pname, "production", 1)

    def rest_pair():
        m = raw_call(ctx, "GET", f"{API}/registered-models/get", name=pname)
        v = raw_call(ctx, "GET", f"{API}/registered-models/alias", name=pname, alias="production")
        return m, v

    samples, (m, v) = timed_reps(rest_pair, cfg.get_run_reps, cfg.warmup)
    m, v = json.loads(m), json.loads(v)
    mtags = {t["key"]: t["value"] for t in m["registered_model"].get("tags", [])}
    vtags = {t["key"]: t["value"] for t in v["model_version"].get("tags", [])}
    ctx.check(mtags.get("mlflow.prompt.is_prompt") == "true" and v["model_version"]["version"] == "1"
              and vtags.get("mlflow.prompt.text") == template,
              "registry: prompt alias 'production' does not resolve to version 1 with its template")
    figs += latency_figures("registry.load_prompt", "load_prompt @alias (GET registered-models/get + /alias)", samples,
                            note=f"{cfg.get_run_reps} reps, keep-alive session")
    csamples, pv = timed_reps(lambda: client.load_prompt(f"prompts:/{pname}@production", cache_ttl_seconds=0),
                              cfg.client_calls // 2, cfg.warmup)
    ctx.check(pv.version == 1 and pv.template == template, "registry: client load_prompt returned the wrong version")
    figs += latency_figures("registry.client_load_prompt", "MlflowClient.load_prompt @alias, cache_ttl_seconds=0",
                            csamples, note=f"{cfg.client_calls // 2} reps (client also spawns a link-to-experiment thread per load)")

    # 3. search_registered_models over n models x 5 versions (populated in parallel).
    n_models, per = cfg.registry_models, 5
    prefix = f"bench-rm-{tag}-"

    def populate(ps: requests.Session, i: int) -> None:
        nm = f"{prefix}{i:05d}"
        r = ps.post(ctx.url(f"{API}/registered-models/create"), json={"name": nm, "tags": [{"key": "team", "value": f"t{i % 10}"}]}, timeout=120)
        if r.status_code != 200 and "RESOURCE_ALREADY_EXISTS" not in r.text:
            raise RuntimeError(f"registered-models/create -> HTTP {r.status_code}: {r.text[:200]}")
        have = len(ctx.call(ps, "GET", f"{API}/model-versions/search", filter=f"name = '{nm}'").get("model_versions", [])) if r.status_code != 200 else 0
        for j in range(have, per):
            create_version(ctx, ps, nm, j)

    t0 = time.perf_counter()
    errors = parallel(ctx, max(cfg.threads, 4), range(n_models), populate)
    populate_s = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"registry populate failed: {errors[0]}")
    figs.append(Figure("registry.populate_s", f"registry populate {n_models:,} models x {per} versions", populate_s, "s",
                       "lower", info=True, note=f"REST, {max(cfg.threads, 4)} threads"))
    queries = {
        "client": {"filter": "tag.`mlflow.prompt.is_prompt` != 'true'", "max_results": 100},
        "prefix": {"filter": f"name LIKE '{prefix}%' AND tag.`mlflow.prompt.is_prompt` != 'true'", "max_results": 100},
    }
    for qname, params in queries.items():
        samples, last = timed_reps(lambda: raw_call(ctx, "GET", f"{API}/registered-models/search", **params),
                                   cfg.search_reps, cfg.warmup)
        last = json.loads(last)
        rms = last.get("registered_models", [])
        names = [r_["name"] for r_ in rms]
        ctx.check(len(rms) == 100 and names == sorted(names) and bool(last.get("next_page_token")),
                  f"registry search[{qname}]: {len(rms)} models (want 100, sorted by name, with a next page)")
        ctx.check(not any(n_ == pname for n_ in names), f"registry search[{qname}]: a prompt leaked into model search")
        if qname == "prefix":
            ctx.check(all(n_.startswith(prefix) for n_ in names)
                      and all(str(per) in [lv["version"] for lv in r_.get("latest_versions", [])] for r_ in rms),
                      f"registry search[prefix]: wrong models or latest_versions is not version {per}")
        label = "search_registered_models (client default filter)" if qname == "client" else "search_registered_models name LIKE prefix"
        figs += latency_figures(f"registry.search_models.{qname}", label, samples,
                                note=f"{cfg.search_reps} reps, {n_models:,} models x {per} versions, page of 100")

    # 4. Concurrent registration: 100 versions of one model from 16 threads; versions must be exactly 1..100.
    cmodel = f"bench-conc-{tag}"
    ctx.call(s, "POST", f"{API}/registered-models/create", {"name": cmodel})
    n_conc, n_thr = 100, 16
    got: list[str] = []
    cerr: list[str] = []
    lock = threading.Lock()
    todo = iter(range(n_conc))
    barrier = threading.Barrier(n_thr)

    def conc_worker() -> None:
        ps = ctx.session()
        barrier.wait()
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                break
            r = ps.post(ctx.url(f"{API}/model-versions/create"),
                        json={"name": cmodel, "source": f"s3://bench-bucket/conc/{i}"}, timeout=120)
            with lock:
                if r.status_code == 200:
                    got.append(r.json()["model_version"]["version"])
                else:
                    cerr.append(f"HTTP {r.status_code}: {r.text[:200]}")
        ps.close()

    t0 = time.perf_counter()
    ths = [threading.Thread(target=conc_worker, daemon=True) for _ in range(n_thr)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    conc_s = time.perf_counter() - t0
    stored = [mv_["version"] for mv_ in ctx.call(s, "GET", f"{API}/model-versions/search", filter=f"name = '{cmodel}'",
                                                  max_results=1000).get("model_versions", [])]
    want = [str(v) for v in range(1, n_conc + 1)]
    ok = not cerr and sorted(got, key=int) == want and sorted(stored, key=int) == want
    ctx.check(ok, f"registry concurrent: {len(cerr)} errors (first: {cerr[:1]}), responses {len(got)} "
                  f"({len(set(got))} distinct), stored {len(stored)} versions; want exactly 1..{n_conc}")
    figs += [
        Figure("registry.concurrent.per_s", f"model-versions/create x{n_conc} from {n_thr} threads", n_conc / conc_s,
               "versions/s", "higher", note=f"{len(cerr)} errors"),
        Figure("registry.concurrent.ok", f"concurrent create: versions exactly 1..{n_conc}", 1.0 if ok else 0.0, "ok",
               "higher", info=True, note=f"{len(got)} answered, {len(set(got))} distinct, {len(stored)} stored, {len(cerr)} errors"),
    ]
    s.close()
    return figs


@workload("evaluate", "mlflow.genai.evaluate: 100 rows, 3 code scorers, trivial predict_fn (subprocess)")
def wl_evaluate(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    n = cfg.eval_rows
    name = f"bench-eval-{uuid.uuid4().hex[:8]}"
    res = run_client_script(ctx, EVALUATE_SCRIPT, {"experiment": name, "n": n}, {}, timeout=1800)
    s = ctx.session()
    exp, run_id = str(res["experiment_id"]), res["run_id"]
    got, _ = count_traces(ctx, s, exp, f"attribute.run_id = '{run_id}'")
    ctx.check(got == n, f"evaluate: {got} traces linked to the evaluation run, expected {n}")
    tr = search_traces_page(ctx, s, exp, f"attribute.run_id = '{run_id}'", 1).get("traces", [])
    names = {a.get("assessment_name") for a in (tr[0].get("assessments", []) if tr else []) if "feedback" in a}
    ctx.check({"is_nonempty", "answer_length", "mentions_question"} <= names,
              f"evaluate: a trace carries feedback {sorted(names)}, expected the 3 scorers")
    m = res.get("metrics", {})
    ctx.check(m.get("is_nonempty/mean") == 1.0 and m.get("mentions_question/mean") == 1.0,
              f"evaluate: unexpected aggregate metrics {m}")
    s.close()
    share = 100.0 * res["server_wait_s"] / res["seconds"]
    return [
        Figure("evaluate.wall_s", f"genai.evaluate {n} rows x 3 scorers", res["seconds"], "s", "lower",
               note=f"{res['requests']} HTTP requests, summed request time {res['request_s']:.1f} s (client threads overlap)"),
        Figure("evaluate.server_wait_s", "evaluate: time with ≥1 request in flight", res["server_wait_s"], "s", "lower",
               note=f"{share:.0f} % of wall (union of request intervals)"),
        Figure("evaluate.server_share", "evaluate: share of wall time waiting on the server", share, "%", "lower", info=True),
    ]


@workload("assessments", "POST traces/{id}/assessments p50; traces/search with feedback.<name> filter at 10,000 traces")
def wl_assessments(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    n = cfg.assess_traces
    pool = trace_pool(ctx, n)
    exp, ids = pool["exp"], pool["ids"][:n]
    fb_name = f"correct_{uuid.uuid4().hex[:6]}"  # unique per run of this workload: the pool may be reused
    url_of = lambda tid: ctx.url(f"{API3}/traces/{tid}/assessments")  # noqa: E731

    def body(i: int) -> dict:
        ts = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"assessment": {
            "assessment_name": fb_name, "trace_id": ids[i],
            "source": {"source_type": "CODE", "source_id": "ferroflow-bench"},
            "create_time": ts, "last_update_time": ts,
            "feedback": {"value": i % 5 == 0}, "rationale": "bench", "metadata": {"k": "v"}}}

    def create(ps: requests.Session, i: int) -> dict:
        r = ps.post(url_of(ids[i]), json=body(i), timeout=120)
        if r.status_code != 200:
            raise RuntimeError(f"create assessment -> HTTP {r.status_code}: {r.text[:200]}")
        return r.json()

    s = ctx.session()
    k = min(cfg.assess_timed, n)
    lat = []
    for i in range(k):  # the timed part: sequential creations on one keep-alive session
        t1 = time.perf_counter()
        a = create(s, i)
        lat.append(time.perf_counter() - t1)
    ctx.check(str(a["assessment"].get("assessment_id", "")).startswith("a-"),
              f"assessments: created assessment has id {a['assessment'].get('assessment_id')!r}")
    t0 = time.perf_counter()
    errors = parallel(ctx, cfg.threads, range(k, n), create)
    populate_s = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"assessments populate failed: {errors[0]}")
    filt = f"feedback.{fb_name} = 'true'"
    body = search_body(exp, filt)
    samples, last = timed_reps(lambda: raw_call(ctx, "POST", f"{API3}/traces/search", body), cfg.search_reps, cfg.warmup)
    tr = json.loads(last).get("traces", [])
    want_ids = {ids[i] for i in range(n) if i % 5 == 0}
    ctx.check(len(tr) == min(100, len(want_ids)) and all(t["trace_id"] in want_ids for t in tr),
              f"assessments: feedback filter returned {len(tr)} traces, not all with {fb_name}=true")
    ok_fb = all(any(a_.get("assessment_name") == fb_name and a_.get("feedback", {}).get("value") is True
                    for a_ in t.get("assessments", [])) for t in tr)
    ctx.check(ok_fb, "assessments: search results do not carry the matching feedback assessment")
    total, _ = count_traces(ctx, s, exp, filt)
    ctx.check(total == len(want_ids), f"assessments: feedback filter matches {total} traces in all, expected {len(want_ids)}")
    s.close()
    return [
        *latency_figures("assessments.create", "create feedback assessment", lat, note=f"{k} sequential creates"),
        Figure("assessments.populate_s", f"assessments: {n - k:,} more creates", populate_s, "s", "lower", info=True,
               note=f"{cfg.threads} threads"),
        *latency_figures("assessments.search_feedback", f"search_traces feedback filter @{n:,}", samples,
                         note=f"{cfg.search_reps} reps, {len(want_ids):,} matches, page of 100"),
    ]


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def bench_server(spec: ServerSpec, cfg: Config, selected: list[Workload], args) -> tuple[list[Figure], list[str]]:
    figs: list[Figure] = []
    checks: list[str] = []
    startups: list[float] = []
    log_dir = OUT_DIR / "logs"

    # Extra cold starts (each on its own fresh store) just for the start-up figure.
    samples = args.startup_samples or spec.startup_samples
    for k in range(1, samples):
        tmp = Path(tempfile.mkdtemp(prefix=f"ffbench-{spec.name}-start{k}-"))
        port = free_port()
        srv = ServerProc(spec.name, spec.make_cmd(port, tmp), log_dir / f"{spec.name}-start{k}.log", tmp)
        try:
            startups.append(srv.start(port, spec.start_timeout_s))
            print(f"[{spec.name}] cold start #{k}: /health after {startups[-1] * 1000:.1f} ms", flush=True)
        finally:
            srv.stop()
            rm_tree(tmp)

    tmp = Path(tempfile.mkdtemp(prefix=f"ffbench-{spec.name}-"))
    port = free_port()
    srv = ServerProc(spec.name, spec.make_cmd(port, tmp), log_dir / f"{spec.name}.log", tmp)
    print(f"[{spec.name}] starting: {' '.join(srv.cmd)}", flush=True)
    try:
        startups.append(srv.start(port, spec.start_timeout_s))
        print(f"[{spec.name}] /health OK after {startups[-1] * 1000:.1f} ms", flush=True)
        figs.append(Figure("startup.health_ms", "start → first /health 200", statistics.median(startups) * 1000, "ms",
                           "lower", note=f"median of {len(startups)} cold start(s), poll 2 ms"))

        rss, pss, nproc, big = settled_memory(srv.pid, args.settle)
        figs += [
            Figure("rss.idle", "idle RSS after start-up (tree)", rss, "MiB", "lower",
                   note=f"{nproc} process(es), largest {big:.0f} MiB"),
            Figure("pss.idle", "idle PSS after start-up (tree)", pss, "MiB", "lower", info=True),
        ]
        print(f"[{spec.name}] idle RSS {rss:.1f} MiB over {nproc} process(es)", flush=True)

        ctx = Ctx(spec.name, f"http://127.0.0.1:{port}", cfg, srv)
        for wl in selected:
            if not srv.alive():
                checks.append(f"server died before workload {wl.name}; log tail:\n{tail(srv.log_path)}")
                break
            print(f"[{spec.name}] workload {wl.name} ...", flush=True)
            t0 = time.perf_counter()
            cpu0 = tree_cpu_s(srv.pid)
            try:
                res = wl.fn(ctx)
                wall = time.perf_counter() - t0
                if res:  # a workload that does not apply to this server returns no figures
                    res.append(Figure(f"{wl.name}.server_cpu_s", f"server CPU during {wl.name}", tree_cpu_s(srv.pid) - cpu0,
                                      "s", "lower", info=True, note=f"workload wall time {wall:.1f} s"))
                figs += res
                for f in res:
                    print(f"[{spec.name}]   {f.label}: {fmt(f.value, f.unit)}", flush=True)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - a failing workload must not stop the others
                checks.append(f"workload {wl.name} failed: {e}")
                print(f"[{spec.name}]   FAILED: {e}", flush=True)
                if args.verbose:
                    traceback.print_exc()
            print(f"[{spec.name}]   ({time.perf_counter() - t0:.1f} s)", flush=True)
        checks += ctx.checks

        if srv.alive():
            rss, pss, nproc, big = settled_memory(srv.pid, args.settle)
            figs += [
                Figure("rss.after", "RSS after workloads (tree)", rss, "MiB", "lower",
                       note=f"{nproc} process(es), largest {big:.0f} MiB"),
                Figure("pss.after", "PSS after workloads (tree)", pss, "MiB", "lower", info=True),
            ]
            print(f"[{spec.name}] RSS after workloads {rss:.1f} MiB", flush=True)
    finally:
        srv.stop()
        if args.keep_tmp:
            print(f"[{spec.name}] kept store in {tmp}")
        else:
            rm_tree(tmp)
    return figs, checks


def fmt(v: float | None, unit: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit.endswith("/s"):
        return f"{v:,.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}"
    if unit == "ok":
        return "yes" if v >= 1 else "NO"
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "%":
        return f"{v:.0f} %"
    if unit == "ms":
        return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    if unit == "s":
        return f"{v:.2f} s"
    return f"{v:g} {unit}"


def ratio(ref: Figure | None, ff: Figure | None) -> float | None:
    """Bigger = ferroflow better: throughput ff/ref, everything else ref/ff."""
    if not ref or not ff or ref.value is None or ff.value is None or ref.info:
        return None
    if math.isnan(ref.value) or math.isnan(ff.value):
        return None
    a, b = (ff.value, ref.value) if ref.better == "higher" else (ref.value, ff.value)
    return a / b if b > 0 else None


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def goal_status(g: Goal, ref: Figure | None, ff: Figure | None) -> str:
    if g.kind == "ratio":
        r = ratio(ref, ff)
        if r is None:
            return "n/a"
        return ("PASS" if r >= g.threshold else "FAIL") + f" ({fmt_ratio(r)} vs ≥{g.threshold:g}x)"
    if not ff or ff.value is None or (isinstance(ff.value, float) and math.isnan(ff.value)):
        return "n/a"
    if ff.unit == "ok":
        return "PASS" if ff.value >= 1 else "FAIL"
    if g.kind == "min":
        return ("PASS" if ff.value >= g.threshold else "FAIL") + f" ({fmt(ff.value, ff.unit)} vs ≥{fmt(g.threshold, ff.unit)})"
    return ("PASS" if ff.value <= g.threshold else "FAIL") + f" ({fmt(ff.value, ff.unit)} vs ≤{fmt(g.threshold, ff.unit)})"


def render(results: dict[str, list[Figure]], checks: dict[str, list[str]], meta: dict) -> str:
    order: list[str] = []
    by: dict[str, dict[str, Figure]] = {}
    for server, figs in results.items():
        prev = -1  # a key only one server has goes right after that server's previous row
        for f in figs:
            if f.key not in order:
                order.insert(prev + 1, f.key)
            prev = order.index(f.key)
            by.setdefault(f.key, {})[server] = f
    goals: dict[str, list[Goal]] = {}
    for g in GOALS:
        goals.setdefault(g.key, []).append(g)
    rows = [["figure", "reference", "ferroflow", "ratio", "goal", "notes"]]
    for key in order:
        ref, ff = by[key].get("reference"), by[key].get("ferroflow")
        f = ff or ref
        gs = goals.get(key, [])
        if ref and ff and ref.note == ff.note:
            notes = ref.note
        else:
            notes = "; ".join(f"{n}: {x.note}" for n, x in (("ref", ref), ("ff", ff)) if x and x.note)
        rows.append([
            f"{f.label} [{f.unit}]" + (" (info)" if f.info else ""),
            fmt(ref.value, ref.unit) if ref else "—",
            fmt(ff.value, ff.unit) if ff else "—",
            "" if f.info else fmt_ratio(ratio(ref, ff)),
            "; ".join(goal_status(g, ref, ff) for g in gs),
            notes,
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out = [
        "# ferroflow benchmark — latest run",
        "",
        f"- date: {meta['date']}",
        f"- git: {meta['git']}",
        f"- machine: {meta['machine']}; {meta['load']}",
        f"- reference: mlflow {meta['mlflow']} (`mlflow server --workers 1`, SQLite)",
        f"- ferroflow: {meta['ferroflow']}",
        f"- mode: {meta['mode']}; workloads: {', '.join(meta['workloads'])}",
        "- ratio: bigger = ferroflow better (throughput ff/ref; latency, time and memory ref/ff)",
        "",
        *lines,
        "",
    ]
    problems = [(s, c) for s, cs in checks.items() for c in cs]
    out += ["## Checks", ""]
    if problems:
        out += [f"- **{s}**: {c}" for s, c in problems]
    else:
        out.append("- all result-shape checks passed")
    out.append("")
    return "\n".join(out)


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return (rev or "no commit") + (" (dirty)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def mlflow_version() -> str:
    try:
        from importlib.metadata import version

        return version("mlflow")
    except Exception:  # noqa: BLE001
        return "unknown"


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

    specs: list[ServerSpec] = []
    ff_desc = "skipped"
    if not args.skip_reference:
        if not (VENV_BIN / "mlflow").exists():
            sys.exit(f"{VENV_BIN / 'mlflow'} not found: create the .venv first (see bench/README.md)")
        specs.append(reference_spec())
    if not args.skip_ferroflow:
        if args.ferroflow_bin:
            ff_bin = args.ferroflow_bin.resolve()
        elif args.no_build:
            ff_bin = DEFAULT_FF_BIN
        else:
            ff_bin = build_ferroflow()
        if not ff_bin.exists():
            sys.exit(f"ferroflow binary {ff_bin} not found (use --skip-ferroflow to bench the reference only)")
        specs.append(ferroflow_spec(ff_bin))
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
        "workloads": [w.name for w in selected],
        "config": asdict(cfg),
    }
    md = render(results, checks, meta)
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
