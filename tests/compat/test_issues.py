"""The GenAI issues API (MLflow 3.11+; the 3.18 fields: ids chosen by the client, metadata,
last-seen times, name/status/severity/category filters, ordering, total counts, the basic view).

Bodies are the JSON the 3.18 client writes (its rest store's ``message_to_json``). The pinned
3.17.2 reference server knows only the first issue fields, so the 3.18 behaviour is checked on
servers that report 3.18 or later; the expectations come from the 3.18 server, run side by side.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests
from packaging.version import Version

API3 = "/api/3.0/mlflow"


def _at_least_318(server) -> bool:
    return Version(requests.get(f"{server.url}/version", timeout=10).text.strip()) >= Version("3.18.0")


def _call(server, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(method, f"{server.url}{API3}{path}", json=body, timeout=30)


def _ok(r: requests.Response) -> dict:
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def _refused(r: requests.Response, status: int, code: str, message: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error_code"] == code, body
    assert body["message"] == message, body


def _create(server, experiment_id: str, **fields) -> dict:
    body = {"experiment_id": experiment_id, "name": "Wrong answers", "description": "The agent invents facts."}
    body.update(fields)
    return _ok(_call(server, "POST", "/issues", body))["issue"]


def _new_experiment(client) -> str:
    return client.create_experiment(f"issues-{uuid.uuid4().hex}")


@pytest.fixture
def needs_318(server):
    if not _at_least_318(server):
        pytest.skip("the 3.18 issue fields are not served by this reference server")


def test_create_and_get_an_issue(server, client):
    experiment_id = _new_experiment(client)
    issue = _create(server, experiment_id, severity="high", status="pending", categories=["correctness"])
    assert issue["issue_id"].startswith("iss-")
    assert issue["experiment_id"] == experiment_id
    assert (issue["name"], issue["description"], issue["status"], issue["severity"]) == (
        "Wrong answers",
        "The agent invents facts.",
        "pending",
        "high",
    )
    assert issue["categories"] == ["correctness"]
    assert isinstance(issue["created_timestamp"], int)
    assert issue["last_updated_timestamp"] == issue["created_timestamp"]
    got = _ok(_call(server, "GET", f"/issues/{issue['issue_id']}"))["issue"]
    assert got == issue


def test_the_client_reads_an_issue(server, client):
    # The Python client's rest store parses the answer into its Issue entity.
    experiment_id = _new_experiment(client)
    store = client._tracking_client.store
    issue = store.create_issue(experiment_id=experiment_id, name="Slow", description="p99 over 10 s", severity="low")
    assert issue.issue_id.startswith("iss-")
    assert str(issue.status) == "pending" and str(issue.severity) == "low"
    again = store.get_issue(issue.issue_id)
    assert again.name == "Slow" and again.description == "p99 over 10 s"
    page = store.search_issues(experiment_id=experiment_id)
    assert [found.issue_id for found in page] == [issue.issue_id]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": None}, "Missing value for required parameter 'name'. See the API docs for more information about request parameters."),
        ({"description": ""}, "Missing value for required parameter 'description'. See the API docs for more information about request parameters."),
        ({"status": "open"}, "Invalid issue status: 'open'"),
        ({"severity": "urgent"}, "Invalid issue severity: 'urgent'"),
    ],
)
def test_create_refuses_bad_fields(server, client, fields, message):
    experiment_id = _new_experiment(client)
    body = {"experiment_id": experiment_id, "name": "n", "description": "d"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    if "status" in fields or "severity" in fields:
        if not _at_least_318(server):
            pytest.skip("3.17.2 answers a bad enum value with a 500")
    _refused(_call(server, "POST", "/issues", body), 400, "INVALID_PARAMETER_VALUE", message)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": "n" * 251}, "Issue name must contain 1 to 250 characters"),
        ({"issue_id": "abc"}, "issue_id must be iss-* and at most 36 characters"),
        ({"last_seen_timestamp": -1}, "last_seen_timestamp must be nonnegative milliseconds"),
        ({"metadata": {"k": 1}}, "metadata must be a string map with at most 100 entries"),
        ({"categories": [""]}, "categories must contain at most 100 nonempty strings of at most 250 characters"),
        ({"created_by": "x" * 256}, "Invalid created_by"),
    ],
)
def test_create_refuses_what_318_refuses(server, client, needs_318, fields, message):
    experiment_id = _new_experiment(client)
    body = {"experiment_id": experiment_id, "name": "n", "description": "d", **fields}
    _refused(_call(server, "POST", "/issues", body), 400, "INVALID_PARAMETER_VALUE", message)


def test_create_with_every_318_field(server, client, needs_318):
    experiment_id = _new_experiment(client)
    run_id = client.create_run(experiment_id).info.run_id
    issue_id = f"iss-{uuid.uuid4().hex[:12]}"
    issue = _create(
        server,
        experiment_id,
        issue_id=issue_id,
        status="resolved",
        severity="medium",
        root_causes=["no retrieval"],
        source_run_id=run_id,
        created_by="alice",
        categories=["Correctness", "latency", "correctness"],
        last_seen_timestamp=1234,
        metadata={"k": "v", "a": "b"},
    )
    assert issue["issue_id"] == issue_id
    assert issue["root_causes"] == ["no retrieval"]
    assert issue["source_run_id"] == run_id
    # The creator is also the last updater; categories are kept as given.
    assert issue["created_by"] == issue["last_updated_by"] == "alice"
    assert issue["categories"] == ["Correctness", "latency", "correctness"]
    assert issue["last_seen_timestamp"] == 1234
    assert issue["metadata"] == {"k": "v", "a": "b"}
    # Without one, the last-seen time is the creation time.
    plain = _create(server, experiment_id)
    assert plain["last_seen_timestamp"] == plain["created_timestamp"]
    # An id can be taken once.
    _refused(
        _call(server, "POST", "/issues", {"experiment_id": experiment_id, "name": "n", "description": "d", "issue_id": issue_id}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        "Issue ID already exists",
    )


def test_create_checks_experiment_and_source_run(server, client, needs_318):
    experiment_id = _new_experiment(client)
    other_run = client.create_run(_new_experiment(client)).info.run_id
    base = {"experiment_id": experiment_id, "name": "n", "description": "d"}
    _refused(
        _call(server, "POST", "/issues", {**base, "source_run_id": other_run}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Source run must belong to the Issue experiment",
    )
    missing_run = uuid.uuid4().hex
    _refused(
        _call(server, "POST", "/issues", {**base, "source_run_id": missing_run}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Run with id={missing_run} not found",
    )
    _refused(
        _call(server, "POST", "/issues", {**base, "experiment_id": "987654321"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=987654321 exists",
    )
    _refused(
        _call(server, "POST", "/issues", {**base, "experiment_id": "abc"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    )


def test_unknown_issue_is_404(server):
    _refused(
        _call(server, "GET", "/issues/iss-nosuchissue"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Issue with ID 'iss-nosuchissue' not found",
    )


def test_update_an_issue(server, client, needs_318):
    experiment_id = _new_experiment(client)
    issue = _create(server, experiment_id, created_by="alice", last_seen_timestamp=1000, metadata={"k": "v", "a": "b"})
    path = f"/issues/{issue['issue_id']}"
    updated = _ok(
        _call(
            server,
            "PATCH",
            path,
            {
                "issue_id": issue["issue_id"],
                "status": "rejected",
                "name": "Renamed",
                "severity": "low",
                "metadata": {"k": "v2", "z": "1"},
                "delete_metadata_keys": ["a"],
                "categories": ["x", "x", "y"],
                "last_seen_timestamp": 5,
                "last_updated_by": "bob",
            },
        )
    )["issue"]
    assert (updated["status"], updated["name"], updated["severity"]) == ("rejected", "Renamed", "low")
    assert updated["metadata"] == {"k": "v2", "z": "1"}
    assert updated["categories"] == ["x", "y"]
    # The last-seen time never moves back.
    assert updated["last_seen_timestamp"] == 1000
    assert updated["created_by"] == "alice" and updated["last_updated_by"] == "bob"
    assert updated["last_updated_timestamp"] >= issue["last_updated_timestamp"]
    assert updated["description"] == issue["description"]
    # An empty list clears the categories (the 3.18 client sends it explicitly).
    cleared = _ok(_call(server, "PATCH", path, {"issue_id": issue["issue_id"], "categories": []}))["issue"]
    assert "categories" not in cleared
    _refused(
        _call(server, "PATCH", path, {"issue_id": issue["issue_id"], "metadata": {"k": "1"}, "delete_metadata_keys": ["k"]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Cannot update and delete the same key",
    )
    _refused(
        _call(server, "PATCH", path, {"status": "pending"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'issue_id'. See the API docs for more information about request parameters.",
    )
    _refused(
        _call(server, "PATCH", "/issues/iss-nosuchissue", {"issue_id": "iss-nosuchissue", "status": "pending"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Issue with ID 'iss-nosuchissue' not found",
    )


def _ids(answer: dict) -> list[str]:
    return [issue["issue_id"] for issue in answer.get("issues", [])]


@pytest.fixture
def six_issues(server, client):
    """Six issues of one experiment: (experiment id, {name: issue})."""
    experiment_id = _new_experiment(client)
    made = {}
    for name, severity, category in [
        ("Alpha one", "low", " Cost "),
        ("beta two", "medium", "safety"),
        ("Gamma three", None, "safety"),
        ("alpha four", "high", "cost"),
        ("delta five", "not_an_issue", "latency"),
        ("Epsilon six", "low", "latency"),
    ]:
        fields = {"name": name, "categories": [category]}
        if severity:
            fields["severity"] = severity
        made[name] = _create(server, experiment_id, **fields)
    return experiment_id, made


def _search(server, body: dict) -> dict:
    return _ok(_call(server, "POST", "/issues/search", body))


def test_search_default_order_and_filters(server, six_issues):
    experiment_id, made = six_issues
    answer = _search(server, {"experiment_id": experiment_id})
    # Highest severity first (none lowest), then newest first.
    names = [issue["name"] for issue in answer["issues"]]
    assert names == ["alpha four", "beta two", "Epsilon six", "Alpha one", "delta five", "Gamma three"]
    assert answer["next_page_token"] == ""
    made["alpha four"] = _ok(
        _call(server, "PATCH", f"/issues/{made['alpha four']['issue_id']}", {"issue_id": made["alpha four"]["issue_id"], "status": "resolved"})
    )["issue"]
    by_filter = _search(server, {"experiment_id": experiment_id, "filter_string": "status = 'resolved'"})
    assert _ids(by_filter) == [made["alpha four"]["issue_id"]]
    by_ne = _search(server, {"experiment_id": experiment_id, "filter_string": "status != 'pending'"})
    assert _ids(by_ne) == [made["alpha four"]["issue_id"]]
    with_counts = _search(server, {"experiment_id": experiment_id, "include_trace_count": True})
    assert {issue.get("trace_count") for issue in with_counts["issues"]} == {0}


def test_search_pages(server, six_issues):
    experiment_id, _ = six_issues
    seen = []
    token = None
    while True:
        body = {"experiment_id": experiment_id, "max_results": 4}
        if token:
            body["page_token"] = token
        answer = _search(server, body)
        seen.extend(_ids(answer))
        token = answer.get("next_page_token")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6


def test_search_318_filters(server, six_issues, needs_318):
    experiment_id, made = six_issues
    names = lambda answer: [issue["name"] for issue in answer.get("issues", [])]  # noqa: E731
    # The name is a case-insensitive literal substring.
    assert names(_search(server, {"experiment_id": experiment_id, "name": "ALPHA"})) == ["alpha four", "Alpha one"]
    assert names(_search(server, {"experiment_id": experiment_id, "name": "%"})) == []
    assert names(_search(server, {"experiment_id": experiment_id, "severities": ["low", "high"]})) == [
        "alpha four",
        "Epsilon six",
        "Alpha one",
    ]
    assert names(_search(server, {"experiment_id": experiment_id, "statuses": ["rejected"]})) == []
    # Categories match ignoring case and surrounding spaces.
    assert names(_search(server, {"experiment_id": experiment_id, "categories": ["COST"]})) == ["alpha four", "Alpha one"]
    ordered = _search(server, {"experiment_id": experiment_id, "order_by": ["name DESC"]})
    assert names(ordered) == ["Gamma three", "Epsilon six", "delta five", "beta two", "Alpha one", "alpha four"]
    by_severity = _search(server, {"experiment_id": experiment_id, "order_by": ["severity", "created_timestamp DESC"]})
    assert names(by_severity)[:2] == ["Gamma three", "delta five"]
    total = _search(server, {"experiment_id": experiment_id, "include_total_count": True, "max_results": 2})
    assert total["total_count"] == 6 and len(total["issues"]) == 2 and total["next_page_token"]
    # The token belongs to its query.
    _refused(
        _call(server, "POST", "/issues/search", {"experiment_id": experiment_id, "name": "a", "page_token": total["next_page_token"]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid page token or token does not match the issue query",
    )
    second = _search(
        server,
        {"experiment_id": experiment_id, "include_total_count": True, "max_results": 2, "page_token": total["next_page_token"]},
    )
    assert not set(_ids(second)) & set(_ids(total))
    assert json.loads(base64.b64decode(total["next_page_token"]))["offset"] == 2
    basic = _search(server, {"experiment_id": experiment_id, "view": "basic", "max_results": 1})
    assert basic["issues"][0]["description"] == ""


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"filter_string": "name = 'x'"}, None),
        ({"order_by": ["bogus"]}, "Invalid issue order_by: 'bogus'"),
        ({"order_by": ["name UP"]}, "Invalid issue order_by: 'name UP'"),
        ({"view": "x"}, "view must be basic or full"),
        ({"statuses": ["open"]}, "Invalid issue status: 'open'"),
        ({"max_results": 0}, "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"),
        ({"max_results": 50001}, "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"),
    ],
)
def test_search_refuses_bad_fields(server, client, needs_318, fields, message):
    experiment_id = _new_experiment(client)
    r = _call(server, "POST", "/issues/search", {"experiment_id": experiment_id, **fields})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    if message is None:
        # The reference lists the supported fields from a Python set, in no fixed order.
        assert r.json()["message"].startswith("Invalid filter field 'name'. Supported fields: {"), r.text
    else:
        assert r.json()["message"] == message
