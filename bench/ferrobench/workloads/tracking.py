"""Tracking workloads: metric ingest (``log_batch``), ``runs/search``, ``runs/get`` and the real
client's ``log_metric`` loop."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid

from ..harness import API, Ctx, Figure, Goal, latency_figures, now_ms, workload


def run_data(i: int, rng: random.Random) -> tuple[list[dict], list[dict], list[dict], dict]:
    """5 params, 5 metrics, 5 tags for run number i; also returns the values used by filters."""
    ts = now_ms()
    m = [rng.random() for _ in range(5)]
    params = [{"key": f"p{k}", "value": f"v{(i + k) % 10}"} for k in range(5)]
    metrics = [{"key": f"m{k}", "value": m[k], "timestamp": ts, "step": 0} for k in range(5)]
    tags = [{"key": f"t{k}", "value": f"tag-{i % 7}-{k}"} for k in range(5)]
    return params, metrics, tags, {"m0": m[0], "m1": m[1], "p0": params[0]["value"]}


@workload("log_batch", "POST runs/log-batch, N threads x 1000 metrics/request for a fixed duration", goals=[
    Goal("log_batch.metrics_per_s", "ratio", 20.0, "log_batch ≥ 20× reference metrics/s"),
])
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


@workload("search_runs", "POST runs/search over 1,000 runs (5 params/metrics/tags each), plain and filtered+ordered", goals=[
    Goal("search_runs.all.p50", "ratio", 10.0, "search_runs p50 ≥ 10× faster (1,000 runs)"),
    Goal("search_runs.filtered.p50", "ratio", 10.0, "filtered search_runs p50 ≥ 10× faster (1,000 runs)"),
])
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

