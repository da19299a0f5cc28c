"""The harness: the result model (figures and goals), the context a workload gets, the
workload registry, REST helpers shared by workloads, and ``bench_server``, which starts one
server, measures start-up and memory, and runs the selected workloads against it."""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests

from .otlp import OTLP_HEADERS
from .report import fmt
from .servers import QUIET_ENV, ROOT, ServerProc, ServerSpec, free_port, rm_tree, settled_memory, tail, tree_cpu_s

OUT_DIR = ROOT / "bench" / "out"
CLIENTS_DIR = ROOT / "bench" / "clients"  # the scripts run_client_script runs

API = "/api/2.0/mlflow"
API3 = "/api/3.0/mlflow"


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


# Goals on the figures every server run produces (start-up, idle memory); each workload
# declares the goals on its own figures in its @workload decorator.
HARNESS_GOALS = [
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
    goals: list[Goal] = field(default_factory=list)  # targets on the figures this workload returns


WORKLOADS: dict[str, Workload] = {}  # in registration order, which is the order they run in


def workload(name: str, description: str, goals: list[Goal] | None = None):
    """Registers a workload; `goals` are the targets (PASS/FAIL column) on the keys of its figures."""

    def deco(fn: Callable[[Ctx], list[Figure]]):
        WORKLOADS[name] = Workload(name, description, fn, list(goals or []))
        return fn

    return deco


def all_goals() -> list[Goal]:
    """Every goal the report checks: the harness's own, then each workload's."""
    return HARNESS_GOALS + [g for w in WORKLOADS.values() for g in w.goals]


def now_ms() -> int:
    return int(time.time() * 1000)



# --------------------------------------------------------------------------
# REST helpers shared by workloads
# --------------------------------------------------------------------------


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



def run_client_script(ctx: Ctx, script: str, args: dict, env_extra: dict, timeout: float) -> dict:
    """Runs ``bench/clients/<script>`` with the real client in a subprocess, its arguments as one
    JSON argument (plus ``uri``: the server's URL); returns the JSON of its ``BENCH_RESULT`` line."""
    env = dict(os.environ)
    env.update(QUIET_ENV)
    env.update(env_extra)
    args = {"uri": ctx.base_url, **args}
    r = subprocess.run([sys.executable, str(CLIENTS_DIR / script), json.dumps(args)], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=tempfile.gettempdir())
    line = next((l for l in reversed(r.stdout.splitlines()) if l.startswith("BENCH_RESULT ")), None)
    if r.returncode != 0 or line is None:
        raise RuntimeError(f"client subprocess failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    return json.loads(line[len("BENCH_RESULT "):])



# --------------------------------------------------------------------------
# One server's run
# --------------------------------------------------------------------------


def spec_env(spec: ServerSpec) -> dict[str, str] | None:
    """The server's environment: ours, plus what its deployment adds."""
    return {**os.environ, **spec.env} if spec.env else None


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
        srv = ServerProc(spec.name, spec.make_cmd(port, tmp), log_dir / f"{spec.name}-start{k}.log", tmp, env=spec_env(spec))
        try:
            startups.append(srv.start(port, spec.start_timeout_s))
            print(f"[{spec.name}] cold start #{k}: /health after {startups[-1] * 1000:.1f} ms", flush=True)
        finally:
            srv.stop()
            rm_tree(tmp)

    tmp = Path(tempfile.mkdtemp(prefix=f"ffbench-{spec.name}-"))
    port = free_port()
    srv = ServerProc(spec.name, spec.make_cmd(port, tmp), log_dir / f"{spec.name}.log", tmp, env=spec_env(spec))
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

