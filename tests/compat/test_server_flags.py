"""`ferroflow server` takes the flags a `mlflow server` user already types."""

import os
import subprocess
import sys

import requests


def _run_client(url: str, code: str) -> str:
    env = dict(os.environ, MLFLOW_TRACKING_URI=url)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_static_prefix_serves_every_route_under_it(fresh_server):
    srv = fresh_server(extra_args=("--static-prefix", "/mlflow"))
    base = srv.url
    assert requests.get(f"{base}/mlflow/health", timeout=10).text == "OK"
    # Outside the prefix nothing answers, and not in JSON (so clients see an unknown route).
    outside = requests.get(f"{base}/health", timeout=10)
    assert outside.status_code == 404
    # The real client works when the prefix is part of the tracking URI, tracing included.
    out = _run_client(
        f"{base}/mlflow",
        "import mlflow\n"
        "mlflow.set_experiment('prefixed')\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_metric('m', 1.5)\n"
        "@mlflow.trace\n"
        "def f(x):\n"
        "    return x + 1\n"
        "f(1)\n"
        "mlflow.flush_trace_async_logging()\n"
        "t = mlflow.get_trace(mlflow.get_last_active_trace_id())\n"
        "print(mlflow.get_run(run.info.run_id).data.metrics['m'], len(t.data.spans), t.data.spans[0].outputs)\n",
    )
    assert out.splitlines()[-1] == "1.5 1 2"


def test_mlflow_server_worker_options_are_accepted(fresh_server):
    srv = fresh_server(extra_args=("--workers", "4", "--gunicorn-opts", "--timeout 60"))
    assert requests.get(f"{srv.url}/health", timeout=10).text == "OK"
