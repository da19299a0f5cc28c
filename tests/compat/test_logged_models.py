"""Logged models (MLflow 3) as the real `mlflow` client uses them: create → finalize, get,
search with filters, `order_by` objects, datasets and pages, tags, params, soft delete, and
metrics that reach a model through the run endpoints (`model_id` on a run metric).

Every test asserts on what the server sends back, so none passes against a server that lacks
the feature.
"""

from __future__ import annotations

import re
import time
import uuid

import mlflow
import mlflow.pyfunc
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException, RestException
from mlflow.types.responses import ResponsesAgentRequest, ResponsesAgentResponse

MODEL_ID = re.compile(r"m-[0-9a-f]{32}")


def unique(prefix: str = "lm") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_ms() -> int:
    return int(time.time() * 1000)


def at_least_318(server) -> bool:
    """Whether the server reports MLflow 3.18 or later (ferroflow does; the pinned 3.17.2
    reference lacks some of the 3.18 behaviours checked here)."""
    version = requests.get(f"{server.url}/version", timeout=10).text.strip()
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2]) >= (3, 18)


def api(server, path: str) -> str:
    return f"{server.url}/api/2.0/mlflow/{path}"


def expect_error(excinfo, code: str) -> None:
    err = excinfo.value
    assert err.error_code == code, f"{err.error_code}: {err}"
    assert isinstance(err, RestException), f"raised by the client, not the server: {err!r}"


class TinyAgent(mlflow.pyfunc.ResponsesAgent):
    def predict(self, request: ResponsesAgentRequest) -> ResponsesAgentResponse:
        return ResponsesAgentResponse(output=[self.create_text_output_item(text="ok", id="msg-1")])


def test_create_finalize_get(client, server, experiment):
    before = now_ms()
    model = client.create_logged_model(
        experiment, name="manual-model", params={"temperature": "0.1"}, tags={"x": "y"}, model_type="agent"
    )
    assert MODEL_ID.fullmatch(model.model_id)
    assert model.status == LoggedModelStatus.PENDING
    assert model.experiment_id == experiment
    assert model.name == "manual-model"
    assert model.model_type == "agent"
    assert model.params == {"temperature": "0.1"}
    assert model.tags["x"] == "y"
    assert model.artifact_location == f"mlflow-artifacts:/{experiment}/models/{model.model_id}/artifacts"
    assert model.creation_timestamp >= before

    ready = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    assert ready.last_updated_timestamp >= model.creation_timestamp
    fetched = mlflow.get_logged_model(model.model_id)
    assert (fetched.model_id, fetched.status, fetched.params) == (model.model_id, LoggedModelStatus.READY, {"temperature": "0.1"})

    failed = client.create_logged_model(experiment)
    assert failed.name  # a readable name is made up
    assert client.finalize_logged_model(failed.model_id, LoggedModelStatus.FAILED).status == LoggedModelStatus.FAILED

    # The wire shapes match the captures (status enum names, `{}` data on a bare model).
    body = requests.get(api(server, f"logged-models/{failed.model_id}"))
    assert body.status_code == 200
    info = body.json()["model"]["info"]
    assert info["status"] == "LOGGED_MODEL_UPLOAD_FAILED"
    assert body.json()["model"]["data"] == {}


def test_metrics_logged_with_model_id_reach_the_model(client, experiment):
    model = mlflow.initialize_logged_model(name="scored")
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.97, model_id=model.model_id)
        client.log_batch(
            run.info.run_id,
            metrics=[
                Metric("precision", 0.9, now_ms(), 0, model_id=model.model_id),
                Metric("f1", 0.5, now_ms(), 1, model_id=model.model_id, dataset_name="eval", dataset_digest="d1"),
                Metric("unrelated", 1.0, now_ms(), 0),
            ],
        )
    fetched = client.get_logged_model(model.model_id)
    by_key = {m.key: m for m in fetched.metrics}
    assert set(by_key) == {"accuracy", "precision", "f1"}
    assert by_key["accuracy"].value == 0.97
    assert all(m.model_id == model.model_id and m.run_id == run.info.run_id for m in fetched.metrics)
    assert (by_key["f1"].dataset_name, by_key["f1"].dataset_digest, by_key["f1"].step) == ("eval", "d1", 1)
    # The run itself still has all its metrics and records the model as an input.
    run_data = client.get_run(run.info.run_id)
    assert set(run_data.data.metrics) == {"accuracy", "precision", "f1", "unrelated"}
    assert [i.model_id for i in run_data.inputs.model_inputs] == [model.model_id]


def test_search_filters_order_datasets_and_pages(client, server, experiment):
    models = {}
    with mlflow.start_run() as run:
        for name, accuracy, lr in [("alpha", 0.7, "0.1"), ("beta", 0.9, "0.01"), ("gamma", 0.8, "0.01")]:
            model = client.create_logged_model(experiment, name=name, params={"lr": lr}, tags={"family": name[0]})
            models[name] = model.model_id
            time.sleep(0.01)  # distinct creation times, so "newest first" is well defined
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("accuracy", accuracy, now_ms(), 0, model_id=model.model_id, dataset_name="val", dataset_digest="v1")],
            )
    client.finalize_logged_model(models["beta"], LoggedModelStatus.READY)
    pending = client.create_logged_model(experiment, name="no-metrics")

    def names(**kwargs) -> list[str]:
        return [m.name for m in client.search_logged_models(experiment_ids=[experiment], **kwargs)]

    assert names(filter_string="name = 'beta'") == ["beta"]
    assert names(filter_string="name='gamma'") == ["gamma"]  # unspaced, as set_active_model sends it
    assert names(
        filter_string="metrics.accuracy > 0.75", order_by=[{"field_name": "metrics.accuracy", "ascending": False}]
    ) == ["beta", "gamma"]
    assert names(order_by=[{"field_name": "metrics.accuracy", "ascending": True}]) == ["alpha", "gamma", "beta", "no-metrics"]
    assert names(filter_string="params.lr = '0.01'", order_by=[{"field_name": "name", "ascending": True}]) == ["beta", "gamma"]
    assert names(filter_string="tags.family = 'a'") == ["alpha"]
    # Statuses are filtered by their short names (../shared/spec/mlflow-rest.md §16.6); the reference 3.17 server
    # compares them with its integer column and finds nothing, so this is checked from 3.18 on.
    if at_least_318(server):
        assert names(filter_string="status = 'READY'") == ["beta"]
        assert sorted(names(filter_string="status = 'PENDING'")) == ["alpha", "gamma", "no-metrics"]
    assert names(filter_string=f"model_id = '{pending.model_id}'") == ["no-metrics"]
    # Datasets restrict to models with metrics on them.
    assert sorted(names(datasets=[{"dataset_name": "val"}])) == ["alpha", "beta", "gamma"]
    assert names(datasets=[{"dataset_name": "val", "dataset_digest": "other"}]) == []
    assert names(filter_string="metrics.accuracy > 0.1", datasets=[{"dataset_name": "elsewhere"}]) == []
    # Default order: newest first.
    assert names() == ["no-metrics", "gamma", "beta", "alpha"]

    seen, token = [], None
    while True:
        page = client.search_logged_models(experiment_ids=[experiment], max_results=3, page_token=token)
        seen.extend(m.name for m in page)
        token = page.token
        if not token:
            break
    assert seen == ["no-metrics", "gamma", "beta", "alpha"]

    # An empty result is `{}` on the wire.
    r = requests.post(api(server, "logged-models/search"), json={"experiment_ids": [experiment], "filter": "name = 'none'"})
    assert r.status_code == 200 and r.json() == {}
    listed = mlflow.search_logged_models(experiment_ids=[experiment], filter_string="name = 'alpha'", output_format="list")
    assert [m.model_id for m in listed] == [models["alpha"]]


def test_tags_params_and_soft_delete(client, server, experiment):
    model = client.create_logged_model(experiment, name="tagged", tags={"x": "y"})
    client.set_logged_model_tags(model.model_id, {"k2": "v2", "path/like.key": "1"})
    client.delete_logged_model_tag(model.model_id, "x")
    client.log_model_params(model.model_id, {"alpha": "1", "beta": "2"})
    fetched = client.get_logged_model(model.model_id)
    assert {k: v for k, v in fetched.tags.items() if not k.startswith("mlflow.")} == {"k2": "v2", "path/like.key": "1"}
    assert fetched.params == {"alpha": "1", "beta": "2"}
    with pytest.raises(MlflowException) as e:
        client.delete_logged_model_tag(model.model_id, "never-set")
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")

    client.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException) as e:
        client.get_logged_model(model.model_id)
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    assert client.search_logged_models(experiment_ids=[experiment], filter_string="name = 'tagged'") == []
    r = requests.get(api(server, f"logged-models/{model.model_id}"), params={"allow_deleted": "true"})
    assert r.status_code == 200 and r.json()["model"]["info"]["model_id"] == model.model_id


def test_set_active_model_creates_then_reuses(experiment):
    first = mlflow.set_active_model(name="active-agent")
    second = mlflow.set_active_model(name="active-agent")
    assert first.model_id == second.model_id
    assert MODEL_ID.fullmatch(first.model_id)
    found = mlflow.search_logged_models(filter_string="name = 'active-agent'", output_format="list")
    assert [m.model_id for m in found] == [first.model_id]
    mlflow.clear_active_model()


def test_logged_agent_is_found_with_metrics_and_params_and_loads_by_id(client, experiment):
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="tiny", python_model=TinyAgent(), input_example={"input": [{"role": "user", "content": "hi"}]}
        )
        mlflow.log_metric("quality", 0.8, model_id=info.model_id)
    mlflow.log_model_params({"temperature": "0.3"}, model_id=info.model_id)
    found = mlflow.search_logged_models(
        experiment_ids=[experiment], filter_string="metrics.quality >= 0.8", output_format="list"
    )
    assert [m.model_id for m in found] == [info.model_id]
    model = found[0]
    assert model.status == LoggedModelStatus.READY
    assert model.source_run_id == run.info.run_id
    assert model.params == {"temperature": "0.3"}
    assert [(m.key, m.value, m.run_id) for m in model.metrics] == [("quality", 0.8, run.info.run_id)]
    # The run lists the model among its outputs.
    assert [o.model_id for o in client.get_run(run.info.run_id).outputs.model_outputs] == [info.model_id]
    loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    assert loaded.predict({"input": [{"role": "user", "content": "x"}]})["output"][0]["content"][0]["text"] == "ok"


def test_errors(client, server, experiment):
    missing = "m-" + "0" * 32
    with pytest.raises(MlflowException) as e:
        client.get_logged_model(missing)
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    assert f"Logged model with ID '{missing}' not found." in str(e.value)
    with pytest.raises(MlflowException) as e:
        client.finalize_logged_model(missing, LoggedModelStatus.READY)
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException) as e:
        client.create_logged_model("987654321")
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    # The enum spelling is refused, as ../shared/spec/mlflow-rest.md §16.6 says (the reference 3.17 server
    # matches nothing, and answers a 500 to a metric compared with a string): both are checked from
    # 3.18 on.
    bad_filters = ["name = 'a' OR name = 'b'", "datasets.name = 'x'"]
    if at_least_318(server):
        bad_filters += ["status = 'LOGGED_MODEL_READY'", "metrics.acc = 'high'"]
    for bad_filter in bad_filters:
        with pytest.raises(MlflowException) as e:
            client.search_logged_models(experiment_ids=[experiment], filter_string=bad_filter)
        expect_error(e, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as e:
        client.search_logged_models(experiment_ids=[experiment], order_by=[{"field_name": "params.lr"}])
    expect_error(e, "INVALID_PARAMETER_VALUE")
    r = requests.post(api(server, "logged-models"), json={"experiment_id": experiment, "name": "bad/name"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.patch(api(server, f"logged-models/{missing}"), json={"status": "NOT_A_STATUS"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
