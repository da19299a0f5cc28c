"""Registered scorers (`Scorer.register`, `mlflow.genai.scorers.list_scorers / get_scorer /
list_scorer_versions / delete_scorer`) through the real client: versions per (experiment,
name), the latest-version listing, custom `@scorer` registration, online scoring configs, and
the server's errors.

Custom `@scorer` functions are refused unless the server runs with
`MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS=true` (the client runs their source when it reads them
back), and an online config with a sample rate above 0 needs a scorer whose judge calls a
gateway model, as on the reference.
"""

from __future__ import annotations

import json
import re
import uuid

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from mlflow.genai.scorers import (
    RegexMatch,
    Safety,
    delete_scorer,
    get_scorer,
    list_scorers,
    scorer,
)
from mlflow.genai.scorers.registry import list_scorer_versions

SCORER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
V3 = "/api/3.0/mlflow"


def unique(prefix: str = "scorer") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def store():
    return MlflowClient()._tracking_client.store


def raw_serialized(scorer_version) -> dict:
    """The stored serialization as JSON (the entity's public property parses it further)."""
    return json.loads(scorer_version._serialized_scorer)


def assert_rest_error(err: BaseException, code: str) -> None:
    assert isinstance(err, RestException), f"raised by the client, not the server: {err!r}"
    assert err.error_code == code, f"{err.error_code}: {err}"


@scorer
def not_empty(outputs) -> bool:
    return bool(outputs)


def test_register_builtin_scorer_versions(experiment):
    name = unique("starts_with_answer")
    first = RegexMatch(pattern="^Answer").register(name=name, experiment_id=experiment)
    assert first.name == name

    v1 = store().get_scorer(experiment, name)
    assert v1.scorer_version == 1
    assert SCORER_ID.fullmatch(v1.scorer_id)
    assert str(v1.experiment_id) == experiment
    assert raw_serialized(v1)["builtin_scorer_class"] == "RegexMatch"

    RegexMatch(pattern="^A").register(name=name, experiment_id=experiment)
    latest = get_scorer(name=name, experiment_id=experiment)
    assert latest.name == name
    assert latest.pattern == "^A"
    old = get_scorer(name=name, experiment_id=experiment, version=1)
    assert old.pattern == "^Answer"

    versions = list_scorer_versions(name=name, experiment_id=experiment)
    assert [version for _, version in versions] == [1, 2]
    assert [s.pattern for s, _ in versions] == ["^Answer", "^A"]
    raw = store().list_scorer_versions(experiment, name)
    # Re-registering keeps the scorer's id.
    assert {sv.scorer_id for sv in raw} == {v1.scorer_id}


def test_serialized_scorer_is_stored_verbatim(experiment, server):
    name = unique()
    serialized = json.dumps({"name": name, "anything": [1, {"b": 2, "a": 1}], "unicode": "é"})
    r = requests.post(
        f"{server.url}{V3}/scorers/register",
        json={"experiment_id": experiment, "name": name, "serialized_scorer": serialized},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and body["name"] == name and body["experiment_id"] == experiment
    assert body["serialized_scorer"] == serialized
    assert SCORER_ID.fullmatch(body["scorer_id"])
    r = requests.get(f"{server.url}{V3}/scorers/get", params={"experiment_id": experiment, "name": name}, timeout=10)
    got = r.json()["scorer"]
    assert got["serialized_scorer"] == serialized
    # `Scorer.experiment_id` is an int32 on the wire.
    assert got["experiment_id"] == int(experiment)
    assert got["scorer_name"] == name and got["scorer_version"] == 1
    assert got["scorer_id"] == body["scorer_id"] and got["creation_time"] == body["creation_time"]


def test_custom_scorer_registration_is_refused_by_default(experiment):
    with pytest.raises(MlflowException) as info:
        not_empty.register(name=unique("not_empty"), experiment_id=experiment)
    assert_rest_error(info.value, "INVALID_PARAMETER_VALUE")
    assert "Custom scorer registration (using @scorer decorator) is disabled by default" in str(info.value)
    assert "MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS" in str(info.value)
    assert store().list_scorers(experiment) == []


def test_custom_scorer_registers_when_the_server_allows_it(fresh_server):
    srv = fresh_server(env={"MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS": "true"})
    client = MlflowClient(srv.url)
    experiment = client.create_experiment(unique("custom"))
    name = unique("not_empty")
    serialized = json.dumps(not_empty.model_dump())
    r = requests.post(
        f"{srv.url}{V3}/scorers/register",
        json={"experiment_id": experiment, "name": name, "serialized_scorer": serialized},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    stored = client._tracking_client.store.get_scorer(experiment, name)
    data = raw_serialized(stored)
    assert data["call_source"] and "return bool(outputs)" in data["call_source"]
    assert data["original_func_name"] == "not_empty"


def test_list_scorers_returns_latest_of_each(experiment):
    a, b = unique("a"), unique("b")
    RegexMatch(pattern="x").register(name=a, experiment_id=experiment)
    RegexMatch(pattern="y").register(name=b, experiment_id=experiment)
    RegexMatch(pattern="z").register(name=a, experiment_id=experiment)
    scorers = list_scorers(experiment_id=experiment)
    by_name = {s.name: s for s in scorers}
    assert set(by_name) == {a, b}
    assert by_name[a].pattern == "z" and by_name[b].pattern == "y"
    raw = {sv.scorer_name: sv.scorer_version for sv in store().list_scorers(experiment)}
    assert raw == {a: 2, b: 1}
    # Another experiment sees none of them.
    other = mlflow.create_experiment(unique("exp"))
    assert list_scorers(experiment_id=other) == []


def test_delete_scorer_versions(experiment):
    name = unique()
    for pattern in ("1", "2", "3"):
        RegexMatch(pattern=pattern).register(name=name, experiment_id=experiment)
    first_id = store().get_scorer(experiment, name).scorer_id

    delete_scorer(name=name, experiment_id=experiment, version=3)
    assert store().get_scorer(experiment, name).scorer_version == 2
    with pytest.raises(MlflowException) as info:
        get_scorer(name=name, experiment_id=experiment, version=3)
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")

    delete_scorer(name=name, experiment_id=experiment, version="all")
    with pytest.raises(MlflowException) as info:
        get_scorer(name=name, experiment_id=experiment)
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    assert name not in [s.scorer_name for s in store().list_scorers(experiment)]

    # The name starts again from version 1, as a new scorer.
    RegexMatch(pattern="again").register(name=name, experiment_id=experiment)
    again = store().get_scorer(experiment, name)
    assert again.scorer_version == 1 and again.scorer_id != first_id


def test_unknown_scorer_errors(experiment):
    with pytest.raises(MlflowException) as info:
        get_scorer(name="nope", experiment_id=experiment)
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    assert "Scorer with name 'nope' not found" in str(info.value)
    with pytest.raises(MlflowException) as info:
        delete_scorer(name="nope", experiment_id=experiment, version="all")
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException) as info:
        list_scorer_versions(name="nope", experiment_id=experiment)
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException) as info:
        RegexMatch(pattern="x").register(name=unique(), experiment_id="987654321")
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")


def test_online_configs(experiment, server):
    if server.is_reference:
        # The reference checks at registration that the judge's gateway endpoint exists, and
        # ferroflow has no AI gateway to make one in.
        pytest.skip("needs an AI gateway endpoint on the reference")
    name = unique()
    Safety(model="gateway:/judge-chat").register(name=name, experiment_id=experiment)
    scorer_id = store().get_scorer(experiment, name).scorer_id
    # Every list/get is followed by this call; `configs` must be there even when empty.
    r = requests.get(f"{server.url}{V3}/scorers/online-configs", params={"scorer_ids": scorer_id}, timeout=10)
    assert r.status_code == 200 and r.json() == {"configs": []}

    config = store().upsert_online_scoring_config(experiment, name, 0.25, "trace.status = 'OK'")
    assert config.scorer_id == scorer_id and config.sample_rate == 0.25
    assert config.filter_string == "trace.status = 'OK'" and str(config.experiment_id) == experiment
    configs = store().get_online_scoring_configs([scorer_id, "00000000-0000-0000-0000-000000000000"])
    assert [c.online_scoring_config_id for c in configs] == [config.online_scoring_config_id]
    loaded = get_scorer(name=name, experiment_id=experiment)
    assert loaded.sample_rate == 0.25 and loaded.filter_string == "trace.status = 'OK'"

    with pytest.raises(MlflowException) as info:
        store().upsert_online_scoring_config(experiment, name, 1.5)
    assert_rest_error(info.value, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as info:
        store().upsert_online_scoring_config(experiment, "nope", 0.5)
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")


def test_online_scoring_needs_a_gateway_judge(experiment):
    name = unique("regex")
    RegexMatch(pattern="x").register(name=name, experiment_id=experiment)
    with pytest.raises(MlflowException) as info:
        store().upsert_online_scoring_config(experiment, name, 0.5)
    assert_rest_error(info.value, "INVALID_PARAMETER_VALUE")
    assert str(info.value).endswith(
        f"Scorer '{name}' does not use a gateway model. "
        "Automatic evaluation is only supported for scorers that use gateway models."
    )
    judge = unique("judge")
    Safety(model="openai:/gpt-4o-mini").register(name=judge, experiment_id=experiment)
    with pytest.raises(MlflowException) as info:
        store().upsert_online_scoring_config(experiment, judge, 1.0)
    assert_rest_error(info.value, "INVALID_PARAMETER_VALUE")
    # Sampling nothing is allowed whatever the scorer.
    assert store().upsert_online_scoring_config(experiment, name, 0.0).sample_rate == 0.0


def test_bad_registrations_are_400(experiment, server):
    url = f"{server.url}{V3}/scorers/register"
    for body in (
        {"experiment_id": experiment, "name": "  ", "serialized_scorer": "{}"},
        {"experiment_id": experiment, "name": "s", "serialized_scorer": "not json"},
        {"experiment_id": experiment, "name": "s"},
        {"experiment_id": "abc", "name": "s", "serialized_scorer": "{}"},
    ):
        r = requests.post(url, json=body, timeout=10)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
