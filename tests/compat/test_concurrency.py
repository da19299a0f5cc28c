"""64 writers at once on the same run, trace, dataset and registered model, through the real
client: no write is lost, none lands twice, and version numbers are 1..64 without a gap or a
duplicate. All writers start together (a barrier) so their requests overlap on the server."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import mlflow
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, AssessmentSourceType
from mlflow.genai import datasets as genai_datasets

WRITERS = 64


def _together(work) -> list:
    """Runs `work(i)` for i in 0..WRITERS on as many threads, started at the same moment."""
    start = threading.Barrier(WRITERS)

    def run(i: int):
        start.wait(timeout=120)
        return work(i)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return list(pool.map(run, range(WRITERS)))


def test_64_writers_on_one_run(server):
    client = MlflowClient(server.url)
    experiment = client.create_experiment(f"concurrency-{uuid.uuid4().hex}")
    run_id = client.create_run(experiment).info.run_id
    ts = int(time.time() * 1000)

    def write(i: int) -> None:
        c = MlflowClient(server.url)
        c.log_metric(run_id, "shared", float(i), timestamp=ts, step=i)
        c.log_param(run_id, f"p{i}", str(i))
        c.set_tag(run_id, f"t{i}", str(i))

    _together(write)
    run = client.get_run(run_id)
    assert run.data.params == {f"p{i}": str(i) for i in range(WRITERS)}
    assert {k: v for k, v in run.data.tags.items() if k.startswith("t")} == {f"t{i}": str(i) for i in range(WRITERS)}
    history = client.get_metric_history(run_id, "shared")
    assert sorted((m.step, m.value) for m in history) == [(i, float(i)) for i in range(WRITERS)]


def test_64_writers_on_one_trace(server):
    client = MlflowClient(server.url)
    experiment = client.create_experiment(f"concurrency-{uuid.uuid4().hex}")
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_span(name="shared") as span:
        span.set_inputs({"q": "one trace, many writers"})
    trace_id = span.trace_id
    mlflow.flush_trace_async_logging()
    source = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="writer")

    def write(i: int) -> str:
        c = MlflowClient(server.url)
        c.set_trace_tag(trace_id, f"tag{i}", str(i))
        return mlflow.log_feedback(trace_id=trace_id, name=f"f{i}", value=i, source=source).assessment_id

    ids = _together(write)
    assert len(set(ids)) == WRITERS
    trace = client.get_trace(trace_id)
    assert {k: v for k, v in trace.info.tags.items() if k.startswith("tag")} == {f"tag{i}": str(i) for i in range(WRITERS)}
    assert sorted((a.name, a.value) for a in trace.info.assessments) == sorted((f"f{i}", i) for i in range(WRITERS))


def test_64_writers_on_one_dataset(server):
    client = MlflowClient(server.url)
    experiment = client.create_experiment(f"concurrency-{uuid.uuid4().hex}")
    dataset = genai_datasets.create_dataset(name=f"ds-{uuid.uuid4().hex}", experiment_id=experiment)

    def write(i: int) -> None:
        mine = genai_datasets.get_dataset(dataset_id=dataset.dataset_id)
        mine.merge_records([{"inputs": {"q": f"question {i}"}, "expectations": {"a": i}}])

    _together(write)
    df = genai_datasets.get_dataset(dataset_id=dataset.dataset_id).to_df()
    got = sorted((row["inputs"]["q"], row["expectations"]["a"]) for _, row in df.iterrows())
    assert got == sorted((f"question {i}", i) for i in range(WRITERS))


def test_64_writers_on_one_registered_model(server):
    client = MlflowClient(server.url)
    name = f"concurrency-{uuid.uuid4().hex}"
    client.create_registered_model(name)

    def write(i: int) -> str:
        c = MlflowClient(server.url)
        version = c.create_model_version(name, f"s3://bucket/model-{i}", tags={"i": str(i)}).version
        c.set_registered_model_tag(name, f"t{i}", str(i))
        return version

    versions = _together(write)
    assert sorted(int(v) for v in versions) == list(range(1, WRITERS + 1))
    stored = client.search_model_versions(f"name = '{name}'", max_results=200)
    assert sorted(int(v.version) for v in stored) == list(range(1, WRITERS + 1))
    assert all(v.source == f"s3://bucket/model-{v.tags['i']}" for v in stored)
    tags = client.get_registered_model(name).tags
    assert {k: v for k, v in tags.items() if k.startswith("t")} == {f"t{i}": str(i) for i in range(WRITERS)}
