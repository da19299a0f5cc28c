"""The model registry as the real `mlflow` client uses it: registering a ResponsesAgent and
loading it back by alias, registered models and versions, tags, aliases, stages, search with
the prompt/model divide, errors, and concurrent registration.

Every test asserts on what the server sends back, so none of them passes against a server that
lacks the feature. Errors the client could raise by itself are checked to be `RestException`s
(i.e. to come from the server), or are sent with `requests` so the client cannot intervene.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import mlflow
import mlflow.models
import mlflow.pyfunc
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException, RestException
from mlflow.types.responses import ResponsesAgentRequest, ResponsesAgentResponse, ResponsesAgentStreamEvent

QUESTION = "What is the status?"
PROMPT_TAG = "mlflow.prompt.is_prompt"


def unique(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def expect_error(excinfo, code: str, *, from_server: bool = True) -> None:
    err = excinfo.value
    assert err.error_code == code, f"{err.error_code}: {err}"
    if from_server:
        assert isinstance(err, RestException), f"raised by the client, not the server: {err!r}"


def api(server, path: str) -> str:
    return f"{server.url}/api/2.0/mlflow/{path}"


class EchoAgent(mlflow.pyfunc.ResponsesAgent):
    """A minimal agent: answers with the last user message, as one output item."""

    def predict(self, request: ResponsesAgentRequest) -> ResponsesAgentResponse:
        text = request.input[-1].content
        return ResponsesAgentResponse(output=[self.create_text_output_item(text=f"echo: {text}", id="msg-1")])

    def predict_stream(self, request: ResponsesAgentRequest):
        text = request.input[-1].content
        item = self.create_text_output_item(text=f"echo: {text}", id="msg-1")
        yield ResponsesAgentStreamEvent(type="response.output_item.done", item=item)


# --------------------------------------------------------------------------------------------
# A ResponsesAgent: log, register, alias, load
# --------------------------------------------------------------------------------------------


def test_responses_agent_register_alias_and_load(client, experiment):
    name = unique("agent")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="agent",
            python_model=EchoAgent(),
            input_example={"input": [{"role": "user", "content": QUESTION}]},
            registered_model_name=name,
        )
    assert str(info.registered_model_version) == "1"
    model_id = info.model_id
    assert model_id.startswith("m-") and len(model_id) == 34

    # The signature is the one inferred for ResponsesAgent: `input` is the one required field.
    signature = mlflow.models.get_model_info(f"models:/{name}/1").signature
    required = {spec.name: spec.required for spec in signature.inputs.inputs}
    assert required["input"] is True
    assert not any(req for field, req in required.items() if field != "input")

    version = client.get_model_version(name, "1")
    assert version.status == "READY"
    assert version.current_stage == "None"
    assert version.source == f"models:/{model_id}"
    # The server fills the run from the logged model's source run.
    assert version.run_id == run.info.run_id
    logged = client.get_logged_model(model_id)
    assert logged.status == LoggedModelStatus.READY
    assert client.get_model_version_download_uri(name, "1") == logged.artifact_location
    assert logged.artifact_location == f"mlflow-artifacts:/{experiment}/models/{model_id}/artifacts"
    # The registration is recorded on the logged model (the server and the client both add it).
    recorded = json.loads(logged.tags["mlflow.modelVersions"])
    assert {"name": name, "version": 1} in [{**e, "version": int(e["version"])} for e in recorded]

    client.set_registered_model_alias(name, "staging", "1")
    client.set_registered_model_alias(name, "production", "1")
    by_alias = client.get_model_version_by_alias(name, "production")
    assert by_alias.version == "1"
    assert set(by_alias.aliases) == {"staging", "production"}
    assert client.get_registered_model(name).aliases == {"staging": "1", "production": "1"}

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@production")
    out = loaded.predict({"input": [{"role": "user", "content": QUESTION}]})
    assert out["object"] == "response"
    assert out["output"][0]["id"] == "msg-1"
    assert out["output"][0]["content"][0]["text"] == f"echo: {QUESTION}"
    events = list(loaded.predict_stream({"input": [{"role": "user", "content": "stream me"}]}))
    assert events[-1]["item"]["content"][0]["text"] == "echo: stream me"

    found = client.search_model_versions(f"name = '{name}'")
    assert [(v.name, v.version, v.source) for v in found] == [(name, "1", f"models:/{model_id}")]

    client.delete_registered_model_alias(name, "staging")
    assert client.get_registered_model(name).aliases == {"production": "1"}
    assert client.get_model_version(name, "1").aliases == ["production"]
    with pytest.raises(MlflowException) as e:
        mlflow.pyfunc.load_model(f"models:/{name}@staging")
    assert "alias staging not found" in str(e.value)
    expect_error(e, "INVALID_PARAMETER_VALUE")
    # The remaining alias still loads.
    assert mlflow.pyfunc.load_model(f"models:/{name}@production").predict(
        {"input": [{"role": "user", "content": "again"}]}
    )["output"][0]["content"][0]["text"] == "echo: again"


# --------------------------------------------------------------------------------------------
# Registered models and versions
# --------------------------------------------------------------------------------------------


def test_registered_model_lifecycle(client):
    name = unique()
    created = client.create_registered_model(name, tags={"team": "ml"}, description="first")
    assert created.name == name
    assert created.description == "first"
    assert created.tags == {"team": "ml"}
    assert created.creation_timestamp > 0
    assert created.latest_versions == []

    updated = client.update_registered_model(name, description="second")
    assert updated.description == "second"
    assert updated.last_updated_timestamp >= created.last_updated_timestamp

    client.set_registered_model_tag(name, "owner", "me")
    client.set_registered_model_tag(name, "team", "research")
    assert client.get_registered_model(name).tags == {"team": "research", "owner": "me"}
    client.delete_registered_model_tag(name, "owner")
    assert client.get_registered_model(name).tags == {"team": "research"}

    new_name = unique("renamed")
    v1 = client.create_model_version(name, "s3://bucket/model", tags={"v": "1"}, description="one")
    client.rename_registered_model(name, new_name)
    renamed = client.get_registered_model(new_name)
    assert (renamed.name, renamed.description, renamed.tags) == (new_name, "second", {"team": "research"})
    assert [v.version for v in renamed.latest_versions] == ["1"]
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(name)
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    moved = client.get_model_version(new_name, v1.version)
    assert (moved.name, moved.description, moved.tags) == (new_name, "one", {"v": "1"})

    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(new_name)
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    assert f"Registered Model with name={new_name} not found" in str(e.value)
    with pytest.raises(MlflowException) as e:
        client.get_model_version(new_name, "1")
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")


def test_model_versions_tags_stages_and_deletion(client, experiment):
    name = unique()
    client.create_registered_model(name)
    run_id = client.create_run(experiment).info.run_id
    v1 = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags={"k": "v"})
    v2 = client.create_model_version(name, "s3://bucket/v2", description="two")
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.run_id == run_id and v1.source == f"runs:/{run_id}/model"
    assert v1.tags == {"k": "v"} and v1.status == "READY" and v1.current_stage == "None"
    assert v2.description == "two"

    client.set_model_version_tag(name, "1", "validated", "true")
    client.delete_model_version_tag(name, "1", "k")
    assert client.get_model_version(name, "1").tags == {"validated": "true"}
    assert client.update_model_version(name, "2", description="v2 desc").description == "v2 desc"

    assert [v.version for v in client.get_registered_model(name).latest_versions] == ["2"]
    staged = client.transition_model_version_stage(name, "1", "production")
    assert staged.current_stage == "Production"
    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"Production": "1", "None": "2"}
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["1"]

    # `latest` is resolved by the server to the highest live version.
    assert client.get_model_version_by_alias(name, "latest").version == "2"
    client.set_registered_model_alias(name, "champion", "2")
    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "2")
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    # Deleting a version drops its aliases, and its number is never given again.
    assert client.get_registered_model(name).aliases == {}
    assert client.get_model_version_by_alias(name, "latest").version == "1"
    assert client.create_model_version(name, "s3://bucket/v3").version == "3"
    assert sorted(v.version for v in client.search_model_versions(f"name = '{name}'")) == ["1", "3"]


def test_search_registered_models_filter_order_and_pages(client):
    prefix = unique("search")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, model_name in enumerate(names):
        client.create_registered_model(model_name, tags={"parity": "even" if i % 2 == 0 else "odd"})
    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")
    assert [m.name for m in found] == names
    odd = client.search_registered_models(filter_string=f"name LIKE '{prefix}%' AND tags.parity = 'odd'")
    assert [m.name for m in odd] == [names[1], names[3]]
    not_odd = client.search_registered_models(filter_string=f"name LIKE '{prefix}%' AND tag.parity != 'odd'")
    assert [m.name for m in not_odd] == [names[0], names[2], names[4]]
    assert [m.name for m in client.search_registered_models(filter_string=f"name = '{names[2]}'")] == [names[2]]
    listed = client.search_registered_models(filter_string=f"name IN ('{names[0]}', '{names[4]}')")
    assert [m.name for m in listed] == [names[0], names[4]]

    pages, token = [], None
    while True:
        page = client.search_registered_models(
            filter_string=f"name ILIKE '{prefix.upper()}%'", max_results=2, order_by=["name DESC"], page_token=token
        )
        assert len(page) <= 2
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            break
    assert pages == [names[4:2:-1], names[2:0:-1], names[0:1]]


def test_search_model_versions_filters(client, experiment):
    name = unique()
    client.create_registered_model(name)
    run_a = client.create_run(experiment).info.run_id
    run_b = client.create_run(experiment).info.run_id
    client.create_model_version(name, f"runs:/{run_a}/m", run_id=run_a, tags={"stage": "dev"})
    client.create_model_version(name, f"runs:/{run_b}/m", run_id=run_b, tags={"stage": "prod"})
    client.create_model_version(name, f"runs:/{run_b}/other", run_id=run_b)

    def versions(filter_string: str, **kwargs) -> list[str]:
        return [v.version for v in client.search_model_versions(filter_string, **kwargs)]

    assert versions(f"name = '{name}'", order_by=["version_number ASC"]) == ["1", "2", "3"]
    assert versions(f"name = '{name}' AND run_id = '{run_b}'", order_by=["version_number DESC"]) == ["3", "2"]
    assert versions(f"name = '{name}' AND tags.stage = 'prod'") == ["2"]
    assert versions(f"name = '{name}' AND version_number >= 2", order_by=["version_number ASC"]) == ["2", "3"]
    assert versions(f"name = '{name}' AND version_number = '2'") == ["2"]  # quoted, as the reference allows
    assert versions(f"name = '{name}' AND source_path LIKE '%/other'") == ["3"]
    assert versions(f"run_id IN ('{run_a}')") == ["1"]
    page = client.search_model_versions(f"name = '{name}'", max_results=2, order_by=["version_number ASC"])
    assert [v.version for v in page] == ["1", "2"] and page.token
    rest = client.search_model_versions(
        f"name = '{name}'", max_results=2, order_by=["version_number ASC"], page_token=page.token
    )
    assert [v.version for v in rest] == ["3"] and not rest.token


def test_registry_search_hides_prompts(client, server):
    prefix = unique("divide")
    model_name, prompt_name = f"{prefix}-model", f"{prefix}-prompt"
    client.create_registered_model(model_name)
    client.create_model_version(model_name, "s3://bucket/m")
    mlflow.genai.register_prompt(prompt_name, "Hello {{name}}")

    models = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'")
    assert [m.name for m in models] == [model_name]
    prompts = mlflow.genai.search_prompts(filter_string=f"name LIKE '{prefix}%'")
    assert [p.name for p in prompts] == [prompt_name]
    # A raw filter without the prompt tag sees models only, as the reference does.
    r = requests.get(api(server, "registered-models/search"), params={"filter": f"name = '{prompt_name}'"})
    assert r.status_code == 200 and r.json() == {}
    r = requests.get(
        api(server, "registered-models/search"),
        params={"filter": f"tags.`{PROMPT_TAG}` = 'true' AND name = '{prompt_name}'"},
    )
    assert [m["name"] for m in r.json()["registered_models"]] == [prompt_name]
    # Same divide for versions.
    versions = client.search_model_versions(f"name LIKE '{prefix}%'")
    assert [v.name for v in versions] == [model_name]
    r = requests.get(
        api(server, "model-versions/search"),
        params={"filter": f"name = '{prompt_name}' AND tag.`{PROMPT_TAG}` = 'true'", "order_by": "version_number DESC"},
    )
    assert [(v["name"], v["version"]) for v in r.json()["model_versions"]] == [(prompt_name, "1")]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_error_duplicate_registration(client):
    name = unique()
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as e:
        client.create_registered_model(name)
    expect_error(e, "RESOURCE_ALREADY_EXISTS")
    assert f"Registered Model (name={name}) already exists." in str(e.value)
    # register_model treats the same answer as "add a version".
    mv = mlflow.register_model("s3://bucket/model", name)
    assert mv.version == "1"


def test_error_prompt_and_model_share_no_name(client, server):
    # Sent raw: the client refuses prompt tags on create_registered_model by itself.
    name = unique()
    client.create_registered_model(name)
    r = requests.post(
        api(server, "registered-models/create"), json={"name": name, "tags": [{"key": PROMPT_TAG, "value": "true"}]}
    )
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert "already taken by a registered model" in r.json()["message"]
    prompt = unique("prompt")
    mlflow.genai.register_prompt(prompt, "Hi {{x}}")
    r = requests.post(api(server, "registered-models/create"), json={"name": prompt})
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert "already taken by a prompt" in r.json()["message"]


def test_error_unknown_alias_version_and_model(client, server):
    name = unique()
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/model")
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "nope")
    expect_error(e, "INVALID_PARAMETER_VALUE")
    assert "Registered model alias nope not found." in str(e.value)
    r = requests.get(api(server, "registered-models/alias"), params={"name": name, "alias": "nope"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "99")
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    assert f"Model Version (name={name}, version=99) not found" in str(e.value)
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(name, "champion", "99")
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException) as e:
        client.create_model_version(unique("missing"), "s3://bucket/model")
    expect_error(e, "RESOURCE_DOES_NOT_EXIST")
    r = requests.get(api(server, "model-versions/get"), params={"name": name, "version": "one"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V42"])
def test_error_reserved_alias(client, alias):
    name = unique()
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/model")
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(name, alias, "1")
    expect_error(e, "INVALID_PARAMETER_VALUE")
    assert "reserved" in str(e.value)


@pytest.mark.parametrize(
    "path, body",
    [
        ("registered-models/alias", {"alias": "bad alias", "version": "1"}),
        ("registered-models/alias", {"alias": "a" * 256, "version": "1"}),
        ("registered-models/set-tag", {"key": "k", "value": "v" * 100_001}),
        ("registered-models/set-tag", {"key": "k" * 251, "value": "v"}),
        ("registered-models/set-tag", {"key": "../k", "value": "v"}),
        ("model-versions/set-tag", {"version": "1", "key": "k", "value": "v" * 100_001}),
        ("model-versions/create", {"source": "s3://bucket/../../etc"}),
        ("model-versions/create", {"source": "file:///tmp", "tags": [{"key": PROMPT_TAG, "value": "true"}]}),
    ],
)
def test_error_invalid_values(client, server, path, body):
    name = unique()
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/model")
    r = requests.post(api(server, path), json={"name": name, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # Nothing was written.
    model = client.get_registered_model(name)
    assert model.aliases == {} and "k" not in model.tags
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]


@pytest.mark.parametrize("key", ["../k", "a//b", "bad!"])
@pytest.mark.parametrize("path, body", [("registered-models/delete-tag", {}), ("model-versions/delete-tag", {"version": "1"})])
def test_error_delete_tag_with_invalid_key(client, server, path, body, key):
    # The key of a delete is held to the rule of a key being set, as the reference does (a run's
    # tag delete is not: there such a key simply names no tag).
    name = unique()
    client.create_registered_model(name, tags={"k": "v"})
    client.create_model_version(name, "s3://bucket/model", tags={"k": "v"})
    r = requests.delete(api(server, path), json={"name": name, "key": key, **body})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).tags == {"k": "v"}
    assert client.get_model_version(name, "1").tags == {"k": "v"}


@pytest.mark.parametrize("path, body", [("registered-models/delete-tag", {}), ("model-versions/delete-tag", {"version": "1"})])
def test_delete_tag_by_an_over_long_key_is_a_no_op(client, server, path, body):
    # Only a set is held to the 250-character limit; the reference deletes by any longer key.
    name = unique()
    client.create_registered_model(name, tags={"k": "v"})
    client.create_model_version(name, "s3://bucket/model", tags={"k": "v"})
    r = requests.delete(api(server, path), json={"name": name, "key": "k" * 251, **body})
    assert r.status_code == 200, r.text
    assert client.get_registered_model(name).tags == {"k": "v"}


@pytest.mark.parametrize("new_name", ["a/b", "a:b", "..", "  "])
def test_error_rename_to_invalid_name(client, server, new_name):
    name = unique()
    client.create_registered_model(name)
    r = requests.post(api(server, "registered-models/rename"), json={"name": name, "new_name": new_name})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).name == name


@pytest.mark.parametrize("query", [{}, {"alias": ""}])
def test_error_get_by_alias_without_alias(client, server, query):
    name = unique()
    client.create_registered_model(name)
    r = requests.get(api(server, "registered-models/alias"), params={"name": name, **query})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Missing value for required parameter 'alias'" in r.json()["message"]


def test_tag_value_at_the_limit_is_kept(client):
    name = unique()
    client.create_registered_model(name)
    client.set_registered_model_tag(name, "big", "v" * 100_000)
    assert client.get_registered_model(name).tags["big"] == "v" * 100_000


# `tags.team IS NULL` gets the 400 of ../shared/spec/mlflow-rest.md §16.4; the reference 3.17 server answers 500.
@pytest.mark.parametrize(
    "filter_string",
    [
        "name = 'a' OR name = 'b'",
        "tags.team IS NULL",
        "metrics.acc > 1",
        "version_number = 1",
        "name > 'a'",
        "name = 'unterminated",
    ],
)
def test_error_bad_registered_model_filter(client, server, filter_string):
    if "IS NULL" in filter_string and getattr(server, "is_reference", False):
        pytest.skip("ferroflow answers 400 where the reference 3.17 server fails with a 500 (`IS NULL`)")
    with pytest.raises(MlflowException) as e:
        client.search_registered_models(filter_string=filter_string)
    expect_error(e, "INVALID_PARAMETER_VALUE")


# `IS NULL` is refused with 400 as ../shared/spec/mlflow-rest.md §16.4–16.5 says; the reference 3.17 server
# answers 500 there.
@pytest.mark.parametrize("filter_string", ["stage = 'Production'", "version_number = 2.5", "run_id IS NULL"])
def test_error_bad_model_version_filter(client, server, filter_string):
    if "IS NULL" in filter_string and getattr(server, "is_reference", False):
        pytest.skip("ferroflow answers 400 where the reference 3.17 server fails with a 500 (`IS NULL`)")
    with pytest.raises(MlflowException) as e:
        client.search_model_versions(filter_string)
    expect_error(e, "INVALID_PARAMETER_VALUE")


def test_error_bad_order_by(client):
    with pytest.raises(MlflowException) as e:
        client.search_registered_models(order_by=["version_number DESC"])
    expect_error(e, "INVALID_PARAMETER_VALUE")


# --------------------------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------------------------


def test_concurrent_registration_numbers_versions_1_to_100(server):
    name = unique("concurrent")
    MlflowClient(tracking_uri=server.url).create_registered_model(name)

    def register(i: int) -> str:
        c = MlflowClient(tracking_uri=server.url)
        return c.create_model_version(name, f"s3://bucket/model-{i}", tags={"i": str(i)}).version

    with ThreadPoolExecutor(max_workers=32) as pool:
        versions = list(pool.map(register, range(100)))
    assert sorted(int(v) for v in versions) == list(range(1, 101))
    stored = MlflowClient(tracking_uri=server.url).search_model_versions(f"name = '{name}'", max_results=200)
    assert sorted(int(v.version) for v in stored) == list(range(1, 101))
    # Each version kept its own source and tag: no write went to another version.
    assert all(v.source == f"s3://bucket/model-{v.tags['i']}" for v in stored)
