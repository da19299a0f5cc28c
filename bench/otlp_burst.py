"""OTLP ingest probe: pre-encoded protobuf requests from N sender threads against a running
ferroflow (or mlflow) server, to measure burst and sustained span ingest outside run.py.

    .venv/bin/python bench/otlp_burst.py PORT THREADS SPANS_PER_REQUEST REQUESTS [EXPERIMENT_ID]

e.g. `... 5000 4 500 400` (200k spans, a burst) or `... 5000 4 500 2000` (1M spans, sustained).
Each request holds 10-span traces with attributes as the MLflow client sends them.
"""

import http.client
import os
import sys
import threading
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList


def body(spans_per_request: int) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(max(1, spans_per_request // 10)):
        trace_id, root = os.urandom(16), os.urandom(8)
        for index in range(10):
            span = scope.spans.add()
            span.trace_id = trace_id
            span.span_id = root if index == 0 else os.urandom(8)
            if index:
                span.parent_span_id = root
            span.name = f"span-{index}"
            span.start_time_unix_nano = time.time_ns()
            span.end_time_unix_nano = span.start_time_unix_nano + 1000
            span.attributes.append(KeyValue(key="mlflow.spanType", value=AnyValue(string_value="LLM" if index else "AGENT")))
            question = KeyValue(key="q", value=AnyValue(string_value="what is the weather like today in oslo"))
            span.attributes.append(
                KeyValue(key="mlflow.spanInputs", value=AnyValue(kvlist_value=KeyValueList(values=[question])))
            )
            span.attributes.append(
                KeyValue(key="mlflow.spanOutputs", value=AnyValue(string_value="it is raining, as it always is"))
            )
            span.status.code = 1
    return request.SerializeToString()


def main() -> None:
    port, threads, per_request, requests = (int(a) for a in sys.argv[1:5])
    experiment = sys.argv[5] if len(sys.argv) > 5 else "0"
    bodies = [body(per_request) for _ in range(requests)]
    lock, next_index, failures = threading.Lock(), [0], [0]

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment}
        while True:
            with lock:
                if next_index[0] >= len(bodies):
                    return
                payload = bodies[next_index[0]]
                next_index[0] += 1
            connection.request("POST", "/v1/traces", body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures[0] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=sender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    spans = requests * (per_request // 10) * 10
    print(f"{spans} spans in {elapsed:.2f}s = {spans / elapsed:.0f} spans/s, failed requests={failures[0]}")


if __name__ == "__main__":
    main()
