"""Tracing workloads: OTLP span ingest, the real client's ``@mlflow.trace``, ``traces/search`` at
two sizes, ``traces/get`` of a 100-span trace, and one 100,000-span trace (ferroflow only).
The 1-span trace pool here is shared with the assessments workload."""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
import uuid
from pathlib import Path

from ..harness import (
    API3,
    Ctx,
    Figure,
    Goal,
    count_traces,
    iso_ns,
    latency_figures,
    parallel,
    pct,
    post_otlp,
    raw_call,
    run_client_script,
    search_body,
    search_traces_page,
    timed_reps,
    workload,
)
from ..otlp import OTLP_HEADERS, OtlpTemplate, SpanSpec, encode_otlp
from ..servers import rm_tree, status_kib


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



@workload("otlp_ingest", "POST /v1/traces, 4 threads x pre-encoded protobuf requests of 500 spans (10-span traces)", goals=[
    Goal("otlp_ingest.spans_per_s", "ratio", 50.0, "OTLP ingest ≥ 50× reference spans/s"),
    Goal("otlp_ingest.spans_per_s", "min", 100_000.0, "OTLP ingest ≥ 100,000 spans/s (absolute)"),
])
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



@workload("client_traces", "the real client: @mlflow.trace nested functions (3 spans/trace), synchronous export")
def wl_client_traces(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    n = cfg.client_traces
    name = f"bench-client-traces-{uuid.uuid4().hex[:8]}"
    res = run_client_script(ctx, "bench_client_traces.py", {"experiment": name, "n": n, "warmup": 3},
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


@workload("search_traces", "POST traces/search (max_results 100; no filter and a tag filter) at 1,000 and 10,000 traces", goals=[
    Goal("search_traces.all_1000.p50", "ratio", 20.0, "search_traces p50 ≥ 20× faster (1,000 traces)"),
    Goal("search_traces.tag_1000.p50", "ratio", 20.0, "filtered search_traces p50 ≥ 20× faster (1,000 traces)"),
    Goal("search_traces.all_10000.p50", "ratio", 20.0, "search_traces p50 ≥ 20× faster (10,000 traces)"),
    Goal("search_traces.tag_10000.p50", "ratio", 20.0, "filtered search_traces p50 ≥ 20× faster (10,000 traces)"),
    Goal("search_traces.all.scale", "max", 2.0, "search_traces p50 at 10k ≤ 2× p50 at 1k"),
    Goal("search_traces.tag.scale", "max", 2.0, "filtered search_traces p50 at 10k ≤ 2× p50 at 1k"),
])
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


@workload("huge_trace", "ferroflow only: one 100,000-span trace (20 x 5,000-span requests), then traces/get streamed; peak RSS", goals=[
    Goal("huge_trace.peak_rss", "max", 200.0, "100,000-span trace: peak RSS < 200 MiB"),
])
def wl_huge_trace(ctx: Ctx) -> list[Figure]:
    if ctx.server != "ferroflow":
        print(f"[{ctx.server}]   huge_trace: skipped (ferroflow only)", flush=True)
        return []
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
    hwm = status_kib(pid, "VmHWM") / 1024.0
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

