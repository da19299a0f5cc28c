"""Conformance with MLflow 3.18's server request by request (issue 17): security headers, the
404 of unknown API routes, error bodies and messages, trace semantics (token usage, expectation
values, links that arrive before their trace, OTLP translation), artifact and registry details.

Every expectation here is the reference server's. The suite also runs against the reference
(``FERROFLOW_BIN=.venv/bin/mlflow``), which is the pinned 3.17.2 client's server: where 3.17.2
lacks a 3.18 behaviour, the test says so and checks the 3.18 behaviour only on servers that
report 3.18 or later (the expectation then comes from the 3.18 sources).
"""

from __future__ import annotations

import json
import os
import time
import uuid

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.utils.rest_utils import verify_rest_response
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourcePb
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from packaging.version import Version
from test_otlp import _new_experiment, _post_otlp, _request, _span

API = "/api/2.0/mlflow"
API3 = "/api/3.0/mlflow"
SEE_DOCS = " See the API docs for more information about request parameters."


def _version(server) -> Version:
    return Version(requests.get(f"{server.url}/version", timeout=10).text.strip())


def _at_least_318(server) -> bool:
    return _version(server) >= Version("3.18.0")


def _is_reference(server) -> bool:
    """Whether the server under test is the reference: its HTTP stack (uvicorn, gunicorn or
    Werkzeug) names itself in a `server` header, which ferroflow does not send."""
    return bool(requests.get(f"{server.url}/health", timeout=10).headers.get("server"))


def _post(server, path: str, body: dict) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=30)


def _error(r: requests.Response) -> dict:
    assert r.headers.get("content-type", "").startswith("application/json"), (r.status_code, r.text)
    return r.json()


# --------------------------------------------------------------------------------------------
# Headers and unknown routes
# --------------------------------------------------------------------------------------------


def test_every_response_says_nosniff(server, experiment):
    answers = [
        requests.get(f"{server.url}/health", timeout=10),
        requests.get(f"{server.url}{API}/experiments/get", params={"experiment_id": experiment}, timeout=10),
        requests.get(f"{server.url}{API}/runs/get", params={"run_id": uuid.uuid4().hex}, timeout=10),
        _post(server, f"{API}/experiments/create", {"name": 123}),
        requests.get(f"{server.url}{API}/no-such-endpoint", timeout=10),
        requests.get(f"{server.url}/no-such-page", timeout=10),
    ]
    for r in answers:
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (r.request.url, r.status_code, r.headers)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", f"{API}/no-such-endpoint"),
        ("POST", f"{API}/experiments/no-such-verb"),
        ("POST", f"{API3}/no/such/thing"),
        ("GET", "/ajax-api/2.0/mlflow/no-such-endpoint"),
    ],
)
def test_unknown_api_route_is_endpoint_not_found(server, method, path):
    r = requests.request(method, f"{server.url}{path}", json={}, timeout=10)
    assert r.status_code == 404
    if not _is_reference(server):
        # The reference (3.17.2 and 3.18 alike) answers Flask's HTML page here; clients that
        # decode the body crash on it, so ferroflow answers in MLflow's error shape (issue 17).
        body = _error(r)
        assert body["error_code"] == "ENDPOINT_NOT_FOUND"
        assert body["error_class"] == "RESOURCE_NOT_FOUND"
    # Either way the client reads ENDPOINT_NOT_FOUND, which its fallbacks to older APIs test for.
    with pytest.raises(MlflowException) as raised:
        verify_rest_response(r, path)
    assert raised.value.error_code == "ENDPOINT_NOT_FOUND"


# --------------------------------------------------------------------------------------------
# Error bodies and messages
# --------------------------------------------------------------------------------------------


def test_error_body_carries_class_and_sqlstate(server):
    r = requests.get(f"{server.url}{API}/runs/get", params={"run_id": "abc"}, timeout=10)
    assert r.status_code == 404
    assert _error(r) == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "Run with id=abc not found",
        "sqlstate": "KAM00",
        "error_class": "RESOURCE_NOT_FOUND",
    }


@pytest.mark.parametrize(
    "body, message",
    [
        ({"name": 123}, "Invalid value 123 for parameter 'name' supplied:  Hint: Value was of type 'int'." + SEE_DOCS),
        ({"name": True}, "Invalid value true for parameter 'name' supplied:  Hint: Value was of type 'bool'." + SEE_DOCS),
        ({}, "Missing value for required parameter 'name'." + SEE_DOCS),
    ],
)
def test_wrong_typed_field_names_the_parameter(server, body, message):
    r = _post(server, f"{API}/experiments/create", body)
    assert r.status_code == 400
    assert _error(r) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": message,
        "sqlstate": "KAM00",
        "error_class": "INVALID_PARAMETER_VALUE",
    }


def _trace_search(max_results):
    return {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "0"}}],
            "max_results": max_results}  # fmt: skip


@pytest.mark.parametrize(
    "path, body, message",
    [
        (f"{API}/experiments/search", {"max_results": 0},
         "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"),
        (f"{API}/experiments/search", {"max_results": 60000},
         "Invalid value 60000 for parameter 'max_results' supplied. It must be at most 50000"),
        (f"{API}/runs/search", {"experiment_ids": ["0"], "max_results": 0},
         "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"),
        (f"{API}/runs/search", {"experiment_ids": ["0"], "max_results": 50001},
         "Invalid value 50001 for parameter 'max_results' supplied:  Hint: Value was of type 'int'." + SEE_DOCS),
        (f"{API}/runs/search", {"experiment_ids": ["0"], "max_results": "many"},
         "Invalid value \"many\" for parameter 'max_results' supplied:  Hint: Value was of type 'str'." + SEE_DOCS),
        (f"{API3}/traces/search", _trace_search(0),
         "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"),
        (f"{API3}/traces/search", _trace_search(600),
         "Invalid value 600 for parameter 'max_results' supplied:  Hint: Value was of type 'int'." + SEE_DOCS),
    ],
)  # fmt: skip
def test_max_results_out_of_range(server, path, body, message):
    r = _post(server, path, body)
    assert r.status_code == 400, r.text
    body = _error(r)
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["message"] == message


def test_model_version_search_max_results_zero(server):
    r = requests.get(f"{server.url}{API}/model-versions/search", params={"max_results": 0}, timeout=10)
    assert r.status_code == 400
    assert _error(r)["message"] == "Invalid value for max_results. It must be a positive integer, but got 0"


def test_invalid_path_message(server, client, experiment):
    run_id = client.create_run(experiment).info.run_id
    answers = [
        requests.get(f"{server.url}{API}/artifacts/list", params={"run_id": run_id, "path": "../x"}, timeout=10),
        requests.get(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/..%2f..%2fetc/passwd", timeout=10),
    ]
    for r in answers:
        assert r.status_code == 400, r.text
        body = _error(r)
        assert (body["error_code"], body["message"]) == ("INVALID_PARAMETER_VALUE", "Invalid path")


# --------------------------------------------------------------------------------------------
# Trace semantics
# --------------------------------------------------------------------------------------------


def _usage(i: int, o: int) -> dict:
    return {"mlflow.chat.tokenUsage": {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}}


def test_token_usage_counts_the_top_most_span(server):
    if not _at_least_318(server):
        pytest.skip("3.17.2 sums every span's usage; 3.18 counts nested usage once (tracing/utils)")
    eid = _new_experiment(server.url)
    tid, root, parent, c1, c2 = (os.urandom(16),) + tuple(os.urandom(8) for _ in range(4))
    now = time.time_ns()
    spans = [
        _span(tid, root, "root", start_ns=now, end_ns=now + 10),
        _span(tid, parent, "agent", parent=root, start_ns=now + 1, end_ns=now + 9, attributes=_usage(100, 50)),
        _span(tid, c1, "llm-1", parent=parent, start_ns=now + 2, end_ns=now + 3, attributes=_usage(200, 75)),
        _span(tid, c2, "llm-2", parent=parent, start_ns=now + 4, end_ns=now + 5, attributes=_usage(150, 100)),
    ]
    # Children first, in their own batch: the parent's usage must still win once it arrives.
    assert _post_otlp(server.url, eid, _request(*spans[2:]).SerializeToString()).status_code == 200
    assert _post_otlp(server.url, eid, _request(*spans[:2]).SerializeToString()).status_code == 200
    info = MlflowClient(tracking_uri=server.url).get_trace(f"tr-{tid.hex()}").info
    assert info.token_usage == {"input_tokens": 100, "output_tokens": 50, "total_tokens": 150}


def test_expectation_object_value_is_serialized(server, experiment):
    tid = os.urandom(16)
    now = time.time_ns()
    assert _post_otlp(server.url, experiment, _request(_span(tid, os.urandom(8), "r", start_ns=now, end_ns=now + 1))
                      .SerializeToString()).status_code == 200  # fmt: skip
    trace_id = f"tr-{tid.hex()}"
    value = {"facts": ["a", "b"], "n": 2}
    assessment = {
        "trace_id": trace_id,
        "assessment_name": "expected",
        "source": {"source_type": "HUMAN", "source_id": "me"},
        "expectation": {"value": value},
    }
    r = _post(server, f"{API3}/traces/{trace_id}/assessments", {"assessment": assessment})
    assert r.status_code == 200, r.text
    created = r.json()["assessment"]
    # The value passes through protobuf's Value, whose numbers are doubles (2 comes back as 2.0)
    # and whose objects keep no order; the text is Python's JSON.
    serialized = created["expectation"]["serialized_value"]
    assert serialized["serialization_format"] == "JSON_FORMAT"
    assert json.loads(serialized["value"]) == value
    assert '"n": 2.0' in serialized["value"] and '"facts": ["a", "b"]' in serialized["value"]
    fetched = mlflow.get_assessment(trace_id, created["assessment_id"])
    assert fetched.value == value


def test_link_to_run_before_the_trace_arrives(server, client, experiment):
    run_id = client.create_run(experiment).info.run_id
    tid = os.urandom(16)
    trace_id = f"tr-{tid.hex()}"
    r = _post(server, f"{API}/traces/link-to-run", {"trace_ids": [trace_id], "run_id": run_id})
    assert r.status_code == 200, r.text
    now = time.time_ns()
    body = _request(_span(tid, os.urandom(8), "late", start_ns=now, end_ns=now + 1)).SerializeToString()
    assert _post_otlp(server.url, experiment, body).status_code == 200
    found = client.search_traces(locations=[experiment], run_id=run_id)
    assert [t.info.trace_id for t in found] == [trace_id]


def test_link_to_run_refuses_over_100_traces(server, client, experiment):
    run_id = client.create_run(experiment).info.run_id
    ids = [f"tr-{uuid.uuid4().hex}" for _ in range(101)]
    r = _post(server, f"{API}/traces/link-to-run", {"trace_ids": ids, "run_id": run_id})
    assert r.status_code == 400
    assert _error(r)["message"] == "Cannot link more than 100 traces to a run in a single request. Provided 101 traces."


def test_traceloop_attributes_are_translated(server):
    eid = _new_experiment(server.url)
    tid, root, tool = os.urandom(16), os.urandom(8), os.urandom(8)
    now = time.time_ns()
    spans = [
        _span(tid, root, "workflow", start_ns=now, end_ns=now + 10, attributes={
            "traceloop.span.kind": "workflow",
            "traceloop.entity.input": json.dumps({"inputs": {"question": "why?"}}),
            "traceloop.entity.output": json.dumps({"outputs": "because"}),
        }),
        _span(tid, tool, "lookup", parent=root, start_ns=now + 1, end_ns=now + 2,
              attributes={"traceloop.span.kind": "tool"}),
    ]  # fmt: skip
    assert _post_otlp(server.url, eid, _request(*spans).SerializeToString()).status_code == 200
    trace = MlflowClient(tracking_uri=server.url).get_trace(f"tr-{tid.hex()}")
    by_name = {s.name: s for s in trace.data.spans}
    assert by_name["workflow"].span_type == "WORKFLOW"
    assert by_name["lookup"].span_type == "TOOL"
    assert by_name["workflow"].inputs == {"inputs": {"question": "why?"}}
    assert by_name["workflow"].outputs == {"outputs": "because"}
    assert "why?" in trace.info.request_preview
    assert "because" in trace.info.response_preview


def _with_resource(service_name: str, *spans) -> bytes:
    resource = ResourcePb(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service_name))])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=list(spans))])]
    ).SerializeToString()


def test_known_service_name_goes_onto_the_root_span(server):
    if not _at_least_318(server):
        pytest.skip("3.17.2 does not copy the resource's service.name (server/otel_api.py in 3.18 does)")
    eid = _new_experiment(server.url)
    now = time.time_ns()
    cases = {"claude-code": "claude-code", "my-own-service": None}
    for service, expected in cases.items():
        tid, root, child = os.urandom(16), os.urandom(8), os.urandom(8)
        body = _with_resource(
            service,
            _span(tid, root, "root", start_ns=now, end_ns=now + 2),
            _span(tid, child, "child", parent=root, start_ns=now, end_ns=now + 1),
        )
        assert _post_otlp(server.url, eid, body).status_code == 200
        trace = MlflowClient(tracking_uri=server.url).get_trace(f"tr-{tid.hex()}")
        spans = {s.name: s for s in trace.data.spans}
        assert spans["root"].attributes.get("service.name") == expected
        assert "service.name" not in spans["child"].attributes


@pytest.mark.parametrize("trace_id, span_id", [(os.urandom(16), b""), (b"", os.urandom(8))])
def test_span_without_valid_span_id_is_422(server, trace_id, span_id):
    eid = _new_experiment(server.url)
    now = time.time_ns()
    body = _request(_span(trace_id, span_id, "bad", start_ns=now, end_ns=now + 1)).SerializeToString()
    r = _post_otlp(server.url, eid, body)
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": "Cannot convert OpenTelemetry span to MLflow span"}


def test_short_span_id_is_read_as_a_number(server):
    # The reference reads an id's bytes as a big-endian number: three bytes are the id
    # 0x010203, written with leading zeros.
    eid = _new_experiment(server.url)
    tid = os.urandom(16)
    now = time.time_ns()
    body = _request(_span(tid, b"\x01\x02\x03", "short", start_ns=now, end_ns=now + 1)).SerializeToString()
    assert _post_otlp(server.url, eid, body).status_code == 200
    trace = MlflowClient(tracking_uri=server.url).get_trace(f"tr-{tid.hex()}")
    assert [s.span_id for s in trace.data.spans] == ["0000000000010203"]


# --------------------------------------------------------------------------------------------
# Artifacts and the registry
# --------------------------------------------------------------------------------------------


def test_relative_artifact_location_is_made_absolute(server, client):
    name = f"rel-{uuid.uuid4().hex}"
    eid = client.create_experiment(name, artifact_location="some/relative/dir")
    location = client.get_experiment(eid).artifact_location
    assert location.startswith("/") and location.endswith("/some/relative/dir"), location


def test_get_artifact_at_the_root_path(server, client, experiment, tmp_path):
    run_id = client.create_run(experiment).info.run_id
    (tmp_path / "notes.txt").write_text("hello artifact")
    client.log_artifact(run_id, str(tmp_path / "notes.txt"), artifact_path="docs")
    r = requests.get(f"{server.url}/get-artifact", params={"run_id": run_id, "path": "docs/notes.txt"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == b"hello artifact"
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    r = requests.get(f"{server.url}/get-artifact", params={"run_id": run_id, "path": "../x"}, timeout=10)
    assert r.status_code == 400
    assert _error(r)["message"] == "Invalid path"


def test_http_artifact_root_on_this_server(fresh_server, tmp_path):
    # An http(s) root naming this server's own mlflow-artifacts route, as older setups wrote it
    # with `--default-artifact-root http://host:port/api/2.0/mlflow-artifacts/artifacts`. (Given as
    # an experiment's `artifact_location` instead, the reference refuses the http scheme unless
    # MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES allows it.)
    srv = fresh_server()
    root = f"{srv.url}/api/2.0/mlflow-artifacts/artifacts"
    srv.stop()
    srv.extra_args = ["--default-artifact-root", root]
    srv._wait_port_free()
    srv.start()
    client = srv.client()
    eid = client.create_experiment(f"http-{uuid.uuid4().hex}")
    assert client.get_experiment(eid).artifact_location.startswith(root)
    run_id = client.create_run(eid).info.run_id
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01\x02")
    client.log_artifact(run_id, str(tmp_path / "weights.bin"), artifact_path="model")
    assert [f.path for f in client.list_artifacts(run_id)] == ["model"]
    assert [f.path for f in client.list_artifacts(run_id, "model")] == ["model/weights.bin"]
    r = requests.get(f"{srv.url}{API}/artifacts/list", params={"run_id": run_id, "path": "model"}, timeout=10)
    assert r.status_code == 200, r.text
    assert [f["path"] for f in r.json()["files"]] == ["model/weights.bin"]
    downloaded = client.download_artifacts(run_id, "model/weights.bin", str(tmp_path / "out"))
    assert open(downloaded, "rb").read() == b"\x00\x01\x02"
    r = requests.get(f"{srv.url}/get-artifact", params={"run_id": run_id, "path": "model/weights.bin"}, timeout=10)
    assert r.status_code == 200 and r.content == b"\x00\x01\x02"


def test_model_versions_tag_has_python_spacing(server, client, experiment):
    model = client.create_logged_model(experiment, name="spaced")
    name = f"reg-{uuid.uuid4().hex}"
    client.create_registered_model(name)
    client.create_model_version(name, source=f"models:/{model.model_id}", model_id=model.model_id)
    tags = client.get_logged_model(model.model_id).tags
    assert tags["mlflow.modelVersions"] == f'[{{"name": "{name}", "version": 1}}]'


def _create_version(server, body: dict) -> requests.Response:
    return _post(server, f"{API}/model-versions/create", body)


def _not_of_owner(source: str, parameter: str = "run_id") -> str:
    return (
        f"Invalid model version source: '{source}'. The {parameter} request parameter must identify the "
        "resource that contains the source."
    )


def _local_refused(shown: str) -> str:
    return (
        f"Invalid model version source: '{shown}'. To use a local path as a model version source, the run_id "
        "request parameter has to be specified and the local path has to be contained within the artifact "
        "directory of the run specified by the run_id."
    )


def test_model_version_sources_must_belong_to_the_run(server, client, experiment):
    run = client.create_run(experiment).info
    other_run = client.create_run(experiment).info
    name = f"src-{uuid.uuid4().hex}"
    client.create_registered_model(name)
    root = run.artifact_uri
    refused = [
        ({"source": "/etc"}, _local_refused("/etc")),
        ({"source": "/etc", "run_id": run.run_id}, _local_refused("/etc")),
        ({"source": f"runs:/{run.run_id}/model"}, _not_of_owner(f"runs:/{run.run_id}/model")),
        ({"source": f"runs:/{other_run.run_id}/model", "run_id": run.run_id},
         _not_of_owner(f"runs:/{other_run.run_id}/model")),
        ({"source": f"{other_run.artifact_uri}/model", "run_id": run.run_id},
         _not_of_owner(f"{other_run.artifact_uri}/model")),
        ({"source": f"{root}/model"}, _not_of_owner(f"{root}/model")),
    ]  # fmt: skip
    for body, message in refused:
        r = _create_version(server, {"name": name, **body})
        assert r.status_code == 400, (body, r.text)
        assert _error(r)["message"] == message, body
    accepted = [
        {"source": f"runs:/{run.run_id}/model", "run_id": run.run_id},
        {"source": f"{root}/model", "run_id": run.run_id},
        {"source": "s3://some-bucket/path/model"},
    ]
    for body in accepted:
        r = _create_version(server, {"name": name, **body})
        assert r.status_code == 200, (body, r.text)
        assert r.json()["model_version"]["source"] == body["source"]


def test_local_model_version_source_inside_the_run(server, client, tmp_path):
    location = tmp_path / "local-root"
    location.mkdir()
    eid = client.create_experiment(f"local-{uuid.uuid4().hex}", artifact_location=str(location))
    run = client.create_run(eid).info
    run_dir = f"{location}/{run.run_id}/artifacts"
    assert run.artifact_uri.endswith(run_dir)
    name = f"local-{uuid.uuid4().hex}"
    client.create_registered_model(name)
    inside = f"file://{run_dir}/model/.."
    r = _create_version(server, {"name": name, "source": inside, "run_id": run.run_id})
    assert r.status_code == 200, r.text
    outside = f"file://{run_dir}/../../elsewhere"
    r = _create_version(server, {"name": name, "source": outside, "run_id": run.run_id})
    assert r.status_code == 400
    assert _error(r)["message"] == _local_refused(f"{location}/elsewhere")


def test_non_local_source_with_relative_parts_is_refused(server, client, experiment):
    run = client.create_run(experiment).info
    name = f"rel-{uuid.uuid4().hex}"
    client.create_registered_model(name)
    source = "s3://bucket/models/../../etc"
    r = _create_version(server, {"name": name, "source": source, "run_id": run.run_id})
    assert r.status_code == 400
    assert _error(r)["message"] == (
        f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, "
        "ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path "
        "references present. Please provide an absolute path."
    )


# --------------------------------------------------------------------------------------------
# v2 trace routes (clients before 3.4 record traces with them)
# --------------------------------------------------------------------------------------------


def _pairs(items: list) -> dict:
    return {item["key"]: item["value"] for item in items}


def test_v2_trace_start_end_info_and_tags(server, experiment):
    r = _post(server, f"{API}/traces", {
        "experiment_id": experiment, "timestamp_ms": 1000,
        "request_metadata": [{"key": "m1", "value": "v1"}], "tags": [{"key": "t1", "value": "x"}],
    })  # fmt: skip
    assert r.status_code == 200, r.text
    started = r.json()["trace_info"]
    request_id = started["request_id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert (started["experiment_id"], started["timestamp_ms"], started["status"]) == (experiment, 1000, "IN_PROGRESS")
    assert started["execution_time_ms"] == 0
    assert _pairs(started["request_metadata"])["m1"] == "v1"
    assert _pairs(started["tags"])["t1"] == "x"

    r = requests.patch(f"{server.url}{API}/traces/{request_id}", json={
        "timestamp_ms": 1500, "status": "OK",
        "request_metadata": [{"key": "m2", "value": "v2"}], "tags": [{"key": "t2", "value": "y"}],
    }, timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text
    ended = r.json()["trace_info"]
    assert (ended["execution_time_ms"], ended["status"]) == (500, "OK")
    assert {"m1": "v1", "m2": "v2"}.items() <= _pairs(ended["request_metadata"]).items()
    assert {"t1": "x", "t2": "y"}.items() <= _pairs(ended["tags"]).items()

    r = requests.patch(f"{server.url}{API}/traces/{request_id}/tags", json={"key": "t3", "value": "z"}, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.delete(f"{server.url}{API}/traces/{request_id}/tags", json={"key": "t1"}, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.get(f"{server.url}{API}/traces/{request_id}/info", timeout=10)
    assert r.status_code == 200, r.text
    info = r.json()["trace_info"]
    tags = _pairs(info["tags"])
    assert tags["t3"] == "z" and tags["t2"] == "y" and "t1" not in tags
    assert (info["timestamp_ms"], info["execution_time_ms"], info["status"]) == (1000, 500, "OK")

    # The same record through the v3 API.
    r = requests.get(f"{server.url}{API3}/traces/{request_id}", timeout=10)
    assert r.status_code == 200, r.text
    v3 = r.json()["trace"]["trace_info"]
    assert (v3["trace_id"], v3["state"], v3["execution_duration"]) == (request_id, "OK", "0.500s")


def test_v2_end_of_unknown_trace_is_404(server):
    r = requests.patch(f"{server.url}{API}/traces/{uuid.uuid4().hex}", json={"timestamp_ms": 1, "status": "OK"},
                       timeout=10)  # fmt: skip
    assert r.status_code == 404
    assert _error(r)["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_experiments_name_their_workspace(server, client, experiment):
    """Every experiment the server returns names its workspace (`default` without workspaces)."""
    name = client.get_experiment(experiment).name
    got = requests.get(f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": experiment}, timeout=10)
    assert got.json()["experiment"]["workspace"] == "default"
    by_name = requests.get(
        f"{server.url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}, timeout=10
    )
    assert by_name.json()["experiment"]["workspace"] == "default"
    found = requests.post(
        f"{server.url}/api/2.0/mlflow/experiments/search",
        json={"max_results": 1000, "filter": f"name = '{name}'"},
        timeout=10,
    ).json()["experiments"]
    assert [e["workspace"] for e in found] == ["default"]


def test_an_otlp_trace_lasts_from_its_start_millisecond_to_its_end_millisecond(server):
    """A trace made by OTLP alone: request time and duration in whole milliseconds of its
    root's ends (a 0.752 ms root across a millisecond boundary lasted 1 ms)."""
    experiment = _new_experiment(server.url)
    trace_id, start = os.urandom(16), 1_700_000_000_000_600_000
    body = _request(_span(trace_id, os.urandom(8), "root", start_ns=start, end_ns=start + 752_000)).SerializeToString()
    assert _post_otlp(server.url, experiment, body).status_code == 200
    info = MlflowClient(server.url).get_trace(f"tr-{trace_id.hex()}").info
    assert (info.request_time, info.execution_duration) == (1_700_000_000_000, 1)


def test_whole_second_timestamps_have_no_fraction(server):
    """Timestamps in protobuf's canonical JSON: `…:00Z` for a whole second, `.021Z` otherwise."""
    experiment = _new_experiment(server.url)
    for stamp in ("2026-12-06T05:00:00Z", "2026-12-06T05:00:00.021Z"):
        trace_id = f"tr-{uuid.uuid4().hex}"
        info = {
            "trace_id": trace_id,
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment}},
            "request_time": stamp,
            "execution_duration": "1s",
            "state": "OK",
        }
        r = requests.post(f"{server.url}/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["trace"]["trace_info"]["request_time"] == stamp
        got = requests.get(f"{server.url}/api/3.0/mlflow/traces/{trace_id}", timeout=30)
        assert got.json()["trace"]["trace_info"]["request_time"] == stamp
