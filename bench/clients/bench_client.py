"""What every client script of the bench shares (imported first, before ``mlflow``).

Wraps ``requests.Session.request`` so that every HTTP call of the mlflow client (REST and OTLP)
records its interval, for ``server_wait``; reads the script's arguments (one JSON argument,
with ``uri`` the server's URL, as ``ferrobench.harness.run_client_script`` passes them); points
mlflow at the server; and prints the result line the harness reads.
"""

import json
import sys
import threading
import time

import requests

_intervals: list[tuple[float, float]] = []
_lock = threading.Lock()
_request = requests.Session.request


def _timed(self, method, url, *a, **kw):
    t0 = time.perf_counter()
    try:
        return _request(self, method, url, *a, **kw)
    finally:
        t1 = time.perf_counter()
        with _lock:
            _intervals.append((t0, t1))


requests.Session.request = _timed

ARGS = json.loads(sys.argv[1])

import mlflow  # noqa: E402  (after the wrapper, so that no session is made before it)

mlflow.set_tracking_uri(ARGS["uri"])


def server_wait(t0: float, t1: float) -> tuple[float, float, int]:
    """(union of in-flight request intervals, summed request time, request count) within [t0, t1]."""
    iv = sorted((max(a, t0), min(b, t1)) for a, b in list(_intervals) if b > t0 and a < t1)
    union, cs, ce = 0.0, None, None
    for a, b in iv:
        if ce is None or a > ce:
            if ce is not None:
                union += ce - cs
            cs, ce = a, b
        else:
            ce = max(ce, b)
    if ce is not None:
        union += ce - cs
    return union, sum(b - a for a, b in iv), len(iv)


def report(t0: float, t1: float, **extra) -> None:
    """Prints the ``BENCH_RESULT`` line: wall time of [t0, t1], time waiting on the server, and `extra`."""
    union, summed, nreq = server_wait(t0, t1)
    result = {"seconds": t1 - t0, "server_wait_s": union, "request_s": summed, "requests": nreq, **extra}
    print("BENCH_RESULT " + json.dumps(result))
