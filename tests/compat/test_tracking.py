"""The tracking API as the real `mlflow` client uses it: experiments, runs, params, metrics, tags,
artifacts, search, datasets, errors and concurrent logging.

Every test asserts on what the server sends back, so none of them passes against a server that
lacks the feature. Errors that the client could raise by itself are checked to be
`RestException`s, i.e. to come from the server.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import mlflow
import mlflow.artifacts
import mlflow.data
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException, RestException

RUN_ID = re.compile(r"[0-9a-f]{32}")


def now_ms() -> int:
    return int(time.time() * 1000)


def unique(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def assert_server_alive(client: MlflowClient) -> None:
    """The server still answers a real query after an error."""
    assert client.get_experiment("0").name == "Default"


# --------------------------------------------------------------------------------------------
# Experiments
# --------------------------------------------------------------------------------------------


def test_set_experiment_creates_then_reuses(client):
    name = unique()
    assert client.get_experiment_by_name(name) is None
    first = mlflow.set_experiment(name)
    second = mlflow.set_experiment(name)
    assert first.experiment_id == second.experiment_id
    assert first.experiment_id.isdigit() and first.experiment_id != "0"
    assert first.name == name
    assert first.lifecycle_stage == "active"
    found = client.search_experiments(filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in found] == [first.experiment_id]
    # set_experiment by id reaches the same experiment.
    assert mlflow.set_experiment(experiment_id=first.experiment_id).name == name


def test_default_experiment_exists(client):
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == "active"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_get_experiment_fields_and_tags(client):
    name = unique()
    before = now_ms()
    exp_id = client.create_experiment(name, tags={"created_with": "tag"})
    exp = client.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == name
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert exp.lifecycle_stage == "active"
    assert exp.tags == {"created_with": "tag"}
    assert before - 5_000 <= exp.creation_time <= now_ms() + 5_000
    assert exp.last_update_time >= exp.creation_time

    client.set_experiment_tag(exp_id, "team", "ml")
    client.set_experiment_tag(exp_id, "team", "ml-platform")  # overwrite
    by_name = client.get_experiment_by_name(name)
    assert by_name.experiment_id == exp_id
    assert by_name.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert by_name.tags == {"created_with": "tag", "team": "ml-platform"}

    client.delete_experiment_tag(exp_id, "created_with")
    assert client.get_experiment(exp_id).tags == {"team": "ml-platform"}


def test_search_experiments_filter_and_order(client):
    prefix = unique("test-search")
    ids = {}
    for suffix in ["b", "a", "c"]:
        ids[suffix] = client.create_experiment(f"{prefix}-{suffix}", tags={"suffix": suffix})

    names = [
        e.name
        for e in client.search_experiments(
            filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"]
        )
    ]
    assert names == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]

    asc = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"]
    )
    assert [e.experiment_id for e in asc] == [ids["a"], ids["b"], ids["c"]]

    # The brief's filter: every test experiment, and nothing else (not "Default").
    everything = client.search_experiments(
        filter_string="name LIKE 'test-%'", order_by=["creation_time DESC"], max_results=50000
    )
    assert all(e.name.startswith("test-") for e in everything)
    assert {ids["a"], ids["b"], ids["c"]} <= {e.experiment_id for e in everything}
    times = [e.creation_time for e in everything]
    assert times == sorted(times, reverse=True)

    tagged = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%' AND tags.suffix = 'b'"
    )
    assert [e.experiment_id for e in tagged] == [ids["b"]]

    # Pagination over experiments: 2 + 1.
    page1 = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"], max_results=2
    )
    assert [e.experiment_id for e in page1] == [ids["a"], ids["b"]]
    assert page1.token
    page2 = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%'",
        order_by=["name ASC"],
        max_results=2,
        page_token=page1.token,
    )
    assert [e.experiment_id for e in page2] == [ids["c"]]
    assert not page2.token


def test_rename_delete_restore_experiment(client):
    old, new = unique(), unique()
    exp_id = client.create_experiment(old)

    client.rename_experiment(exp_id, new)
    assert client.get_experiment(exp_id).name == new
    assert client.get_experiment_by_name(old) is None
    assert client.get_experiment_by_name(new).experiment_id == exp_id

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    deleted = client.get_experiment_by_name(new)
    assert deleted is not None and deleted.experiment_id == exp_id
    assert deleted.lifecycle_stage == "deleted"
    assert client.search_experiments(filter_string=f"name = '{new}'") == []
    only_deleted = client.search_experiments(
        view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{new}'"
    )
    assert [e.experiment_id for e in only_deleted] == [exp_id]
    every = client.search_experiments(view_type=ViewType.ALL, filter_string=f"name = '{new}'")
    assert [e.experiment_id for e in every] == [exp_id]

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{new}'")] == [
        exp_id
    ]


# --------------------------------------------------------------------------------------------
# Runs, params, metrics, tags
# --------------------------------------------------------------------------------------------


def test_run_lifecycle_params_metrics_tags(client, experiment):
    started = now_ms()
    with mlflow.start_run(run_name="run-alpha", tags={"stage": "dev"}) as run:
        run_id = run.info.run_id
        assert RUN_ID.fullmatch(run_id)
        assert run.info.run_name == "run-alpha"
        assert run.info.experiment_id == experiment

        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"model": "tiny", "layers": 3})
        for step, value in enumerate([1.0, 0.5, 0.25]):
            mlflow.log_metric("loss", value, step=step)
        mlflow.log_metric("loss", 9.0, step=1)  # a late value at an older step is not "latest"
        mlflow.log_metrics({"acc": 0.9, "f1": 0.75}, step=2)
        mlflow.set_tag("k", "v")
        mlflow.set_tags({"gone": "soon", "kept": "yes"})
        mlflow.delete_tag("gone")
        client.log_batch(
            run_id,
            metrics=[Metric("batch_metric", 1.5, now_ms(), 4)],
            params=[Param("batch_param", "x")],
            tags=[RunTag("batch_tag", "y")],
        )
        live = client.get_run(run_id)
        assert live.info.status == "RUNNING"
        assert live.info.end_time is None or live.info.end_time == 0

    r = client.get_run(run_id)
    assert r.info.run_id == run_id
    assert r.info.experiment_id == experiment
    assert r.info.run_name == "run-alpha"
    assert r.info.status == "FINISHED"
    assert r.info.lifecycle_stage == "active"
    assert started - 5_000 <= r.info.start_time <= r.info.end_time <= now_ms() + 5_000
    assert r.info.artifact_uri == f"mlflow-artifacts:/{experiment}/{run_id}/artifacts"

    assert r.data.params == {
        "lr": "0.01",
        "model": "tiny",
        "layers": "3",
        "batch_param": "x",
    }
    assert r.data.metrics == {"loss": 0.25, "acc": 0.9, "f1": 0.75, "batch_metric": 1.5}
    tags = r.data.tags
    assert tags["mlflow.runName"] == "run-alpha"
    assert tags["stage"] == "dev"
    assert tags["k"] == "v"
    assert tags["kept"] == "yes"
    assert tags["batch_tag"] == "y"
    assert "gone" not in tags
    assert "mlflow.user" in tags and "mlflow.source.name" in tags
    loss = client.get_metric_history(run_id, "loss")
    assert sorted((m.step, m.value) for m in loss) == [(0, 1.0), (1, 0.5), (1, 9.0), (2, 0.25)]
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "batch_metric")] == [
        (4, 1.5)
    ]


def test_update_run_name_and_status(client, experiment):
    run = client.create_run(experiment, run_name="before")
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.data.tags.get("mlflow.runName") == "before"

    client.update_run(run_id, name="after")
    r = client.get_run(run_id)
    assert r.info.run_name == "after"
    assert r.data.tags["mlflow.runName"] == "after"

    end = now_ms()
    client.set_terminated(run_id, status="FAILED", end_time=end)
    r = client.get_run(run_id)
    assert r.info.status == "FAILED"
    assert r.info.end_time == end


def test_relogging_same_param_value_is_allowed(client, experiment):
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "p", "same")
    client.log_param(run_id, "p", "same")
    client.log_batch(run_id, params=[Param("p", "same")])
    assert client.get_run(run_id).data.params == {"p": "same"}


def test_metric_history_50_steps(client, experiment):
    run_id = client.create_run(experiment).info.run_id
    base = now_ms() - 100_000
    points = [(step, step * 0.5 - 3.0, base + step * 10) for step in range(50)]
    shuffled = points[:]
    random.Random(7).shuffle(shuffled)
    for step, value, ts in shuffled:
        client.log_metric(run_id, "curve", value, timestamp=ts, step=step)

    history = client.get_metric_history(run_id, "curve")
    assert len(history) == 50
    assert [(m.step, m.value, m.timestamp) for m in history] == points
    assert all(m.key == "curve" for m in history)
    assert client.get_run(run_id).data.metrics == {"curve": 49 * 0.5 - 3.0}
    assert client.get_metric_history(run_id, "no-such-metric") == []


def test_metric_special_values(client, experiment):
    run_id = client.create_run(experiment).info.run_id
    client.log_metric(run_id, "nan", float("nan"), step=0)
    client.log_metric(run_id, "int", 3, step=0)
    client.log_metric(run_id, "neg", -1.25e-12, step=0)
    client.log_metric(run_id, "big", 1.7976931348623157e308, step=0)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["nan"] != metrics["nan"]  # NaN round-trips as NaN
    assert metrics["int"] == 3.0
    assert metrics["neg"] == -1.25e-12
    assert metrics["big"] == 1.7976931348623157e308


# --------------------------------------------------------------------------------------------
# Artifacts
# --------------------------------------------------------------------------------------------


def test_log_text_and_dict_load_back(client, experiment):
    text = "hello\nworld ✓\n"
    data = {"a": 1, "b": [1, 2, 3], "nested": {"x": "y"}}
    with mlflow.start_run() as run:
        mlflow.log_text(text, "notes/hello.txt")
        mlflow.log_dict(data, "config.json")
    run_id = run.info.run_id

    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == text
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == data
    # The same through the run's artifact URI.
    artifact_uri = client.get_run(run_id).info.artifact_uri
    assert mlflow.artifacts.load_text(f"{artifact_uri}/notes/hello.txt") == text


def test_log_artifact_and_artifacts_list_and_download(client, experiment, tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "dir").mkdir(parents=True)
    (src / "top.txt").write_text("top level\n")
    (src / "sub" / "dir" / "file.md").write_text("# deep file\n")
    (src / "sub" / "side.json").write_text('{"k": 1}')
    card = tmp_path / "model_card.md"
    card.write_text("# card\n")

    with mlflow.start_run() as run:
        mlflow.log_artifact(str(card))
        mlflow.log_artifact(str(card), artifact_path="copies")
        mlflow.log_artifacts(str(src))
    run_id = run.info.run_id

    def listing(path=None):
        return sorted(
            (f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, path)
        )

    assert listing() == [
        ("copies", True, None),
        ("model_card.md", False, len("# card\n")),
        ("sub", True, None),
        ("top.txt", False, len("top level\n")),
    ]
    assert listing("sub") == [("sub/dir", True, None), ("sub/side.json", False, 8)]
    assert listing("sub/dir") == [("sub/dir/file.md", False, len("# deep file\n"))]
    assert listing("copies") == [("copies/model_card.md", False, len("# card\n"))]
    assert listing("no/such/dir") == []

    # Whole-run download round trip.
    dst = tmp_path / "dst"
    dst.mkdir()
    local = client.download_artifacts(run_id, "", str(dst))
    for rel in ["top.txt", "sub/dir/file.md", "sub/side.json"]:
        assert (dst / rel).read_bytes() == (src / rel).read_bytes(), rel
    assert (dst / "model_card.md").read_bytes() == card.read_bytes()
    assert (dst / "copies" / "model_card.md").read_bytes() == card.read_bytes()
    assert os.path.realpath(local) == os.path.realpath(dst)

    # A sub-directory through the fluent helper.
    dst2 = tmp_path / "dst2"
    dst2.mkdir()
    got = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="sub/dir", dst_path=str(dst2)
    )
    assert open(os.path.join(got, "file.md"), "rb").read() == b"# deep file\n"

    # mlflow.artifacts.list_artifacts over a runs:/ URI.
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"runs:/{run_id}/sub")
    assert sorted(f.path for f in listed) == ["sub/dir", "sub/side.json"]


def test_binary_artifact_roundtrip(client, experiment, tmp_path):
    payload = os.urandom(1 << 20)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(payload)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(blob), artifact_path="bin")
    run_id = run.info.run_id

    files = client.list_artifacts(run_id, "bin")
    assert [(f.path, f.is_dir, f.file_size) for f in files] == [("bin/blob.bin", False, 1 << 20)]

    out = tmp_path / "out"
    out.mkdir()
    path = client.download_artifacts(run_id, "bin/blob.bin", str(out))
    with open(path, "rb") as f:
        assert f.read() == payload


def test_artifact_overwrite(client, experiment, tmp_path):
    with mlflow.start_run() as run:
        mlflow.log_text("first version", "same.txt")
        mlflow.log_text("second", "same.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/same.txt") == "second"
    assert [(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id)] == [
        ("same.txt", len("second"))
    ]


# --------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------


@pytest.fixture
def search_runs_setup(client, experiment):
    """Five runs with distinct params, metrics, tags and start times; "other-e" stays RUNNING."""
    base = now_ms() - 60_000
    spec = [
        # name, model, stage, loss, acc, finished
        ("run-a", "tiny", "dev", 0.5, 0.7, True),
        ("run-b", "tiny", "prod", 0.4, 0.9, True),
        ("run-c", "big", "dev", 0.3, 0.8, True),
        ("run-d", "tiny", "dev", 2.0, 0.95, True),
        ("other-e", "tiny", "dev", 0.1, 0.6, False),
    ]
    ids = {}
    for i, (name, model, stage, loss, acc, finished) in enumerate(spec):
        run = client.create_run(experiment, start_time=base + i * 1000, run_name=name)
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", loss, base, 0), Metric("acc", acc, base, 0)],
            params=[Param("model", model)],
            tags=[RunTag("stage", stage)],
        )
        if name == "run-c":
            client.log_param(run_id, "x", "1")
        if finished:
            client.set_terminated(run_id, end_time=base + i * 1000 + 500)
        ids[name] = run_id
    return experiment, ids


def _ids(runs) -> list[str]:
    return [r.info.run_id for r in runs]


@pytest.mark.parametrize(
    "filter_string, expected",
    [
        ("metrics.loss < 1 and params.model = 'tiny' and tags.stage = 'dev'", {"run-a", "other-e"}),
        ("attributes.status = 'FINISHED'", {"run-a", "run-b", "run-c", "run-d"}),
        ("attributes.status = 'RUNNING'", {"other-e"}),
        ("attributes.run_name LIKE 'run-%'", {"run-a", "run-b", "run-c", "run-d"}),
        ("tags.`mlflow.runName` = 'run-b'", {"run-b"}),
        ("metrics.acc >= 0.9", {"run-b", "run-d"}),
        ("params.model != 'tiny'", {"run-c"}),
        ("params.x IS NULL", {"run-a", "run-b", "run-d", "other-e"}),
        ("params.x IS NOT NULL", {"run-c"}),
        ("tags.stage ILIKE 'PR%'", {"run-b"}),
        ("", {"run-a", "run-b", "run-c", "run-d", "other-e"}),
    ],
)
def test_search_runs_filters(client, search_runs_setup, filter_string, expected):
    experiment, ids = search_runs_setup
    found = client.search_runs([experiment], filter_string=filter_string)
    assert sorted(_ids(found)) == sorted(ids[n] for n in expected)


def test_search_runs_order_by(client, search_runs_setup):
    experiment, ids = search_runs_setup
    by_acc = client.search_runs([experiment], order_by=["metrics.acc DESC"])
    assert _ids(by_acc) == [ids[n] for n in ["run-d", "run-b", "run-c", "run-a", "other-e"]]
    by_start = client.search_runs([experiment], order_by=["start_time ASC"])
    assert _ids(by_start) == [ids[n] for n in ["run-a", "run-b", "run-c", "run-d", "other-e"]]
    by_start_desc = client.search_runs([experiment], order_by=["attributes.start_time DESC"])
    assert _ids(by_start_desc) == [ids[n] for n in ["other-e", "run-d", "run-c", "run-b", "run-a"]]
    # Default order: newest start_time first.
    assert _ids(client.search_runs([experiment])) == _ids(by_start_desc)


def test_search_runs_pandas(search_runs_setup):
    experiment, ids = search_runs_setup
    df = mlflow.search_runs(
        experiment_ids=[experiment],
        filter_string="metrics.loss < 1 and params.model = 'tiny' and tags.stage = 'dev'",
        order_by=["metrics.loss ASC"],
    )
    assert isinstance(df, pd.DataFrame)
    assert list(df["run_id"]) == [ids["other-e"], ids["run-a"]]
    assert list(df["metrics.loss"]) == [0.1, 0.5]
    assert list(df["params.model"]) == ["tiny", "tiny"]
    assert list(df["tags.stage"]) == ["dev", "dev"]
    assert list(df["status"]) == ["RUNNING", "FINISHED"]

    as_list = mlflow.search_runs(
        experiment_ids=[experiment], filter_string="attributes.status = 'FINISHED'",
        output_format="list",
    )
    assert sorted(_ids(as_list)) == sorted(ids[n] for n in ["run-a", "run-b", "run-c", "run-d"])


def test_search_runs_pagination(client, experiment):
    created = {client.create_run(experiment).info.run_id for _ in range(7)}
    seen: list[str] = []
    sizes = []
    token = None
    for _ in range(10):
        page = client.search_runs([experiment], max_results=3, page_token=token)
        sizes.append(len(page))
        seen.extend(_ids(page))
        token = page.token
        if not token:
            break
    assert sizes == [3, 3, 1]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == created


def test_search_runs_across_experiments(client):
    e1 = client.create_experiment(unique())
    e2 = client.create_experiment(unique())
    r1 = client.create_run(e1).info.run_id
    r2 = client.create_run(e2).info.run_id
    assert set(_ids(client.search_runs([e1, e2]))) == {r1, r2}
    assert _ids(client.search_runs([e2])) == [r2]


def test_delete_and_restore_run(client, experiment):
    keep = client.create_run(experiment).info.run_id
    gone = client.create_run(experiment).info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    assert _ids(client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)) == [gone]
    assert _ids(client.search_runs([experiment], run_view_type=ViewType.ACTIVE_ONLY)) == [keep]
    assert set(_ids(client.search_runs([experiment], run_view_type=ViewType.ALL))) == {keep, gone}

    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY) == []
    assert set(_ids(client.search_runs([experiment]))) == {keep, gone}


# --------------------------------------------------------------------------------------------
# Nested runs and datasets
# --------------------------------------------------------------------------------------------


def test_nested_runs(client, experiment):
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 1.0)
        with mlflow.start_run(run_name="child2", nested=True) as child2:
            pass
    pid = parent.info.run_id
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == pid
    assert client.get_run(child2.info.run_id).data.tags["mlflow.parentRunId"] == pid
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags
    children = client.search_runs(
        [experiment], filter_string=f"tags.`mlflow.parentRunId` = '{pid}'"
    )
    assert sorted(_ids(children)) == sorted([child.info.run_id, child2.info.run_id])
    assert client.get_run(child.info.run_id).info.status == "FINISHED"


def test_log_input_dataset(client, experiment):
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "c"]})
    ds = mlflow.data.from_pandas(df, name="ds")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
    r = client.get_run(run.info.run_id)
    inputs = r.inputs.dataset_inputs
    assert len(inputs) == 1
    got = inputs[0].dataset
    assert got.name == "ds"
    sent = ds.to_dict()
    assert got.digest == ds.digest == sent["digest"]
    assert got.source_type == sent["source_type"]
    assert json.loads(got.source) == json.loads(sent["source"])
    assert json.loads(got.schema) == json.loads(sent["schema"])
    assert json.loads(got.profile) == {"num_rows": 3, "num_elements": 6}
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}

    # Logging the same dataset again does not duplicate it.
    client.log_inputs(run.info.run_id, datasets=[inputs[0]])
    assert len(client.get_run(run.info.run_id).inputs.dataset_inputs) == 1

    found = client.search_runs([experiment], filter_string="datasets.name = 'ds'")
    assert _ids(found) == [run.info.run_id]
    assert client.search_runs([experiment], filter_string="datasets.name = 'nope'") == []


# --------------------------------------------------------------------------------------------
# Errors through the client
# --------------------------------------------------------------------------------------------


def _expect_error(excinfo, code: str, *, from_server: bool = True) -> None:
    err = excinfo.value
    assert err.error_code == code, f"{err.error_code}: {err}"
    if from_server:
        assert isinstance(err, RestException), f"raised by the client, not the server: {err!r}"


def test_error_get_unknown_run(client):
    with pytest.raises(MlflowException) as e:
        client.get_run(uuid.uuid4().hex)
    _expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    assert_server_alive(client)


def test_error_get_unknown_experiment(client):
    with pytest.raises(MlflowException) as e:
        client.get_experiment("987654321")
    _expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    assert_server_alive(client)


def test_error_duplicate_experiment(client):
    name = unique()
    client.create_experiment(name)
    with pytest.raises(MlflowException) as e:
        client.create_experiment(name)
    _expect_error(e, "RESOURCE_ALREADY_EXISTS")
    assert_server_alive(client)


def test_error_changing_param_value(client, experiment):
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "lr", "0.1")
    # MlflowClient.log_param re-raises the server's INVALID_PARAMETER_VALUE as a plain
    # MlflowException (adding a hint), so only the code is checked here; log_batch below keeps
    # the RestException.
    with pytest.raises(MlflowException) as e:
        client.log_param(run_id, "lr", "0.2")
    _expect_error(e, "INVALID_PARAMETER_VALUE", from_server=False)
    with pytest.raises(MlflowException) as e:
        client.log_batch(run_id, params=[Param("lr", "0.3")])
    _expect_error(e, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).data.params == {"lr": "0.1"}
    assert_server_alive(client)


@pytest.mark.parametrize(
    "filter_string",
    ["metrics.a < 1 OR metrics.b > 2", "foo.bar = 1", "metrics.a <", "params.p = unquoted"],
)
def test_error_bad_filter(client, experiment, filter_string):
    with pytest.raises(MlflowException) as e:
        client.search_runs([experiment], filter_string=filter_string)
    _expect_error(e, "INVALID_PARAMETER_VALUE")
    assert_server_alive(client)


def test_error_bad_order_by(client, experiment):
    with pytest.raises(MlflowException) as e:
        client.search_runs([experiment], order_by=["nonsense.key DESC"])
    _expect_error(e, "INVALID_PARAMETER_VALUE")
    assert_server_alive(client)


def test_param_value_too_long(client, experiment):
    # Deliberately stricter than the reference server's default: MLflow truncates over-long
    # param values to 6000 characters unless MLFLOW_TRUNCATE_LONG_VALUES=false is set in the
    # *server's* environment (conftest sets it, so the reference passes this test too).
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "at_limit", "v" * 6000)
    assert client.get_run(run_id).data.params["at_limit"] == "v" * 6000
    with pytest.raises(MlflowException) as e:
        client.log_param(run_id, "too_long", "v" * 6001)
    _expect_error(e, "INVALID_PARAMETER_VALUE", from_server=False)
    with pytest.raises(MlflowException) as e:
        client.log_batch(run_id, params=[Param("too_long", "v" * 6001)])
    _expect_error(e, "INVALID_PARAMETER_VALUE")
    assert "too_long" not in client.get_run(run_id).data.params
    assert_server_alive(client)


@pytest.mark.parametrize("key", ["bad*key?", "semi;colon", "../escape", "a/../b", "/abs"])
def test_error_bad_metric_key(client, experiment, key):
    run_id = client.create_run(experiment).info.run_id
    with pytest.raises(MlflowException) as e:
        client.log_metric(run_id, key, 1.0)
    _expect_error(e, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as e:
        client.log_batch(run_id, metrics=[Metric(key, 1.0, now_ms(), 0)])
    _expect_error(e, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).data.metrics == {}
    assert_server_alive(client)


def test_error_start_run_in_unknown_experiment(client):
    with pytest.raises(MlflowException) as e:
        mlflow.start_run(experiment_id="987654321")
    _expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    assert mlflow.active_run() is None
    assert_server_alive(client)


def test_error_log_to_deleted_run(client, experiment):
    run_id = client.create_run(experiment).info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as e:
        client.log_metric(run_id, "m", 1.0)
    _expect_error(e, "INVALID_PARAMETER_VALUE")
    assert_server_alive(client)


def test_error_download_missing_artifact(client, experiment, tmp_path):
    run_id = client.create_run(experiment).info.run_id
    with pytest.raises(Exception):
        client.download_artifacts(run_id, "missing.txt", str(tmp_path))
    assert not (tmp_path / "missing.txt").exists()
    assert_server_alive(client)


# --------------------------------------------------------------------------------------------
# Concurrency and restarts (servers of their own)
# --------------------------------------------------------------------------------------------

THREADS = 32


def test_concurrent_logging(fresh_server):
    srv = fresh_server()
    setup = srv.client()
    exp_id = setup.create_experiment("concurrency")
    shared_run = setup.create_run(exp_id, run_name="shared").info.run_id
    start = threading.Barrier(2 * THREADS)

    def own_run(t: int) -> str:
        c = MlflowClient(tracking_uri=srv.url)
        start.wait(timeout=60)
        run_id = c.create_run(exp_id, run_name=f"worker-{t}").info.run_id
        ts = now_ms()
        c.log_batch(
            run_id,
            metrics=[Metric(f"m{j}", t * 1000 + j, ts, j) for j in range(25)],
            params=[Param(f"p{j}", f"{t}-{j}") for j in range(5)],
            tags=[RunTag(f"t{j}", f"{t}:{j}") for j in range(5)],
        )
        for j in range(25, 50):
            c.log_metric(run_id, f"m{j}", t * 1000 + j, timestamp=ts, step=j)
        for j in range(5, 10):
            c.log_param(run_id, f"p{j}", f"{t}-{j}")
            c.set_tag(run_id, f"t{j}", f"{t}:{j}")
        c.set_terminated(run_id)
        return run_id

    def append_shared(t: int) -> None:
        c = MlflowClient(tracking_uri=srv.url)
        start.wait(timeout=60)
        ts = now_ms()
        for i in range(10):
            c.log_metric(shared_run, f"k{t}", float(i), timestamp=ts + i, step=i)
        c.log_batch(
            shared_run,
            metrics=[Metric("common", float(t * 10 + i), ts, t * 10 + i) for i in range(10)],
        )

    with ThreadPoolExecutor(max_workers=2 * THREADS) as pool:
        own = [pool.submit(own_run, t) for t in range(THREADS)]
        shared = [pool.submit(append_shared, t) for t in range(THREADS)]
        run_ids = {t: f.result(timeout=600) for t, f in enumerate(own)}
        for f in shared:
            f.result(timeout=600)

    check = srv.client()
    assert len(set(run_ids.values())) == THREADS
    for t, run_id in run_ids.items():
        r = check.get_run(run_id)
        assert r.info.status == "FINISHED"
        assert r.data.metrics == {f"m{j}": float(t * 1000 + j) for j in range(50)}
        assert r.data.params == {f"p{j}": f"{t}-{j}" for j in range(10)}
        user_tags = {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")}
        assert user_tags == {f"t{j}": f"{t}:{j}" for j in range(10)}
    workers = check.search_runs([exp_id], filter_string="attributes.run_name LIKE 'worker-%'")
    assert set(_ids(workers)) == set(run_ids.values())

    r = check.get_run(shared_run)
    assert r.data.metrics == {**{f"k{t}": 9.0 for t in range(THREADS)}, "common": float(THREADS * 10 - 1)}
    for t in range(THREADS):
        hist = check.get_metric_history(shared_run, f"k{t}")
        assert sorted((m.step, m.value) for m in hist) == [(i, float(i)) for i in range(10)]
    common = check.get_metric_history(shared_run, "common")
    assert sorted((m.step, m.value) for m in common) == [
        (s, float(s)) for s in range(THREADS * 10)
    ]


def test_data_survives_sigkill_restart(fresh_server, tmp_path):
    srv = fresh_server()
    c = srv.client()
    exp_id = c.create_experiment("durable", tags={"t": "1"})
    run_id = c.create_run(exp_id, run_name="before-crash").info.run_id
    c.log_param(run_id, "p", "v")
    for step in range(5):
        c.log_metric(run_id, "m", step * 1.5, step=step)
    c.set_tag(run_id, "k", "v")
    blob = os.urandom(4096)
    (tmp_path / "f.bin").write_bytes(blob)
    c.log_artifact(run_id, str(tmp_path / "f.bin"))
    c.set_terminated(run_id)

    srv.restart()  # SIGKILL, then start again on the same database and artifact directory

    c = srv.client()
    exp = c.get_experiment_by_name("durable")
    assert exp.experiment_id == exp_id and exp.tags == {"t": "1"}
    r = c.get_run(run_id)
    assert r.info.run_name == "before-crash"
    assert r.info.status == "FINISHED"
    assert r.data.params == {"p": "v"}
    assert r.data.metrics == {"m": 6.0}
    assert r.data.tags["k"] == "v"
    assert [m.value for m in c.get_metric_history(run_id, "m")] == [0.0, 1.5, 3.0, 4.5, 6.0]
    out = tmp_path / "out"
    out.mkdir()
    with open(c.download_artifacts(run_id, "f.bin", str(out)), "rb") as f:
        assert f.read() == blob
    # New writes after the restart get fresh ids that do not collide with the old ones.
    exp2 = c.create_experiment("after-restart")
    assert exp2 != exp_id
    run2 = c.create_run(exp_id).info.run_id
    assert run2 != run_id
    assert set(_ids(c.search_runs([exp_id]))) == {run_id, run2}
