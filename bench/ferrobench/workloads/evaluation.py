"""Evaluation workloads: ``mlflow.genai.evaluate`` through the real client, and assessments
(creation, then ``traces/search`` by feedback) on the shared trace pool."""

from __future__ import annotations

import datetime as _dt
import json
import time
import uuid

import requests

from ..harness import (
    API3,
    Ctx,
    Figure,
    Goal,
    count_traces,
    latency_figures,
    parallel,
    raw_call,
    run_client_script,
    search_body,
    search_traces_page,
    timed_reps,
    workload,
)
from .traces import trace_pool


@workload("evaluate", "mlflow.genai.evaluate: 100 rows, 3 code scorers, trivial predict_fn (subprocess)")
def wl_evaluate(ctx: Ctx) -> list[Figure]:
    cfg = ctx.cfg
    n = cfg.eval_rows
    name = f"bench-eval-{uuid.uuid4().hex[:8]}"
    res = run_client_script(ctx, "bench_evaluate.py", {"experiment": name, "n": n}, {}, timeout=1800)
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


@workload("assessments", "POST traces/{id}/assessments p50; traces/search with feedback.<name> filter at 10,000 traces", goals=[
    Goal("assessments.search_feedback.p50", "ratio", 20.0, "feedback-filtered search_traces p50 ≥ 20× faster (10,000 traces)"),
])
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


