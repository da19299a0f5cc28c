"""OTLP span ingest (../shared/spec/mlflow-rest.md §8.3, §8.4): the stock OpenTelemetry exporters (HTTP protobuf and
gRPC), GenAI semantic conventions and OpenInference, raw OTLP/JSON and gzip bodies, error
answers, and StartTraceV3 racing OTLP batches of the same trace."""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import time
import uuid
from datetime import datetime, timezone

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status as OtelStatus
from opentelemetry.trace import StatusCode as OtelStatusCode

SPANS_LOCATION = "mlflow.trace.spansLocation"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _new_experiment(url: str) -> str:
    return MlflowClient(tracking_uri=url).create_experiment(f"otlp-{uuid.uuid4().hex}")


def _any(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=_any(v)) for k, v in value.items()]))
    raise TypeError(value)


def _span(trace_id: bytes, span_id: bytes, name: str, parent: bytes = b"", start_ns: int = 0,
          end_ns: int = 0, attributes: dict | None = None, status: int = 1) -> Span:  # fmt: skip
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        attributes=[KeyValue(key=k, value=_any(v)) for k, v in (attributes or {}).items()],
        status=Status(code=status, message="" if status != 2 else "boom"),
    )


def _request(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])])


def _post_otlp(url: str, eid: str | None, body: bytes, headers: dict | None = None) -> requests.Response:
    h = dict(PROTOBUF)
    if eid is not None:
        h["x-mlflow-experiment-id"] = eid
    h.update(headers or {})
    return requests.post(f"{url}/v1/traces", data=body, headers=h, timeout=60)


def _rfc3339(ms: int) -> str:
    """Protobuf's canonical JSON timestamp, as servers print it: no fraction on a whole second."""
    text = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def _get_full(url: str, trace_id: str) -> dict:
    r = requests.get(f"{url}/api/3.0/mlflow/traces/get", params={"trace_id": trace_id}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["trace"]


def _hex_of_b64(text: str) -> str:
    return base64.b64decode(text).hex()


def _tracer(exporter):
    provider = TracerProvider(resource=Resource.create({"service.name": "ferroflow-compat"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, provider.get_tracer("ferroflow-compat")


def _emit_standard_trace(tracer) -> str:
    """A root with two children and a grandchild, plain attributes of every OTel type."""
    with tracer.start_as_current_span(
        "otel-root",
        attributes={"s": "str ✓", "i": 3, "f": 1.5, "b": True, "ls": ["a", "b"], "li": [1, 2],
                    "session.id": "sess-otel", "user.id": "user-otel"},  # fmt: skip
    ) as root:
        with tracer.start_as_current_span("otel-child-a", attributes={"n": -7}):
            with tracer.start_as_current_span("otel-grandchild") as g:
                g.add_event("evt", {"k": "v", "n": 1})
        with tracer.start_as_current_span("otel-child-b") as b:
            b.set_status(OtelStatus(OtelStatusCode.ERROR, "child failed"))
        return "tr-" + format(root.get_span_context().trace_id, "032x")


def _check_standard_trace(url: str, eid: str, trace_id: str) -> None:
    mlflow.set_tracking_uri(url)
    try:
        found = mlflow.search_traces(locations=[eid], return_type="list")
        assert [t.info.trace_id for t in found] == [trace_id]
        trace = mlflow.get_trace(trace_id)
    finally:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    assert trace is not None
    info = trace.info
    assert info.tags[SPANS_LOCATION] == "TRACKING_STORE"
    assert info.experiment_id == eid
    assert info.state.value == "OK"  # the root's status is unset
    assert info.trace_metadata["mlflow.trace.session"] == "sess-otel"
    assert info.trace_metadata["mlflow.trace.user"] == "user-otel"
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"otel-root", "otel-child-a", "otel-grandchild", "otel-child-b"}
    root = spans["otel-root"]
    assert root.parent_id is None
    assert spans["otel-child-a"].parent_id == root.span_id
    assert spans["otel-child-b"].parent_id == root.span_id
    assert spans["otel-grandchild"].parent_id == spans["otel-child-a"].span_id
    for key, value in {"s": "str ✓", "i": 3, "f": 1.5, "b": True, "ls": ["a", "b"], "li": [1, 2]}.items():
        assert root.attributes[key] == value, key
        assert type(root.attributes[key]) is type(value), key
    assert spans["otel-child-a"].attributes["n"] == -7
    assert [(e.name, e.attributes) for e in spans["otel-grandchild"].events] == [("evt", {"k": "v", "n": 1})]
    assert spans["otel-child-b"].status.status_code.value == "ERROR"
    assert spans["otel-child-b"].status.description == "child failed"
    assert info.request_time == root.start_time_ns // 1_000_000
    # Searchable by span fields too.
    mlflow.set_tracking_uri(url)
    try:
        assert [t.info.trace_id for t in mlflow.search_traces(
            locations=[eid], filter_string="span.name = 'otel-grandchild'", return_type="list")] == [trace_id]  # fmt: skip
    finally:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


# --------------------------------------------------------------------------------------------
# Stock exporters
# --------------------------------------------------------------------------------------------


def test_stock_http_exporter(server):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    eid = _new_experiment(server.url)
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers={"x-mlflow-experiment-id": eid})
    provider, tracer = _tracer(exporter)
    trace_id = _emit_standard_trace(tracer)
    assert provider.force_flush()
    provider.shutdown()
    _check_standard_trace(server.url, eid, trace_id)


def test_stock_http_exporter_gzip(server):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    eid = _new_experiment(server.url)
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces",
        headers={"x-mlflow-experiment-id": eid},
        compression=Compression.Gzip,
    )
    provider, tracer = _tracer(exporter)
    trace_id = _emit_standard_trace(tracer)
    assert provider.force_flush()
    provider.shutdown()
    _check_standard_trace(server.url, eid, trace_id)


def test_stock_grpc_exporter(fresh_server, server):
    if getattr(server, "is_reference", False):
        pytest.skip("ferroflow's OTLP/gRPC receiver (--otlp-grpc-port); the reference has none")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    grpc_port = _free_port()
    srv = fresh_server(extra_args=("--otlp-grpc-port", grpc_port))
    eid = _new_experiment(srv.url)
    exporter = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{grpc_port}", insecure=True, headers=(("x-mlflow-experiment-id", eid),)
    )
    provider, tracer = _tracer(exporter)
    trace_id = _emit_standard_trace(tracer)
    assert provider.force_flush()
    provider.shutdown()
    _check_standard_trace(srv.url, eid, trace_id)

    # Without the experiment header, or with an unknown experiment, the export fails.
    recorded = []

    class Recorder:
        def export(self, spans):
            recorded.extend(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

        def force_flush(self, timeout_millis=None):
            return True

    p2, t2 = _tracer(Recorder())
    with t2.start_as_current_span("lost"):
        pass
    p2.shutdown()
    no_header = OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=5)
    assert no_header.export(recorded) == SpanExportResult.FAILURE
    unknown = OTLPSpanExporter(
        endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=5, headers=(("x-mlflow-experiment-id", "987654"),)
    )
    assert unknown.export(recorded) == SpanExportResult.FAILURE
    mlflow.set_tracking_uri(srv.url)
    try:
        assert [t.info.trace_id for t in mlflow.search_traces(locations=[eid], return_type="list")] == [trace_id]
    finally:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


def test_genai_semconv_and_openinference(server):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    eid = _new_experiment(server.url)
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers={"x-mlflow-experiment-id": eid})
    provider, tracer = _tracer(exporter)
    messages = [{"role": "user", "content": "hi ✓"}]
    with tracer.start_as_current_span("workflow") as root:
        with tracer.start_as_current_span(
            "genai-chat",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-test",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
                "gen_ai.input.messages": json.dumps(messages),
            },
        ):
            pass
        with tracer.start_as_current_span(
            "oi-llm",
            attributes={
                "openinference.span.kind": "LLM",
                "input.value": json.dumps({"question": "what?"}),
                "output.value": "plain answer",
                "llm.token_count.prompt": 7,
                "llm.token_count.completion": 3,
                "llm.token_count.total": 10,
            },
        ):
            pass
        with tracer.start_as_current_span("oi-tool", attributes={"openinference.span.kind": "TOOL"}):
            pass
        trace_id = "tr-" + format(root.get_span_context().trace_id, "032x")
    provider.shutdown()

    mlflow.set_tracking_uri(server.url)
    try:
        trace = mlflow.get_trace(trace_id)
        by_type = {
            ty: [t.info.trace_id for t in mlflow.search_traces(
                locations=[eid], filter_string=f"span.type = '{ty}'", return_type="list")]  # fmt: skip
            for ty in ("CHAT_MODEL", "LLM", "TOOL", "AGENT")
        }
    finally:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    spans = {s.name: s for s in trace.data.spans}
    chat, llm, tool = spans["genai-chat"], spans["oi-llm"], spans["oi-tool"]
    assert chat.span_type == "CHAT_MODEL"
    assert chat.inputs == messages
    assert chat.attributes["mlflow.chat.tokenUsage"] == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert chat.attributes["gen_ai.request.model"] == "gpt-test"  # originals are kept
    assert chat.attributes["gen_ai.usage.input_tokens"] == 10
    assert llm.span_type == "LLM"
    assert llm.inputs == {"question": "what?"}
    assert llm.outputs == "plain answer"
    assert llm.attributes["mlflow.chat.tokenUsage"] == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert tool.span_type == "TOOL"
    assert trace.info.token_usage == {"input_tokens": 17, "output_tokens": 8, "total_tokens": 25}
    assert by_type == {"CHAT_MODEL": [trace_id], "LLM": [trace_id], "TOOL": [trace_id], "AGENT": []}


# --------------------------------------------------------------------------------------------
# Raw OTLP: JSON, gzip, errors
# --------------------------------------------------------------------------------------------


def test_raw_otlp_json(server):
    eid = _new_experiment(server.url)
    trace_hex, root_hex, child_hex = uuid.uuid4().hex, os.urandom(8).hex(), os.urandom(8).hex()
    now = time.time_ns()
    body = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "raw-json"}}]},
            "scopeSpans": [{
                "scope": {"name": "manual"},
                "spans": [
                    {"traceId": trace_hex, "spanId": child_hex, "parentSpanId": root_hex, "name": "json-child",
                     "kind": 1, "startTimeUnixNano": str(now + 1_000_000), "endTimeUnixNano": str(now + 2_000_000),
                     "attributes": [{"key": "n", "value": {"intValue": "42"}},
                                    {"key": "d", "value": {"doubleValue": 0.5}},
                                    {"key": "mlflow.spanType", "value": {"stringValue": "RETRIEVER"}}],
                     "status": {"code": 1}},
                    {"traceId": trace_hex, "spanId": root_hex, "name": "json-root", "kind": 1,
                     "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 5_000_000),
                     "attributes": [{"key": "mlflow.spanInputs", "value": {"stringValue": "{\"q\": \"json ✓\"}"}},
                                    {"key": "mlflow.spanOutputs", "value": {"stringValue": "\"out\""}},
                                    {"key": "mlflow.traceTag.env", "value": {"stringValue": "json"}}],
                     "status": {"code": 2, "message": "root failed"}},
                ],
            }],
        }],
    }  # fmt: skip
    r = requests.post(
        f"{server.url}/v1/traces",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "x-mlflow-experiment-id": eid},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    # An empty ExportTraceServiceResponse: nothing rejected. ferroflow answers a JSON request in
    # JSON; the reference answers it in protobuf (an empty body).
    if r.headers.get("content-type", "").startswith("application/x-protobuf"):
        assert not ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans
    else:
        assert not r.json().get("partialSuccess", {}).get("rejectedSpans")
    trace_id = f"tr-{trace_hex}"
    full = _get_full(server.url, trace_id)
    info = full["trace_info"]
    assert info["state"] == "ERROR"
    assert info["tags"][SPANS_LOCATION] == "TRACKING_STORE"
    assert info["tags"]["env"] == "json"
    assert json.loads(info["request_preview"]) == {"q": "json ✓"}
    spans = {s["name"]: s for s in full["spans"]}
    assert _hex_of_b64(spans["json-root"]["span_id"]) == root_hex
    assert _hex_of_b64(spans["json-child"]["parent_span_id"]) == root_hex
    assert _hex_of_b64(spans["json-child"]["trace_id"]) == trace_hex
    trace = MlflowClient(tracking_uri=server.url).get_trace(trace_id)
    by_name = {s.name: s for s in trace.data.spans}
    assert by_name["json-child"].attributes["n"] == 42
    assert by_name["json-child"].attributes["d"] == 0.5
    assert by_name["json-child"].span_type == "RETRIEVER"
    assert by_name["json-root"].inputs == {"q": "json ✓"}
    assert by_name["json-root"].outputs == "out"
    assert by_name["json-root"].status.status_code.value == "ERROR"


def test_raw_otlp_gzip_protobuf(server):
    eid = _new_experiment(server.url)
    tid, root, child = os.urandom(16), os.urandom(8), os.urandom(8)
    now = time.time_ns()
    req = _request(
        _span(tid, root, "gz-root", start_ns=now, end_ns=now + 10_000_000,
              attributes={"mlflow.spanType": "AGENT", "mlflow.spanInputs": {"q": "zip"}, "big": "z" * 200_000}),
        _span(tid, child, "gz-child", parent=root, start_ns=now + 1, end_ns=now + 2,
              attributes={"mlflow.spanType": "LLM", "mlflow.chat.tokenUsage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}),
    )  # fmt: skip
    raw = req.SerializeToString()
    compressed = gzip.compress(raw)
    assert len(compressed) < len(raw) / 10
    r = _post_otlp(server.url, eid, compressed, {"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    trace = MlflowClient(tracking_uri=server.url).get_trace("tr-" + tid.hex())
    spans = {s.name: s for s in trace.data.spans}
    assert spans["gz-root"].attributes["big"] == "z" * 200_000
    assert spans["gz-root"].inputs == {"q": "zip"}
    assert spans["gz-child"].parent_id == root.hex()
    assert trace.info.token_usage == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    assert trace.info.execution_duration == 10


def test_token_usage_from_spans_after_root(server):
    """A child with token counts that arrives after its root still counts in the trace total."""
    eid = _new_experiment(server.url)
    tid, root, c1, c2 = os.urandom(16), os.urandom(8), os.urandom(8), os.urandom(8)
    now = time.time_ns()
    usage = lambda i, o: {"mlflow.chat.tokenUsage": {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}}  # noqa: E731
    batches = [
        _request(_span(tid, c1, "c1", parent=root, start_ns=now + 1, end_ns=now + 2, attributes=usage(1, 2))),
        _request(_span(tid, root, "root", start_ns=now, end_ns=now + 9)),
        _request(_span(tid, c2, "c2", parent=root, start_ns=now + 3, end_ns=now + 4, attributes=usage(10, 20))),
    ]
    for batch in batches:
        assert _post_otlp(server.url, eid, batch.SerializeToString()).status_code == 200
    info = MlflowClient(tracking_uri=server.url).get_trace(f"tr-{tid.hex()}").info
    assert info.token_usage == {"input_tokens": 11, "output_tokens": 22, "total_tokens": 33}


def test_otlp_run_header_links_run(server):
    client = MlflowClient(tracking_uri=server.url)
    eid = _new_experiment(server.url)
    run_id = client.create_run(eid).info.run_id
    tid = os.urandom(16)
    now = time.time_ns()
    body = _request(_span(tid, os.urandom(8), "linked", start_ns=now, end_ns=now + 1)).SerializeToString()
    assert _post_otlp(server.url, eid, body, {"x-mlflow-run-id": run_id}).status_code == 200
    found = client.search_traces(locations=[eid], run_id=run_id)
    assert [t.info.trace_id for t in found] == [f"tr-{tid.hex()}"]


def test_otlp_error_answers(server):
    eid = _new_experiment(server.url)
    now = time.time_ns()
    good = _request(_span(os.urandom(16), os.urandom(8), "e", start_ns=now, end_ns=now + 1)).SerializeToString()

    # The reference's web framework names the missing header in its validation list, before
    # it looks at the body's type.
    r = _post_otlp(server.url, None, good, {"Content-Type": "text/plain"})
    assert r.status_code == 422, r.text
    assert r.json() == {
        "detail": [{"type": "missing", "loc": ["header", "x-mlflow-experiment-id"], "msg": "Field required", "input": None}]
    }

    r = _post_otlp(server.url, eid, good, {"Content-Type": "text/plain"})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Invalid Content-Type: text/plain. Expected: application/x-protobuf or application/json"}

    r = _post_otlp(server.url, eid, b"\xff\xfe this is not protobuf \x00\x01\x02")
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Invalid OpenTelemetry format"}

    r = _post_otlp(server.url, eid, b"not gzip at all", {"Content-Encoding": "gzip"})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Failed to decompress gzip payload"}

    r = _post_otlp(server.url, eid, b"not deflate at all", {"Content-Encoding": "deflate"})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Failed to decompress deflate payload"}

    r = requests.post(
        f"{server.url}/v1/traces",
        data=b"{not json",
        headers={"Content-Type": "application/json", "x-mlflow-experiment-id": eid},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Invalid OpenTelemetry format"}

    r = _post_otlp(server.url, "987654321", good)
    assert r.status_code == 404, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    # Nothing was stored by any of these.
    found = MlflowClient(tracking_uri=server.url).search_traces(locations=[eid])
    assert list(found) == []


# --------------------------------------------------------------------------------------------
# StartTraceV3 racing OTLP batches
# --------------------------------------------------------------------------------------------


def _start_trace(url: str, eid: str, trace_id: str, request_time_ms: int, assessment_id: str) -> dict:
    body = {
        "trace": {
            "trace_info": {
                "trace_id": trace_id,
                "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": eid}},
                "request_time": _rfc3339(request_time_ms),
                "execution_duration": "0.500s",
                "state": "OK",
                "trace_metadata": {
                    "mlflow.trace_schema.version": "3",
                    "mlflow.traceInputs": '{"q": "client"}',
                    "mlflow.trace.user": "alice",
                    "mlflow.trace.session": "sess-1",
                    "mlflow.trace.tokenUsage": '{"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}',
                    "custom_meta": "m",
                },
                "tags": {
                    "mlflow.traceName": "client-root",
                    "env": "test",
                    "mlflow.artifactLocation": "s3://bogus/should/be/replaced",
                    SPANS_LOCATION: "ARTIFACT_REPO",
                },
                "request_preview": '{"q": "client"}',
                "response_preview": '"client answer"',
                "assessments": [
                    {
                        "assessment_id": assessment_id,
                        "assessment_name": "inline",
                        "trace_id": trace_id,
                        "source": {"source_type": "HUMAN", "source_id": "bob"},
                        "create_time": _rfc3339(request_time_ms),
                        "last_update_time": _rfc3339(request_time_ms),
                        "feedback": {"value": True},
                    }
                ],
            }
        }
    }
    r = requests.post(f"{url}/api/3.0/mlflow/traces", json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["trace"]["trace_info"]


ORDERS = {
    "start_first": ["start", "a", "root", "b"],
    "start_between": ["a", "start", "root", "start", "b"],
    "start_last": ["a", "root", "b", "start"],
    "root_first_then_start_twice": ["root", "start", "a", "b", "start", "start"],
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_start_trace_and_otlp_in_any_order(server, order):
    if getattr(server, "is_reference", False):
        pytest.skip(
            "ferroflow merges StartTraceV3 with OTLP batches of the same trace in any order and on retries; "
            "the reference 3.17.2 refuses these sequences (404 'no longer exists', 500 INVALID_STATE)"
        )
    url = server.url
    eid = _new_experiment(url)
    tid, root, a, b = os.urandom(16), os.urandom(8), os.urandom(8), os.urandom(8)
    trace_id = f"tr-{tid.hex()}"
    assessment_id = f"a-{uuid.uuid4().hex}"
    now = time.time_ns()
    root_ms = now // 1_000_000
    batches = {
        "a": _request(_span(tid, a, "child-a", parent=root, start_ns=now + 1_000, end_ns=now + 2_000,
                            attributes={"mlflow.spanType": "RETRIEVER", "k": 1})),
        "root": _request(_span(tid, root, "root", start_ns=now, end_ns=now + 100_000_000, status=2,
                               attributes={"mlflow.spanType": "AGENT", "mlflow.spanInputs": {"q": "from root span"},
                                           "mlflow.spanOutputs": "root answer"})),
        "b": _request(_span(tid, b, "child-b", parent=root, start_ns=now + 3_000, end_ns=now + 4_000,
                            attributes={"mlflow.spanType": "TOOL"})),
    }  # fmt: skip
    responses = []  # (answer, whether spans were stored before it)
    spans_sent = False
    for step in ORDERS[order]:
        if step == "start":
            # The client's own request time is a second after the root span began.
            responses.append((_start_trace(url, eid, trace_id, root_ms + 1000, assessment_id), spans_sent))
        else:
            spans_sent = True
            r = _post_otlp(url, eid, batches[step].SerializeToString())
            assert r.status_code == 200, (step, r.text)

    # Every StartTraceV3 answer carries the server's artifact location, never the client's.
    for info, spans_before in responses:
        assert info["trace_id"] == trace_id
        assert info["tags"]["mlflow.artifactLocation"].endswith(f"/traces/{trace_id}/artifacts")
        assert not info["tags"]["mlflow.artifactLocation"].startswith("s3://bogus")
        assert info["trace_metadata"]["mlflow.trace.infoFinalized"] == "true"
        # `TRACKING_STORE` exactly when spans are stored: before any, the client must be told
        # to upload them itself (and the client's own claim is never echoed).
        assert (info["tags"].get(SPANS_LOCATION) == "TRACKING_STORE") == spans_before, info["tags"]
        assert info["tags"].get(SPANS_LOCATION) != "ARTIFACT_REPO"

    full = _get_full(url, trace_id)
    info = full["trace_info"]
    # The client's trace info is authoritative.
    assert info["state"] == "OK"
    assert info["request_preview"] == '{"q": "client"}'
    assert info["response_preview"] == '"client answer"'
    assert info["request_time"] == _rfc3339(root_ms + 1000)
    assert info["execution_duration"] in ("0.500s", "0.5s")
    assert info["tags"]["env"] == "test"
    assert info["tags"]["mlflow.traceName"] == "client-root"
    assert info["tags"][SPANS_LOCATION] == "TRACKING_STORE"
    assert info["trace_metadata"]["mlflow.trace.user"] == "alice"
    assert info["trace_metadata"]["custom_meta"] == "m"
    assert info["trace_metadata"]["mlflow.trace.tokenUsage"] == '{"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}'
    assert [x["assessment_id"] for x in info.get("assessments", [])] == [assessment_id]
    names = sorted(s["name"] for s in full["spans"])
    assert names == ["child-a", "child-b", "root"]

    # One trace, seen the same way by the client.
    client = MlflowClient(tracking_uri=url)
    found = client.search_traces(locations=[eid])
    assert [t.info.trace_id for t in found] == [trace_id]
    trace = found[0]
    assert trace.info.state.value == "OK"
    assert trace.info.trace_metadata["mlflow.trace.session"] == "sess-1"
    assert len(trace.info.assessments) == 1
    spans = {s.name: s for s in trace.data.spans}
    assert spans["child-a"].parent_id == root.hex()
    assert spans["child-b"].span_type == "TOOL"
    assert spans["root"].inputs == {"q": "from root span"}
    assert spans["root"].status.status_code.value == "ERROR"
    assert client.search_traces(locations=[eid], filter_string="tags.env = 'test'")[0].info.trace_id == trace_id


def test_start_trace_retries_do_not_duplicate(server):
    if getattr(server, "is_reference", False):
        pytest.skip(
            "ferroflow merges StartTraceV3 with OTLP batches of the same trace in any order and on retries; "
            "the reference 3.17.2 refuses these sequences (404 'no longer exists', 500 INVALID_STATE)"
        )
    url = server.url
    eid = _new_experiment(url)
    tid = os.urandom(16)
    trace_id = f"tr-{tid.hex()}"
    assessment_id = f"a-{uuid.uuid4().hex}"
    now = time.time_ns()
    body = _request(_span(tid, os.urandom(8), "only", start_ns=now, end_ns=now + 1_000_000)).SerializeToString()
    assert _post_otlp(url, eid, body).status_code == 200
    first = _start_trace(url, eid, trace_id, now // 1_000_000, assessment_id)
    for _ in range(2):
        again = _start_trace(url, eid, trace_id, now // 1_000_000, assessment_id)
        assert again["tags"] == first["tags"]
        assert again["trace_metadata"] == first["trace_metadata"]
        assert [x["assessment_id"] for x in again.get("assessments", [])] == [assessment_id]
    # The same span re-sent does not duplicate either.
    assert _post_otlp(url, eid, body).status_code == 200
    client = MlflowClient(tracking_uri=url)
    found = client.search_traces(locations=[eid])
    assert [t.info.trace_id for t in found] == [trace_id]
    assert len(found[0].data.spans) == 1
    assert len(found[0].info.assessments) == 1
