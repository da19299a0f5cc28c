"""OTLP/HTTP protobuf request bodies as the MLflow exporter sends them: ``encode_otlp`` for a
list of spans, ``OtlpTemplate`` for many unique copies of one encoded request. Shared by the
tracing workloads and ``otlp_burst.py``."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

OTLP_HEADERS = {"Content-Type": "application/x-protobuf"}


@dataclass
class SpanSpec:
    """One span for encode_otlp(); attributes follow what the MLflow exporter sends (native AnyValues)."""

    trace_id: bytes  # 16 bytes
    span_id: bytes  # 8 bytes
    parent_id: bytes | None
    name: str
    start_ns: int
    end_ns: int
    span_type: str = "CHAIN"
    inputs: dict | None = None
    outputs: str = ""
    trace_tags: dict | None = None  # root only: sent as mlflow.traceTag.<key> (become trace tags)


def encode_otlp(spans: list[SpanSpec]) -> bytes:
    """An OTLP/HTTP protobuf ExportTraceServiceRequest (one resource, one scope) holding `spans`."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    from opentelemetry.proto.common.v1 import common_pb2 as cm
    from opentelemetry.proto.trace.v1 import trace_pb2 as tr

    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=cm.AnyValue(string_value="ferroflow-bench"))
    ss = rs.scope_spans.add()
    ss.scope.name = "mlflow.tracing"
    for sp in spans:
        s = ss.spans.add()
        s.trace_id, s.span_id = sp.trace_id, sp.span_id
        if sp.parent_id:
            s.parent_span_id = sp.parent_id
        s.name = sp.name
        s.kind = tr.Span.SPAN_KIND_INTERNAL
        s.start_time_unix_nano, s.end_time_unix_nano = sp.start_ns, sp.end_ns
        s.status.code = tr.Status.STATUS_CODE_OK
        a = s.attributes
        a.add(key="mlflow.traceRequestId", value=cm.AnyValue(string_value="tr-" + sp.trace_id.hex()))
        a.add(key="mlflow.spanType", value=cm.AnyValue(string_value=sp.span_type))
        inp = cm.AnyValue()
        for k, v in (sp.inputs or {"query": "what is mlflow?"}).items():
            inp.kvlist_value.values.add(key=k, value=cm.AnyValue(string_value=str(v)))
        a.add(key="mlflow.spanInputs", value=inp)
        a.add(key="mlflow.spanOutputs", value=cm.AnyValue(string_value=sp.outputs or "MLflow is an open source platform"))
        a.add(key="mlflow.spanFunctionName", value=cm.AnyValue(string_value=sp.name))
        a.add(key="mlflow.spanLogLevel", value=cm.AnyValue(int_value=20))
        for k, v in (sp.trace_tags or {}).items():
            a.add(key=f"mlflow.traceTag.{k}", value=cm.AnyValue(string_value=v))
    return req.SerializeToString()


class OtlpTemplate:
    """An encoded OTLP request whose ids are built around random byte markers: trace id =
    12-byte marker + 4-byte index, span id = 6-byte marker + 2-byte index.  instantiate() makes a
    copy with fresh ids by a same-length byte replacement (raw and hex forms), so many unique
    requests cost no protobuf encoding in the timed loop."""

    def __init__(self, n_traces: int, spans_per_trace: int, *, trace_marker: bytes | None = None,
                 root_id: bytes | None = None, extra_root: bool = False, base_ns: int | None = None):
        assert n_traces * spans_per_trace + 1 < 65536
        self.tmark = trace_marker or os.urandom(12)
        self.smark = os.urandom(6)
        self.n_traces, self.spans_per_trace = n_traces, spans_per_trace
        base = base_ns or time.time_ns()
        spans: list[SpanSpec] = []
        k = 0
        for t in range(n_traces):
            tid = self.tmark + t.to_bytes(4, "big")
            # root_id given: every span is a child of that (external) root; else span 0 is the root.
            root = root_id or (self.smark + (t * spans_per_trace).to_bytes(2, "big"))
            kids, root_spec = [], None
            for j in range(spans_per_trace):
                sid = self.smark + k.to_bytes(2, "big")
                k += 1
                st = base + t * 1_000_000 + j * 1_000
                if root_id is None and j == 0:
                    root_spec = SpanSpec(tid, sid, None, "agent", st, st + 900_000, "AGENT",
                                         {"question": f"question {t}"}, f"answer {t}")
                else:
                    kids.append(SpanSpec(tid, sid, root, f"step-{j}", st, st + 500, "LLM" if j % 2 else "RETRIEVER",
                                         {"q": f"sub-question {j}"}, f"result {j}"))
            spans += kids  # children first, root last (the order the client sends them in)
            if root_spec:
                spans.append(root_spec)
            if extra_root and root_id is not None:
                spans.append(SpanSpec(tid, root_id, None, "agent", base, base + 10_000_000_000, "AGENT",
                                      {"question": "huge"}, "done"))
        self.n_spans = len(spans)
        self.body = encode_otlp(spans)

    def instantiate(self, new_trace_ids: bool = True) -> tuple[bytes, bytes]:
        """(body with fresh span ids [and trace ids], trace marker used)."""
        body = self.body.replace(self.smark, os.urandom(6))
        tm = self.tmark
        if new_trace_ids:
            tm = os.urandom(12)
            body = body.replace(self.tmark, tm).replace(self.tmark.hex().encode(), tm.hex().encode())
        return body, tm

    def trace_ids(self, tmark: bytes) -> list[str]:
        return ["tr-" + (tmark + t.to_bytes(4, "big")).hex() for t in range(self.n_traces)]

