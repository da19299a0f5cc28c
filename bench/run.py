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
    kind: str  # "ratio" (vs reference, bigger = ferroflow better) or "max" (absolute upper bound)
    threshold: float
    text: str


GOALS = [
    Goal("log_batch.metrics_per_s", "ratio", 20.0, "log_batch ≥ 20× reference metrics/s"),
    Goal("search_runs.all.p50", "ratio", 10.0, "search_runs p50 ≥ 10× faster (1,000 runs)"),
    Goal("search_runs.filtered.p50", "ratio", 10.0, "filtered search_runs p50 ≥ 10× faster (1,000 runs)"),
    Goal("rss.idle", "max", 15.0, "idle RSS ≤ 15 MiB"),
    Goal("startup.health_ms", "max", 100.0, "/health within 100 ms of process start"),
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


class Ctx:
    """What a workload gets: the server's URL plus helpers."""

    def __init__(self, server: str, base_url: str, cfg: Config, proc: ServerProc):
        self.server, self.base_url, self.cfg, self.proc = server, base_url, cfg, proc
        self.checks: list[str] = []  # correctness warnings surfaced in the report

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy/netrc lookups per request
        return s

    def url(self, path: str) -> str:
        return self.base_url + path

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


# Future workloads (trace ingest via OTLP, search_traces, get_trace, model registry, ...)
# go here: decorate a function with @workload("name", "description") and return Figures.


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
    if unit in ("metrics/s", "calls/s"):
        return f"{v:,.0f} {unit}"
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
    if not ff or ff.value is None:
        return "n/a"
    return ("PASS" if ff.value <= g.threshold else "FAIL") + f" ({fmt(ff.value, ff.unit)} vs ≤{g.threshold:g} {ff.unit})"


def render(results: dict[str, list[Figure]], checks: dict[str, list[str]], meta: dict) -> str:
    order: list[str] = []
    by: dict[str, dict[str, Figure]] = {}
    for server, figs in results.items():
        for f in figs:
            if f.key not in order:
                order.append(f.key)
            by.setdefault(f.key, {})[server] = f
    goals = {g.key: g for g in GOALS}
    rows = [["figure", "reference", "ferroflow", "ratio", "goal", "notes"]]
    for key in order:
        ref, ff = by[key].get("reference"), by[key].get("ferroflow")
        f = ff or ref
        g = goals.get(key)
        if ref and ff and ref.note == ff.note:
            notes = ref.note
        else:
            notes = "; ".join(f"{n}: {x.note}" for n, x in (("ref", ref), ("ff", ff)) if x and x.note)
        rows.append([
            f"{f.label} [{f.unit}]" + (" (info)" if f.info else ""),
            fmt(ref.value, ref.unit) if ref else "—",
            fmt(ff.value, ff.unit) if ff else "—",
            "" if f.info else fmt_ratio(ratio(ref, ff)),
            goal_status(g, ref, ff) if g else "",
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
