"""Model registry workload: version registrations, prompt load by alias, registered-model search
over 1,000 models, and concurrent registrations that must number versions exactly."""

from __future__ import annotations

import json
import threading
import time
import uuid

import requests

from ..harness import API, Ctx, Figure, Goal, latency_figures, parallel, raw_call, timed_reps, workload


def create_version(ctx: Ctx, s: requests.Session, name: str, i: int) -> dict:
    return ctx.call(s, "POST", f"{API}/model-versions/create",
                    {"name": name, "source": f"s3://bench-bucket/models/{name}/{i}", "description": f"v{i}"})["model_version"]


@workload("registry", "model-version create/s, prompt load by alias, search_registered_models (1,000 models), concurrent create", goals=[
    Goal("registry.create_version.per_s", "ratio", 10.0, "model-version registrations/s ≥ 10× reference"),
    Goal("registry.load_prompt.p50", "ratio", 10.0, "load_prompt by alias p50 ≥ 10× faster"),
    Goal("registry.search_models.client.p50", "ratio", 10.0, "search_registered_models p50 ≥ 10× faster (1,000 models)"),
    Goal("registry.concurrent.ok", "min", 1.0, "16-thread registration yields exactly versions 1..100"),
])
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

