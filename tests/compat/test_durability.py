"""A 200 means committed (ARCHITECTURE.md): a server killed with SIGKILL in the middle of a
stream of OTLP and StartTraceV3 writes must, after a restart, return every span and every
trace record it acknowledged."""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timezone

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

SPANS_PER_TRACE = 3
TRACES_PER_BATCH = 2
# Writes acknowledged before each kill and after the last restart, at least.
ACKS_PER_PHASE = 12


def _rfc3339(ms: int) -> str:
    """Protobuf's canonical JSON timestamp, as servers print it: no fraction on a whole second."""
    text = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def _batch(seq: int) -> tuple[bytes, dict[str, set[str]]]:
    """An OTLP request with TRACES_PER_BATCH traces of SPANS_PER_TRACE spans each."""
    spans, made = [], {}
    now = time.time_ns()
    for _ in range(TRACES_PER_BATCH):
        tid = os.urandom(16)
        ids = [os.urandom(8) for _ in range(SPANS_PER_TRACE)]
        for i, sid in enumerate(ids):
            spans.append(
                Span(
                    trace_id=tid,
                    span_id=sid,
                    parent_span_id=b"" if i == 0 else ids[0],
                    name=f"span-{i}",
                    kind=Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=now + i,
                    end_time_unix_nano=now + 1_000_000 + i,
                    attributes=[
                        KeyValue(key="seq", value=AnyValue(int_value=seq)),
                        KeyValue(key="mlflow.spanType", value=AnyValue(string_value="CHAIN")),
                        KeyValue(key="payload", value=AnyValue(string_value="p" * 2000)),
                    ],
                    status=Status(code=1),
                )
            )
        made[f"tr-{tid.hex()}"] = {sid.hex() for sid in ids}
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString(), made


def _start_trace_body(eid: str, trace_id: str, seq: int) -> dict:
    now = int(time.time() * 1000)
    return {
        "trace": {
            "trace_info": {
                "trace_id": trace_id,
                "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": eid}},
                "request_time": _rfc3339(now),
                "execution_duration": "0.010s",
                "state": "OK",
                "trace_metadata": {"mlflow.trace_schema.version": "3", "seq": str(seq)},
                "tags": {"acked": "yes", "mlflow.traceName": f"start-{seq}"},
                "request_preview": f'{{"seq": {seq}}}',
            }
        }
    }


class Producer(threading.Thread):
    """Writes continuously; remembers exactly what the server acknowledged with a 200."""

    def __init__(self, srv, eid: str, name: str):
        super().__init__(name=name, daemon=True)
        self.srv, self.eid = srv, eid
        self.stop = threading.Event()
        self.acked_spans: dict[str, set[str]] = {}  # trace id -> span ids (hex)
        self.acked_starts: dict[str, int] = {}  # trace id -> seq, for StartTraceV3-only traces
        self.failures = 0
        self.acks_by_time: list[float] = []

    def run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            seq += 1
            url = self.srv.url  # the port may move on restart
            try:
                if seq % 3 == 0:
                    trace_id = f"tr-{uuid.uuid4().hex}"
                    r = requests.post(
                        f"{url}/api/3.0/mlflow/traces", json=_start_trace_body(self.eid, trace_id, seq), timeout=10
                    )
                    if r.status_code == 200:
                        self.acked_starts[trace_id] = seq
                        self.acks_by_time.append(time.monotonic())
                    else:
                        self.failures += 1
                else:
                    body, made = _batch(seq)
                    r = requests.post(
                        f"{url}/v1/traces",
                        data=body,
                        headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": self.eid},
                        timeout=10,
                    )
                    if r.status_code == 200:
                        self.acked_spans.update(made)
                        self.acks_by_time.append(time.monotonic())
                    else:
                        self.failures += 1
            except requests.RequestException:
                self.failures += 1
                time.sleep(0.02)


def _batch_get(url: str, trace_ids: list[str]) -> dict[str, dict]:
    found = {}
    for i in range(0, len(trace_ids), 10):
        chunk = trace_ids[i : i + 10]
        r = requests.get(f"{url}/api/3.0/mlflow/traces/batchGet", params={"trace_ids": chunk}, timeout=60)
        assert r.status_code == 200, r.text
        for trace in r.json().get("traces", []):
            found[trace["trace_info"]["trace_id"]] = trace
    return found


def _trace_infos(url: str, trace_ids: list[str]) -> dict[str, dict]:
    """GetTraceInfoV3 of each trace that exists, as {"trace_info": …} by trace id."""
    found = {}
    for trace_id in trace_ids:
        r = requests.get(f"{url}/api/3.0/mlflow/traces/{trace_id}", timeout=60)
        if r.status_code == 404:
            continue
        assert r.status_code == 200, r.text
        found[trace_id] = r.json()["trace"]
    return found


def test_acknowledged_writes_survive_sigkill(fresh_server):
    srv = fresh_server()
    r = requests.post(
        f"{srv.url}/api/2.0/mlflow/experiments/create", json={"name": f"durable-{uuid.uuid4().hex}"}, timeout=30
    )
    assert r.status_code == 200, r.text
    eid = r.json()["experiment_id"]

    producers = [Producer(srv, eid, f"producer-{i}") for i in range(3)]
    for p in producers:
        p.start()
    kill_times = []

    def write_for(seconds: float, acks: int) -> None:
        """Lets the producers write for `seconds`, and on until `acks` more writes were
        acknowledged (a slower server, such as the reference, needs longer for as many)."""
        start = sum(len(p.acks_by_time) for p in producers)
        time.sleep(seconds)
        deadline = time.monotonic() + 60
        while sum(len(p.acks_by_time) for p in producers) - start < acks and time.monotonic() < deadline:
            time.sleep(0.1)

    try:
        for _ in range(2):
            write_for(1.5, ACKS_PER_PHASE)
            kill_times.append(time.monotonic())
            srv.restart()  # SIGKILL mid-stream, then the same store again
        write_for(1.0, ACKS_PER_PHASE)
    finally:
        for p in producers:
            p.stop.set()
        for p in producers:
            p.join(timeout=30)
    assert not any(p.is_alive() for p in producers)

    acked_spans: dict[str, set[str]] = {}
    acked_starts: dict[str, int] = {}
    ack_times: list[float] = []
    for p in producers:
        acked_spans.update(p.acked_spans)
        acked_starts.update(p.acked_starts)
        ack_times.extend(p.acks_by_time)
    # The stream really was interrupted while it was running: writes were acknowledged before
    # the first kill, between the kills and after the last one.
    assert any(t < kill_times[0] for t in ack_times)
    assert any(kill_times[0] < t < kill_times[1] for t in ack_times)
    assert any(t > kill_times[1] for t in ack_times)
    assert len(acked_spans) >= 20 and len(acked_starts) >= 5, (len(acked_spans), len(acked_starts))

    # Every acknowledged span is there, exactly once.
    found = _batch_get(srv.url, sorted(acked_spans))
    missing_traces = sorted(set(acked_spans) - set(found))
    assert not missing_traces, f"{len(missing_traces)} acknowledged traces lost, e.g. {missing_traces[:3]}"
    for trace_id, span_ids in acked_spans.items():
        stored = [base64.b64decode(s["span_id"]).hex() for s in found[trace_id]["spans"]]
        assert sorted(stored) == sorted(span_ids), trace_id
        info = found[trace_id]["trace_info"]
        assert info["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"
        assert info["state"] == "OK"

    # Every acknowledged StartTraceV3 record is there with what it carried (read one by one:
    # the reference's batchGet answers 500 for a trace without stored spans).
    found = _trace_infos(srv.url, sorted(acked_starts))
    missing = sorted(set(acked_starts) - set(found))
    assert not missing, f"{len(missing)} acknowledged StartTraceV3 records lost, e.g. {missing[:3]}"
    for trace_id, seq in acked_starts.items():
        info = found[trace_id]["trace_info"]
        assert info["tags"]["acked"] == "yes"
        assert info["tags"]["mlflow.traceName"] == f"start-{seq}"
        assert info["trace_metadata"]["seq"] == str(seq)
        assert info["trace_metadata"]["mlflow.trace.infoFinalized"] == "true"
        assert info["request_preview"] == f'{{"seq": {seq}}}'

    # Search sees them all too (the index survived with the rows).
    total = 0
    token = None
    while True:
        body = {
            "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": eid}}],
            "max_results": 500,
        }
        if token:
            body["page_token"] = token
        r = requests.post(f"{srv.url}/api/3.0/mlflow/traces/search", json=body, timeout=60)
        assert r.status_code == 200, r.text
        total += len(r.json().get("traces", []))
        token = r.json().get("next_page_token")
        if not token:
            break
    assert total >= len(acked_spans) + len(acked_starts)

    # And the database file is sound (a PostgreSQL-backed server has no file of its own).
    srv.stop()
    if srv.postgres_uri is None:
        with sqlite3.connect(srv.db_path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
