"""The HTTP contract below the client, checked with plain `requests`: error bodies and status
codes, ENDPOINT_NOT_FOUND 404s for unknown routes (the client's version fallbacks depend on them), and the
server-level endpoints `/health`, `/version`, `/api/3.0/mlflow/server-info`.

After every test the server must still serve (see `still_serving`).
"""

from __future__ import annotations

import http.client
import json
import uuid

import pytest
import requests
from packaging.version import Version

API = "/api/2.0/mlflow"
# Codes a server may use for a body it cannot parse or that has the wrong types. The reference
# server answers INVALID_PARAMETER_VALUE for both.
BAD_REQUEST_CODES = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"}


@pytest.fixture(autouse=True)
def still_serving(server):
    yield
    r = requests.get(f"{server.url}/health", timeout=10)
    assert r.status_code == 200, "server stopped answering /health"
    r = requests.get(f"{server.url}{API}/experiments/get", params={"experiment_id": "0"}, timeout=10)
    assert r.status_code == 200 and r.json()["experiment"]["name"] == "Default"


def _json_error(r: requests.Response) -> dict:
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("error_code"), str), body
    assert isinstance(body.get("message"), str), body
    return body


def post(server, path: str, **kwargs) -> requests.Response:
    return requests.post(f"{server.url}{path}", timeout=30, **kwargs)


def test_health(server):
    r = requests.get(f"{server.url}/health", timeout=10)
    assert r.status_code == 200
    assert r.text.strip() == "OK"


def test_version_is_pep440_at_least_3_4(server):
    r = requests.get(f"{server.url}/version", timeout=10)
    assert r.status_code == 200
    # The client parses the bare body with packaging; >= 3.4 makes it send spans over OTLP.
    assert Version(r.text.strip()) >= Version("3.4")


def test_server_info(server):
    r = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=10)
    assert r.status_code == 200
    info = r.json()
    assert isinstance(info.get("store_type"), str) and info["store_type"]
    # Anything else would send the client to presigned/multipart endpoints.
    assert not info.get("multipart_uploads_enabled")
    assert not info.get("multipart_downloads_enabled")
    assert not info.get("artifacts_presigned_only")


@pytest.mark.parametrize("body", [b"{bad", b"{\"name\": ", b"[1, 2", b"\xff\xfe"])
def test_malformed_json_body(server, body):
    r = post(
        server,
        f"{API}/experiments/create",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert _json_error(r)["error_code"] in BAD_REQUEST_CODES


@pytest.mark.parametrize(
    "path, payload",
    [
        (f"{API}/experiments/create", {"name": 5}),
        (f"{API}/experiments/create", {"name": ["x"]}),
        (f"{API}/runs/create", {"experiment_id": ["x"]}),
        (f"{API}/runs/log-metric", {"run_id": "0" * 32, "key": "m", "value": "not-a-number", "timestamp": 1}),
        (f"{API}/experiments/search", {"max_results": "many"}),
    ],
)
def test_wrong_field_types(server, path, payload):
    r = post(server, path, json=payload)
    assert r.status_code == 400, r.text
    assert _json_error(r)["error_code"] in BAD_REQUEST_CODES


def test_missing_required_field(server):
    r = post(server, f"{API}/experiments/create", json={})
    assert r.status_code == 400, r.text
    assert _json_error(r)["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", f"{API}/no-such-endpoint"),
        ("POST", f"{API}/experiments/no-such-verb"),
        ("POST", "/api/3.0/mlflow/no/such/thing"),
        ("GET", "/api/2.0/not-mlflow/anything"),
    ],
)
def test_unknown_route_is_404_the_client_reads_as_endpoint_not_found(server, method, path):
    # The client turns a 404 into ENDPOINT_NOT_FOUND (from the body's error_code when it is JSON,
    # from the status otherwise) and then falls back to older endpoints; a 404 with another code
    # would break those fallbacks. test_conformance.py checks the body of ferroflow's answer.
    r = requests.request(method, f"{server.url}{path}", json={}, timeout=10)
    assert r.status_code == 404
    try:
        body = json.loads(r.text)
    except ValueError:
        return
    assert body["error_code"] == "ENDPOINT_NOT_FOUND"


def test_not_found_is_404_json(server):
    r = requests.get(
        f"{server.url}{API}/experiments/get-by-name",
        params={"experiment_name": f"missing-{uuid.uuid4().hex}"},
        timeout=10,
    )
    assert r.status_code == 404
    assert _json_error(r)["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    r = requests.get(
        f"{server.url}{API}/runs/get", params={"run_id": uuid.uuid4().hex}, timeout=10
    )
    assert r.status_code == 404
    assert _json_error(r)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_missing_trace_is_worded_per_route_as_the_reference_words_it(server):
    trace_id = f"tr-{uuid.uuid4().hex}"
    r = requests.get(f"{server.url}/api/3.0/mlflow/traces/{trace_id}", timeout=10)
    assert r.status_code == 404
    assert _json_error(r) == {
        **_json_error(r),
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": f"Trace with ID '{trace_id}' not found.",
    }
    r = requests.get(f"{server.url}/api/3.0/mlflow/traces/get", params={"trace_id": trace_id}, timeout=10)
    assert r.status_code == 404
    assert _json_error(r) == {
        **_json_error(r),
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": f"Trace with ID {trace_id} is not found.",
    }


def test_already_exists_is_400_json(server):
    name = f"test-{uuid.uuid4().hex}"
    r = post(server, f"{API}/experiments/create", json={"name": name})
    assert r.status_code == 200, r.text
    exp_id = r.json()["experiment_id"]
    assert isinstance(exp_id, str) and exp_id.isdigit()
    r = post(server, f"{API}/experiments/create", json={"name": name})
    assert r.status_code == 400
    assert _json_error(r)["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_get_params_in_query_string(server):
    """GET requests carry the message in the query string, with repeated copies of ids."""
    name = f"test-{uuid.uuid4().hex}"
    exp_id = post(server, f"{API}/experiments/create", json={"name": name}).json()["experiment_id"]
    run = post(server, f"{API}/runs/create", json={"experiment_id": exp_id, "start_time": 1}).json()
    run_id = run["run"]["info"]["run_id"]
    assert run["run"]["info"]["run_uuid"] == run_id
    r = requests.get(
        f"{server.url}{API}/runs/get", params={"run_id": run_id, "run_uuid": run_id}, timeout=10
    )
    assert r.status_code == 200
    info = r.json()["run"]["info"]
    assert info["run_id"] == run_id and info["experiment_id"] == exp_id
    assert info["status"] == "RUNNING"
    assert info["start_time"] == 1


def test_empty_reply_is_json_object(server):
    name = f"test-{uuid.uuid4().hex}"
    exp_id = post(server, f"{API}/experiments/create", json={"name": name}).json()["experiment_id"]
    r = post(
        server,
        f"{API}/experiments/set-experiment-tag",
        json={"experiment_id": exp_id, "key": "k", "value": "v"},
    )
    assert r.status_code == 200
    assert r.headers.get("content-type", "").startswith("application/json")
    assert r.json() == {}


def test_artifact_missing_file_is_404(server):
    r = requests.get(
        f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/{uuid.uuid4().hex}/artifacts/nope.txt",
        timeout=10,
    )
    assert r.status_code == 404
    assert _json_error(r)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("template", ["../{name}", "0/../../{name}", "0/%2e%2e/%2e%2e/{name}"])
def test_artifact_path_traversal_rejected(server, template):
    name = f"escape-{uuid.uuid4().hex}"
    bad_path = template.format(name=name)
    # http.client sends the path as given; requests/urllib3 would remove the dot segments.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{bad_path}", body=b"x")
        status = conn.getresponse().status
    finally:
        conn.close()
    assert 400 <= status < 500, status
    listing = requests.get(
        f"{server.url}/api/2.0/mlflow-artifacts/artifacts",
        params={"path": template.format(name="").replace("%2e", ".")},
        timeout=10,
    )
    assert 400 <= listing.status_code < 500, (listing.status_code, listing.text)
    workdir = getattr(server, "workdir", None)
    if workdir is not None:
        escaped = list(workdir.rglob(f"{name}*")) + list(workdir.parent.glob(f"{name}*"))
        assert not escaped, f"written outside the artifact root: {escaped}"
