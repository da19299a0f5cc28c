"""The Rust SDK against a server with authentication (`ferroflow server --app-name basic-auth`).

The SDK's driver traces and evaluates with the credentials MLflow users already set:
MLFLOW_TRACKING_USERNAME/PASSWORD (HTTP Basic) or MLFLOW_TRACKING_TOKEN (Bearer, an API token of
the server), on every call it makes (the trace records and OTLP spans, experiment lookups,
runs, assessments) and on plain OTLP export to the server's `/v1/traces`. The records are then
read back with the Python client as the same user; without credentials nothing gets through.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import mlflow
import mlflow.server
import pytest
import requests
from mlflow import MlflowClient
from test_auth import ADMIN_PASSWORD, _as, _auth_server, _ferroflow_only
from test_evaluate import QA
from test_sdk import run_driver

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="ferroflow's Rust SDK examples (and its API tokens)",
)

USER = ("rusty", "rusty-password-1")


def _done(lines: list[dict]) -> dict:
    return [line for line in lines if line.get("scenario") == "done"][0]["report"]


def test_rust_sdk_traces_and_evaluates_with_credentials(fresh_server, monkeypatch, tmp_path):
    _ferroflow_only()  # API tokens and the OTLP route's auth are ferroflow's
    srv = _auth_server(fresh_server, monkeypatch)
    _as(monkeypatch, "admin", ADMIN_PASSWORD)
    mlflow.server.get_app_client("basic-auth", tracking_uri=srv.url).create_user(*USER)
    basic = {"MLFLOW_TRACKING_USERNAME": USER[0], "MLFLOW_TRACKING_PASSWORD": USER[1]}
    _as(monkeypatch, *USER)
    client = MlflowClient(srv.url)

    # Without credentials every export is refused: nothing delivered, all counted as failed.
    refused = _done(run_driver(srv.url, "traces", experiment=f"no-auth-{uuid.uuid4().hex[:8]}"))
    assert refused["spans_delivered"] == 0 and refused["traces_delivered"] == 0, refused
    assert refused["spans_failed"] + refused["traces_failed"] > 0, refused

    # Basic credentials: the experiment is made (by name), the spans and records delivered.
    name = f"auth-basic-{uuid.uuid4().hex[:8]}"
    report = _done(run_driver(srv.url, "traces", experiment=name, **basic))
    assert (report["spans_delivered"], report["traces_delivered"]) == (9, 3), report
    experiment = client.get_experiment_by_name(name).experiment_id
    traces = client.search_traces(locations=[experiment])
    assert len(traces) == 3
    assert {t.info.tags.get("mlflow.traceName") for t in traces} >= {"agent"}

    # An evaluation: run, traces, assessments and metrics all go through.
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "".join(
            json.dumps({"inputs": {"question": q}, "expectations": {"expected_response": e}}) + "\n"
            for q, (_, e) in QA.items()
        )
    )
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({q: a for q, (a, _) in QA.items()}))
    evaluated = run_driver(srv.url, "evaluate", str(data), str(answers), experiment=name, **basic)[-1]
    run = client.get_run(evaluated["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    assert run.data.metrics["exact_match/mean"] == evaluated["metrics"]["exact_match/mean"]
    row = client.get_trace(evaluated["rows"][0]["trace_id"])
    assert {"exact_match", "word_count", "expected_response"} <= {a.name for a in row.info.assessments}

    # Plain OTLP export to the server's /v1/traces carries the credentials too.
    otlp = {
        **basic,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.url + "/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"x-mlflow-experiment-id={experiment}",
    }
    before = len(client.search_traces(locations=[experiment]))
    report = _done(run_driver(srv.url, "traces", **otlp))
    assert report["spans_delivered"] == 9 and report["spans_failed"] == 0, report
    assert len(client.search_traces(locations=[experiment])) == before + 3

    # An API token as MLFLOW_TRACKING_TOKEN (Bearer).
    made = requests.post(srv.url + "/api/3.0/mlflow/users/tokens/create", json={"name": "sdk"}, auth=USER, timeout=10)
    assert made.status_code == 200, made.text
    token_name = f"auth-token-{uuid.uuid4().hex[:8]}"
    report = _done(run_driver(srv.url, "traces", experiment=token_name, MLFLOW_TRACKING_TOKEN=made.json()["secret"]))
    assert (report["spans_delivered"], report["traces_delivered"]) == (9, 3), report
    token_experiment = client.get_experiment_by_name(token_name)
    assert len(client.search_traces(locations=[token_experiment.experiment_id])) == 3
