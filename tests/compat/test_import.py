"""`ferroflow import`: a database written by the reference `mlflow server`, with data the real
client made there (evaluation datasets and registered scorers included), copied into a new
ferroflow store (artifacts too), then read back through ferroflow by the real client and
compared with what the reference served. A second import copies nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, AssessmentSourceType
from mlflow.genai import datasets as genai_datasets
from mlflow.genai.scorers import RegexMatch

from conftest import REFERENCE_BIN, Server, _binary, s3_emulator

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="`ferroflow import` (the reference has no such command)",
)

HUMAN = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="alice@example.com")


@mlflow.trace(name="agent", span_type="AGENT")
def _agent(question: str) -> str:
    with mlflow.start_span(name="llm", span_type="LLM") as span:
        span.set_inputs({"q": question})
        span.set_outputs({"a": question.upper()})
        span.set_attribute("model", "tiny")
    return "answer: " + question


def _populate(url: str, tmp_path: Path) -> dict:
    """Data of every imported kind, made by the real client; returns names to find it by."""
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    suffix = uuid.uuid4().hex[:6]
    eid = client.create_experiment(f"imported-{suffix}", tags={"team": "search", "note": "ümlaut"})
    other = client.create_experiment(f"gone-{suffix}")
    client.delete_experiment(other)
    runs = []
    for i in range(3):
        run = client.create_run(eid, run_name=f"run-{i}", tags={"kind": "sweep"})
        rid = run.info.run_id
        client.log_param(rid, "lr", str(0.1 * (i + 1)))
        client.log_param(rid, "layers", "4")
        for step in range(5):
            client.log_metric(rid, "loss", 1.0 / (step + 1 + i), step=step, timestamp=1_700_000_000_000 + step)
        client.log_metric(rid, "acc", float("nan"), step=0, timestamp=1_700_000_000_000)
        status = "FINISHED" if i < 2 else "FAILED"
        client.set_terminated(rid, status=status, end_time=1_700_000_100_000 + i)
        runs.append(rid)
    (tmp_path / "model.txt").write_text("weights v1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(bytes(range(256)) * 4)
    client.log_artifact(runs[0], str(tmp_path / "model.txt"), artifact_path="model")
    client.log_artifacts(runs[0], str(tmp_path / "sub"), artifact_path="sub")
    client.delete_run(runs[2])

    logged = mlflow.initialize_logged_model(
        name="agent-v1", source_run_id=runs[0], experiment_id=eid, model_type="agent",
        params={"alpha": "0.5", "prompt": "be brief"}, tags={"stage": "dev"},
    )  # fmt: skip
    mlflow.finalize_logged_model(logged.model_id, "READY")
    client.log_metric(runs[0], "score", 0.9, step=1, timestamp=1_700_000_000_500, model_id=logged.model_id)
    client.log_metric(runs[0], "score", 0.95, step=2, timestamp=1_700_000_000_600, model_id=logged.model_id)
    dropped = mlflow.initialize_logged_model(name="dropped", experiment_id=eid)
    client.delete_logged_model(dropped.model_id)

    model = f"reg-{suffix}"
    client.create_registered_model(model, tags={"owner": "ml"}, description="a model")
    for rid in runs[:2]:
        client.create_model_version(model, f"runs:/{rid}/model", run_id=rid, tags={"from": rid[:6]})
    client.create_model_version(model, f"runs:/{runs[0]}/model", run_id=runs[0])
    client.delete_model_version(model, "3")
    client.set_registered_model_alias(model, "champion", "2")
    client.update_model_version(model, "1", description="first")

    prompt = f"prompt-{suffix}"
    mlflow.genai.register_prompt(prompt, "Hello {{name}}", commit_message="v1")
    mlflow.genai.register_prompt(prompt, "Hi {{name}}!", commit_message="v2")
    mlflow.genai.set_prompt_alias(prompt, "production", 1)

    mlflow.set_experiment(experiment_id=eid)
    traces = []
    for q in ("alpha", "beta"):
        _agent(q)
        traces.append(mlflow.get_last_active_trace_id())
    mlflow.flush_trace_async_logging()
    mlflow.log_feedback(trace_id=traces[0], name="quality", value=0.5, source=HUMAN, rationale="meh")
    mlflow.log_expectation(trace_id=traces[0], name="expected", value={"a": "ALPHA"}, source=HUMAN)
    mlflow.set_trace_tag(traces[1], "reviewed", "yes")

    # An evaluation dataset linked to two experiments, with tags and records: by hand (outputs,
    # expectations, tags), updated by a second merge, and one made from a trace.
    dataset = genai_datasets.create_dataset(
        name=f"qa-{suffix}", experiment_id=[eid, "0"], tags={"stage": "dev", "team": "ml"}
    )
    dataset.merge_records([
        {"inputs": {"question": "What is MLflow?"}, "expectations": {"expected_response": "A platform"},
         "tags": {"t": "1"}},
        {"inputs": {"question": "What is Spark?", "n": 2}, "outputs": {"answer": "An engine", "score": 0.5}},
        {"inputs": {"question": "Nothing?"}, "outputs": None, "expectations": {"nested": {"a": [1, 2, None]}}},
    ])  # fmt: skip
    dataset.merge_records([{"inputs": {"question": "What is MLflow?"}, "expectations": {"extra": True}}])
    dataset.merge_records([mlflow.get_trace(traces[0])])
    genai_datasets.set_dataset_tags(dataset_id=dataset.dataset_id, tags={"reviewed": "yes"})

    # A registered scorer with two versions (a built-in one: the reference server refuses
    # custom code unless told to accept it).
    scorer = f"starts_with_{suffix}"
    RegexMatch(pattern="^answer").register(name=scorer, experiment_id=eid)
    RegexMatch(pattern="^A").register(name=scorer, experiment_id=eid)
    return {
        "eid": eid, "other": other, "runs": runs, "model": model, "prompt": prompt, "traces": traces,
        "logged models": [logged.model_id, dropped.model_id], "dataset": dataset.dataset_id,
        "scorer": scorer,
    }  # fmt: skip


def dataset_records(ds) -> list:
    """A dataset's records: the entity has them as `records`; the `mlflow.genai` wrapper of
    newer clients keeps the entity inside."""
    entity = getattr(ds, "_mlflow_dataset", None) or ds
    return entity.records


def _snapshot(url: str, made: dict, tmp_path: Path) -> dict:
    """Everything the client reads back of the data `_populate` made."""
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    out: dict = {}
    for eid in (made["eid"], made["other"]):
        e = client.get_experiment(eid)
        out[f"experiment {eid}"] = (e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.tags)
    for rid in made["runs"]:
        r = client.get_run(rid)
        info = r.info
        out[f"run {rid}"] = (
            info.run_name, info.experiment_id, info.status, info.start_time, info.end_time,
            info.artifact_uri, info.lifecycle_stage, info.user_id,
            r.data.params, {k: str(v) for k, v in r.data.metrics.items()},
            {k: v for k, v in r.data.tags.items()},
            [(m.step, m.timestamp, str(m.value)) for m in client.get_metric_history(rid, "loss")],
        )  # fmt: skip
    rid = made["runs"][0]
    out["artifacts"] = sorted((f.path, f.is_dir, f.file_size) for f in client.list_artifacts(rid))
    out["artifacts sub"] = sorted((f.path, f.file_size) for f in client.list_artifacts(rid, "sub"))
    dst = Path(client.download_artifacts(rid, "", str(tmp_path / f"dl-{uuid.uuid4().hex[:6]}")))
    out["artifact bytes"] = sorted((str(p.relative_to(dst)), p.read_bytes()) for p in dst.rglob("*") if p.is_file())
    for model_id in made["logged models"][:1]:  # the other is deleted
        lm = client.get_logged_model(model_id)
        out[f"logged model {model_id}"] = (
            lm.name, lm.experiment_id, str(lm.status), lm.creation_timestamp, lm.last_updated_timestamp,
            lm.artifact_location, lm.model_type, lm.source_run_id, lm.params, lm.tags,
            sorted((m.key, m.value, m.step, m.timestamp, m.run_id) for m in lm.metrics or []),
        )  # fmt: skip
    found = client.search_logged_models(experiment_ids=[made["eid"]])
    out["search logged models"] = sorted(lm.model_id for lm in found)
    m = client.get_registered_model(made["model"])
    out["model"] = (m.name, m.description, m.creation_timestamp, m.tags, m.aliases)
    out["versions"] = sorted(
        (v.version, v.source, v.run_id, v.description, v.tags, v.current_stage, v.creation_timestamp)
        for v in client.search_model_versions(f"name = '{made['model']}'")
    )
    p1 = mlflow.genai.load_prompt(f"prompts:/{made['prompt']}@production")
    p2 = mlflow.genai.load_prompt(made["prompt"], version=2)
    out["prompt"] = (p1.version, p1.template, p2.version, p2.template, p2.commit_message)
    for tid in made["traces"]:
        t = mlflow.get_trace(tid)
        info = t.info
        out[f"trace {tid}"] = (
            info.experiment_id if hasattr(info, "experiment_id") else None,
            info.request_time, info.execution_duration, str(info.state),
            info.request_preview, info.response_preview,
            {k: v for k, v in info.tags.items() if k != "mlflow.artifactLocation"},
            sorted((s.name, s.span_type, s.parent_id, s.start_time_ns, s.end_time_ns,
                    str(s.inputs), str(s.outputs)) for s in t.data.spans),
            sorted((a.assessment_id, a.name, str(getattr(a, "value", None)), a.rationale, a.valid)
                   for a in info.assessments),
        )  # fmt: skip
    found = mlflow.search_traces(locations=[made["eid"]], return_type="list")
    out["search traces"] = sorted(t.info.trace_id for t in found)

    ds = genai_datasets.get_dataset(dataset_id=made["dataset"])
    out["dataset"] = (
        ds.name, ds.digest, ds.created_time, ds.last_update_time, ds.created_by, ds.last_updated_by,
        ds.tags, ds.schema, ds.profile, sorted(ds.experiment_ids),
    )  # fmt: skip
    out["dataset records"] = sorted(
        (r.dataset_record_id, json.dumps(r.inputs, sort_keys=True), json.dumps(r.outputs, sort_keys=True),
         json.dumps(r.expectations, sort_keys=True), r.tags, r.source.to_dict() if r.source else None,
         r.source_id, r.source_type, r.created_time, r.last_update_time, r.created_by, r.last_updated_by)
        for r in dataset_records(ds)
    )  # fmt: skip
    for eid in (made["eid"], "0"):
        found = genai_datasets.search_datasets(experiment_ids=[eid])
        out[f"datasets of {eid}"] = sorted(d.dataset_id for d in found if d.dataset_id == made["dataset"])
    store = client._tracking_client.store
    out["scorer versions"] = [
        (v.scorer_name, v.scorer_version, v._serialized_scorer, v.creation_time, v.scorer_id, str(v.experiment_id))
        for v in store.list_scorer_versions(made["eid"], made["scorer"])
    ]  # fmt: skip
    latest = store.get_scorer(made["eid"], made["scorer"])
    out["scorer"] = (latest.scorer_version, latest.scorer_id, latest._serialized_scorer)
    out["scorers"] = sorted((v.scorer_name, v.scorer_version) for v in store.list_scorers(made["eid"]))
    return out


def _import(target: Server, source: Server) -> str:
    """Imports the reference server's database (SQLite or PostgreSQL) and artifacts into the
    store and artifact destination `target` serves (SQLite, or a database of its own on
    PostgreSQL in that pass of the suite)."""
    cmd = [
        target.binary, "import",
        "--from", source.backend_store_uri,
        # A directory, or the bucket prefix when the suite runs with S3 artifacts.
        "--artifacts-from", source.artifacts_destination,
        "--backend-store-uri", target.backend_store_uri,
        "--artifacts-destination", target.artifacts_destination,
    ]  # fmt: skip
    env = {**os.environ, **target.env}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=target.workdir)
    assert done.returncode == 0, f"import failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _artifact_files(srv: Server) -> list[str]:
    """Every artifact file the server stored, relative to its destination (a directory or a
    bucket prefix)."""
    destination = srv.artifacts_destination
    if destination.startswith("s3://"):
        prefix = destination.split("/", 3)[3].rstrip("/") + "/"
        return sorted(key[len(prefix):] for key in s3_emulator().objects(prefix))
    root = Path(destination)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _summary(stdout: str) -> dict:
    rows = {}
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["table", "source"])
    for line in lines[header + 1 :]:
        *name, source, copied, skipped, there = line.split()
        rows[" ".join(name)] = (int(source), int(copied), int(skipped), int(there))
    return rows


@pytest.mark.parametrize("source", ["sqlite", "postgresql"])
def test_import_of_a_reference_database_reads_back_equal(fresh_server, tmp_path, source):
    """`source`: the database the reference server writes, SQLite or PostgreSQL (on the test
    cluster `cargo xtask test` starts, in both passes of the suite)."""
    postgres_admin_url = None
    if source == "postgresql":
        postgres_admin_url = os.environ.get("FERROFLOW_TEST_POSTGRES_URL")
        if not postgres_admin_url:
            pytest.skip("needs FERROFLOW_TEST_POSTGRES_URL (cargo xtask test sets it)")
    # The test points the fluent API at its own servers; the suite's server comes back after.
    shared_uri = mlflow.get_tracking_uri()
    try:
        _import_and_compare(fresh_server, tmp_path, postgres_admin_url)
    finally:
        mlflow.set_tracking_uri(shared_uri)
        mlflow.set_experiment(experiment_id="0")


def _import_and_compare(fresh_server, tmp_path, postgres_admin_url):
    reference = fresh_server(binary=REFERENCE_BIN, postgres_admin_url=postgres_admin_url)
    if postgres_admin_url:
        assert reference.backend_store_uri.startswith("postgresql+psycopg2://"), reference.backend_store_uri
    made = _populate(reference.url, tmp_path)
    before = _snapshot(reference.url, made, tmp_path)
    reference.stop()

    srv = Server(_binary(), Path(tempfile.mkdtemp(prefix="ferroflow-import-")))
    try:
        _import_into(srv, reference, made, before)
    finally:
        srv.stop()
        srv.drop_database()


def _import_into(srv: Server, reference: Server, made: dict, before: dict) -> None:
    first = _summary(_import(srv, reference))
    for table, (source, copied, skipped, there) in first.items():
        assert there == source, (table, first)
    # 2 created + Default; 3 runs; a model and a prompt; 2 traces; every file of the reference.
    assert first["experiments"] == (3, 3, 0, 3), first
    assert first["runs"] == (3, 3, 0, 3), first
    assert first["logged models"] == (2, 2, 0, 2), first
    assert first["registered models"] == (2, 2, 0, 2), first
    assert first["traces"] == (2, 2, 0, 2), first
    assert first["evaluation datasets"] == (1, 1, 0, 1), first
    assert first["scorers"] == (1, 1, 0, 1), first
    files = _artifact_files(reference)
    assert first["artifact files"] == (len(files),) * 2 + (0, len(files)), (first, files)

    again = _summary(_import(srv, reference))
    assert all(copied == 0 and skipped == source for source, copied, skipped, _ in again.values()), again

    srv.start()
    after = _snapshot(srv.url, made, srv.workdir)
    for key in before:
        assert after[key] == before[key], key
    assert after == before
    # What the import copied is the store's own: it takes new records and versions as usual.
    mlflow.set_tracking_uri(srv.url)
    dataset = genai_datasets.get_dataset(dataset_id=made["dataset"])
    dataset.merge_records([{"inputs": {"question": "New?"}}])
    assert len(dataset_records(genai_datasets.get_dataset(dataset_id=made["dataset"]))) == len(before["dataset records"]) + 1
    v3 = RegexMatch(pattern="^B").register(name=made["scorer"], experiment_id=made["eid"])
    store = MlflowClient(srv.url)._tracking_client.store
    latest = store.get_scorer(made["eid"], made["scorer"])
    assert (latest.scorer_version, latest.scorer_id) == (3, before["scorer"][1]), (v3, latest)
