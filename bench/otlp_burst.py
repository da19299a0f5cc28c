"""OTLP ingest probe: pre-encoded protobuf requests from N sender threads against a running
ferroflow (or mlflow) server, to measure burst and sustained span ingest outside run.py.

    .venv/bin/python bench/otlp_burst.py PORT THREADS SPANS_PER_REQUEST REQUESTS [EXPERIMENT_ID]

e.g. `... 5000 4 500 400` (200k spans, a burst) or `... 5000 4 500 2000` (1M spans, sustained).
Each request holds 10-span traces with attributes as the MLflow client sends them (the bodies
of run.py's otlp_ingest workload: `ferrobench.otlp.OtlpTemplate`, fresh ids in every copy).
"""

import http.client
import sys
import threading
import time

from ferrobench.otlp import OTLP_HEADERS, OtlpTemplate


def main() -> None:
    port, threads, per_request, requests = (int(a) for a in sys.argv[1:5])
    experiment = sys.argv[5] if len(sys.argv) > 5 else "0"
    template = OtlpTemplate(max(1, per_request // 10), 10)
    bodies = [template.instantiate()[0] for _ in range(requests)]
    lock, next_index, failures = threading.Lock(), [0], [0]

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        headers = {**OTLP_HEADERS, "x-mlflow-experiment-id": experiment}
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
    spans = requests * template.n_spans
    print(f"{spans} spans in {elapsed:.2f}s = {spans / elapsed:.0f} spans/s, failed requests={failures[0]}")


if __name__ == "__main__":
    main()
