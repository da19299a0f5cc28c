"""Evaluation datasets (`mlflow.genai.datasets`) through the real client: create, get (by id
and by name), merge records (upsert by inputs), `to_df()`, search with filters, tags, record
deletion, experiment links, delete, and the server's errors.

Every test asserts on what the server sends back; errors are checked to be `RestException`s
with the code the reference server uses.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

import mlflow
import pandas as pd
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from mlflow.genai import datasets as genai_datasets

DATASET_ID = re.compile(r"d-[0-9a-f]{32}")
RECORD_ID = re.compile(r"dr-[0-9a-f]{32}")
V3 = "/api/3.0/mlflow"


def unique(prefix: str = "ds") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_ms() -> int:
    return int(time.time() * 1000)


def store():
    """The client's REST store, for the calls whose results the fluent API drops."""
    return MlflowClient()._tracking_client.store


def records_by_question(dataset) -> dict:
    df = dataset.to_df()
    return {row["inputs"]["question"]: row for _, row in df.iterrows()}


def assert_rest_error(err: BaseException, code: str) -> None:
    assert isinstance(err, RestException), f"raised by the client, not the server: {err!r}"
    assert err.error_code == code, f"{err.error_code}: {err}"


@pytest.fixture
def dataset(experiment):
    return genai_datasets.create_dataset(
        name=unique(), experiment_id=experiment, tags={"stage": "dev"}
    )


def test_create_and_get_dataset(experiment):
    name = unique("qa")
    before = now_ms()
    created = genai_datasets.create_dataset(
        name=name, experiment_id=experiment, tags={"stage": "dev", "team": "ml"}
    )
    assert DATASET_ID.fullmatch(created.dataset_id)
    assert created.name == name
    assert created.tags["stage"] == "dev" and created.tags["team"] == "ml"
    assert re.fullmatch(r"[0-9a-f]{8}", created.digest)
    assert before <= created.created_time <= now_ms()
    assert created.experiment_ids == [experiment]
    # The client adds the user as a tag; the server makes it created_by.
    user = created.tags.get("mlflow.user")
    assert user, created.tags
    assert created.created_by == user

    by_id = genai_datasets.get_dataset(dataset_id=created.dataset_id)
    assert by_id.dataset_id == created.dataset_id
    assert by_id.name == name
    assert by_id.digest == created.digest
    assert by_id.created_time == created.created_time
    assert by_id.tags == created.tags
    assert by_id.schema is None and by_id.profile is None
    # Fetched lazily through `experiment-ids`.
    assert by_id.experiment_ids == [experiment]

    # By name: the client searches `name = "<name>"` with double quotes.
    by_name = genai_datasets.get_dataset(name=name)
    assert by_name.dataset_id == created.dataset_id


def test_merge_records_upserts_by_inputs(dataset):
    first = [
        {
            "inputs": {"question": "What is MLflow?"},
            "expectations": {"expected_response": "A platform"},
            "tags": {"t": "1"},
        },
        {"inputs": {"question": "What is Spark?"}, "expectations": {"expected_response": "An engine"}},
    ]
    dataset.merge_records(first)
    after_first = genai_datasets.get_dataset(dataset_id=dataset.dataset_id)
    assert json.loads(after_first.profile) == {"num_records": 2}
    assert json.loads(after_first.schema) == {
        "inputs": {"question": "string"},
        "outputs": {},
        "expectations": {"expected_response": "string"},
        "version": "1.0",
    }
    assert after_first.digest != dataset.digest
    assert after_first.last_update_time >= after_first.created_time

    # Same question again (a DataFrame this time): an update, not a third record.
    second = pd.DataFrame(
        [{"inputs": {"question": "What is MLflow?"}, "expectations": {"expected_response": "An ML platform"}}]
    )
    dataset.merge_records(second)
    after_second = genai_datasets.get_dataset(dataset_id=dataset.dataset_id)
    assert json.loads(after_second.profile) == {"num_records": 2}
    assert after_second.digest != after_first.digest

    rows = records_by_question(after_second)
    assert set(rows) == {"What is MLflow?", "What is Spark?"}
    mlflow_row = rows["What is MLflow?"]
    assert mlflow_row["expectations"] == {"expected_response": "An ML platform"}
    # Tags merged: the first merge's "t" stays beside the user tag both merges carry.
    assert mlflow_row["tags"]["t"] == "1"
    assert "mlflow.user" in mlflow_row["tags"]
    assert mlflow_row["source_type"] == "HUMAN"
    assert RECORD_ID.fullmatch(mlflow_row["dataset_record_id"])
    assert rows["What is Spark?"]["expectations"] == {"expected_response": "An engine"}

    # The counts the fluent API drops, read through the store the client uses.
    counts = store().upsert_dataset_records(
        dataset.dataset_id,
        [
            {"inputs": {"question": "What is Spark?"}, "expectations": {"extra": 1}},
            {"inputs": {"question": "What is Rust?"}},
        ],
    )
    assert counts == {"inserted": 1, "updated": 1}
    rows = records_by_question(genai_datasets.get_dataset(dataset_id=dataset.dataset_id))
    assert rows["What is Spark?"]["expectations"] == {"expected_response": "An engine", "extra": 1}
    assert len(rows) == 3


def test_input_key_order_does_not_matter(dataset):
    dataset.merge_records([{"inputs": {"a": 1, "b": "x"}, "expectations": {"e": 1}}])
    counts = store().upsert_dataset_records(
        dataset.dataset_id, [{"inputs": {"b": "x", "a": 1}, "expectations": {"e": 2}}]
    )
    assert counts == {"inserted": 0, "updated": 1}
    df = genai_datasets.get_dataset(dataset_id=dataset.dataset_id).to_df()
    assert len(df) == 1
    assert df.iloc[0]["expectations"] == {"e": 2}


def test_to_df_content_and_sources(dataset):
    dataset.merge_records(
        [
            {"inputs": {"question": "q1"}, "outputs": {"answer": "a1"}, "expectations": {"ok": True}},
            {"inputs": {"question": "q2"}},
            {
                "inputs": {"question": "q3"},
                "source": {"source_type": "TRACE", "source_data": {"trace_id": "tr-0123"}},
            },
        ]
    )
    df = genai_datasets.get_dataset(dataset_id=dataset.dataset_id).to_df()
    assert len(df) == 3
    for column in ("inputs", "outputs", "expectations", "tags", "source_type", "source_id", "dataset_record_id"):
        assert column in df.columns
    rows = {row["inputs"]["question"]: row for _, row in df.iterrows()}
    assert rows["q1"]["outputs"] == {"answer": "a1"}
    assert rows["q1"]["expectations"] == {"ok": True}
    assert rows["q1"]["source_type"] == "HUMAN"  # the client infers it from the expectations
    assert rows["q2"]["source_type"] == "CODE"
    assert rows["q2"]["outputs"] == {}
    assert rows["q3"]["source_type"] == "TRACE"
    assert rows["q3"]["source_id"] == "tr-0123"
    assert len(set(df["dataset_record_id"])) == 3
    schema = json.loads(genai_datasets.get_dataset(dataset_id=dataset.dataset_id).schema)
    assert schema["outputs"] == {"answer": "string"}
    assert schema["expectations"] == {"ok": "boolean"}


def test_records_are_paged(dataset, server):
    dataset.merge_records([{"inputs": {"question": f"q{i}"}} for i in range(5)])
    seen = []
    token = None
    pages = 0
    while True:
        params = {"max_results": 2}
        if token:
            params["page_token"] = token
        r = requests.get(f"{server.url}{V3}/datasets/{dataset.dataset_id}/records", params=params, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        page = json.loads(body["records"])
        assert len(page) <= 2
        seen.extend(record["dataset_record_id"] for record in page)
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    # The client's own loop reads them all.
    records, next_token = store()._load_dataset_records(dataset.dataset_id, max_results=None)
    assert len(records) == 5 and next_token is None


def test_search_datasets_with_filters(experiment):
    prefix = unique("srch")
    a = genai_datasets.create_dataset(name=f"{prefix}-a", experiment_id=experiment, tags={"env": "prod"})
    b = genai_datasets.create_dataset(name=f"{prefix}-b", experiment_id=experiment, tags={"env": "dev"})
    elsewhere = mlflow.create_experiment(unique("exp"))
    c = genai_datasets.create_dataset(name=f"{prefix}-c", experiment_id=elsewhere)

    found = genai_datasets.search_datasets(filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"])
    assert [d.name for d in found] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]

    in_experiment = genai_datasets.search_datasets(experiment_ids=experiment)
    assert {d.dataset_id for d in in_experiment} == {a.dataset_id, b.dataset_id}
    # Default order: newest first.
    assert [d.dataset_id for d in in_experiment] == [b.dataset_id, a.dataset_id]

    prod = genai_datasets.search_datasets(
        experiment_ids=[experiment, elsewhere], filter_string="tags.env = 'prod'"
    )
    assert [d.dataset_id for d in prod] == [a.dataset_id]
    assert prod[0].tags["env"] == "prod"

    quoted = genai_datasets.search_datasets(filter_string=f'name = "{prefix}-c"')
    assert [d.dataset_id for d in quoted] == [c.dataset_id]

    recent = genai_datasets.search_datasets(
        filter_string=f"created_time >= {a.created_time} AND name LIKE '{prefix}%'"
    )
    assert {d.dataset_id for d in recent} == {a.dataset_id, b.dataset_id, c.dataset_id}

    # Pages of one, followed by the client.
    paged = MlflowClient().search_datasets(
        filter_string=f"name LIKE '{prefix}-%'", max_results=1, order_by=["name DESC"]
    )
    assert [d.name for d in paged] == [f"{prefix}-c"]
    assert paged.token
    second = MlflowClient().search_datasets(
        filter_string=f"name LIKE '{prefix}-%'", max_results=1, order_by=["name DESC"], page_token=paged.token
    )
    assert [d.name for d in second] == [f"{prefix}-b"]


def test_search_rejects_bad_filters():
    with pytest.raises(MlflowException) as info:
        genai_datasets.search_datasets(filter_string="name = 'a' OR name = 'b'")
    assert_rest_error(info.value, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as info:
        genai_datasets.search_datasets(filter_string="digest = 'x'")
    assert_rest_error(info.value, "INVALID_PARAMETER_VALUE")


def test_dataset_tags(dataset):
    genai_datasets.set_dataset_tags(dataset_id=dataset.dataset_id, tags={"owner": "me", "stage": "prod"})
    tags = genai_datasets.get_dataset(dataset_id=dataset.dataset_id).tags
    assert tags["owner"] == "me" and tags["stage"] == "prod"
    genai_datasets.delete_dataset_tag(dataset_id=dataset.dataset_id, key="owner")
    tags = genai_datasets.get_dataset(dataset_id=dataset.dataset_id).tags
    assert "owner" not in tags and tags["stage"] == "prod"
    # Deleting a tag that is not there is a no-op, as in the reference.
    genai_datasets.delete_dataset_tag(dataset_id=dataset.dataset_id, key="never-set")


def test_delete_records_and_experiment_links(dataset, experiment):
    dataset.merge_records([{"inputs": {"question": "keep"}}, {"inputs": {"question": "drop"}}])
    loaded = genai_datasets.get_dataset(dataset_id=dataset.dataset_id)
    rows = records_by_question(loaded)
    deleted = loaded.delete_records([rows["drop"]["dataset_record_id"], "dr-" + "0" * 32])
    assert deleted == 1
    after = genai_datasets.get_dataset(dataset_id=dataset.dataset_id)
    assert json.loads(after.profile) == {"num_records": 1}
    assert set(records_by_question(after)) == {"keep"}

    other = mlflow.create_experiment(unique("exp"))
    linked = genai_datasets.add_dataset_to_experiments(dataset.dataset_id, [other])
    assert linked.experiment_ids == [experiment, other]
    assert store().get_dataset_experiment_ids(dataset.dataset_id) == [experiment, other]
    unlinked = genai_datasets.remove_dataset_from_experiments(dataset.dataset_id, [experiment])
    assert unlinked.experiment_ids == [other]
    # The reference answers BAD_REQUEST here (a foreign-key failure surfacing);
    # RESOURCE_DOES_NOT_EXIST is what its code sets out to raise, and what ferroflow does.
    with pytest.raises(MlflowException) as info:
        genai_datasets.add_dataset_to_experiments(dataset.dataset_id, ["987654321"])
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")


def test_delete_dataset(dataset):
    dataset.merge_records([{"inputs": {"question": "q"}}])
    genai_datasets.delete_dataset(dataset_id=dataset.dataset_id)
    with pytest.raises(MlflowException) as info:
        genai_datasets.get_dataset(dataset_id=dataset.dataset_id)
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    assert dataset.dataset_id in str(info.value)
    assert genai_datasets.search_datasets(filter_string=f'name = "{dataset.name}"') == []
    # A retried delete succeeds.
    genai_datasets.delete_dataset(dataset_id=dataset.dataset_id)


def test_unknown_dataset_errors(server):
    missing = "d-" + uuid.uuid4().hex
    with pytest.raises(MlflowException) as info:
        genai_datasets.get_dataset(dataset_id=missing)
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException) as info:
        store().upsert_dataset_records(missing, [{"inputs": {"q": 1}}])
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException) as info:
        genai_datasets.set_dataset_tags(dataset_id=missing, tags={"a": "b"})
    assert_rest_error(info.value, "RESOURCE_DOES_NOT_EXIST")
    r = requests.get(f"{server.url}{V3}/datasets/{missing}/records", timeout=10)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        genai_datasets.get_dataset(name=unique("nobody"))
    assert "not found" in str(info.value)


def test_bad_requests_are_400(dataset, server, experiment):
    # The reference answers 500 to unreadable `records`; a client error is a 400 here.
    if getattr(server, "is_reference", False):
        pytest.skip("ferroflow answers 400 where the reference fails with a 500 (unreadable `records`)")
    url = f"{server.url}{V3}/datasets"
    cases = [
        ("post", f"{url}/{dataset.dataset_id}/records", {"records": "not json"}),
        ("post", f"{url}/{dataset.dataset_id}/records", {"records": json.dumps([{"expectations": {}}])}),
        ("post", f"{url}/{dataset.dataset_id}/records", {"records": json.dumps([{"inputs": "x"}])}),
        ("post", f"{url}/{dataset.dataset_id}/records", {}),
        ("patch", f"{url}/{dataset.dataset_id}/tags", {"tags": "[1, 2]"}),
        ("post", f"{url}/create", {"experiment_ids": [experiment]}),
        ("post", f"{url}/create", {"name": "x", "experiment_ids": ["not-a-number"]}),
        ("post", f"{url}/create", {"name": "x", "tags": "{oops"}),
    ]
    for method, target, body in cases:
        r = requests.request(method, target, json=body, timeout=10)
        assert r.status_code == 400, (target, body, r.status_code, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    bad_token = base64.b64encode(b"garbage").decode()
    r = requests.get(f"{url}/{dataset.dataset_id}/records", params={"page_token": bad_token}, timeout=10)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # Nothing was written by the rejected upserts.
    assert genai_datasets.get_dataset(dataset_id=dataset.dataset_id).profile is None


def test_evaluate_reads_a_managed_dataset(experiment):
    """`genai.evaluate(data=<dataset>)`: looks the dataset up by name, reads its records, and
    logs it as the run's input with the server's digest (../shared/spec/mlflow-rest.md §15)."""
    from mlflow.genai.scorers import RegexMatch

    name = unique("eval")
    created = genai_datasets.create_dataset(name=name, experiment_id=experiment)
    created.merge_records(
        [
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"expected_response": "a platform"}},
            {"inputs": {"question": "What is Spark?"}, "expectations": {"expected_response": "an engine"}},
        ]
    )
    dataset = genai_datasets.get_dataset(name=name)
    result = mlflow.genai.evaluate(
        data=dataset,
        predict_fn=lambda question: f"Answer: {question}",
        scorers=[RegexMatch(pattern="^Answer")],
    )
    assert result.metrics["regex_match/mean"] == 1.0
    run = MlflowClient().get_run(result.run_id)
    logged = [d.dataset for d in run.inputs.dataset_inputs]
    assert [(d.name, d.digest) for d in logged] == [(name, dataset.digest)]
