"""`/api/openapi.json`: the OpenAPI 3.1 document generated from the route table, and
schemathesis (its CLI, from the virtualenv) calling every operation with generated inputs, with
authentication off and on: no answer may be a 5xx."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

if Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow":
    pytest.skip("ferroflow's own document", allow_module_level=True)

ADMIN_PASSWORD = "admin-password-1234"


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is missing from the virtualenv: tests/requirements.txt installs it")
    return found


def _no_server_errors(url: str, *headers: str) -> None:
    args = [_schemathesis(), "run", f"{url}/api/openapi.json", "--checks", "not_a_server_error",
            "--phases", "coverage,fuzzing", "-n", "3", "--request-timeout", "30", "--no-color"]  # fmt: skip
    for header in headers:
        args += ["-H", header]
    # Its own folder: schemathesis leaves a `.schemathesis/` cache where it runs.
    done = subprocess.run(args, capture_output=True, text=True, timeout=1200, cwd=tempfile.mkdtemp(prefix="st-"))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout


def test_the_document_lists_every_route(server):
    doc = requests.get(server.url + "/api/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert "post" in paths["/api/2.0/mlflow/runs/create"]
    assert "get" in paths["/api/3.0/mlflow/traces/{trace_id}"]
    assert "put" in paths["/api/2.0/mlflow-artifacts/artifacts/{path}"]
    assert "post" in paths["/v1/traces"]
    assert sum(len(ops) for ops in paths.values()) > 120


def test_schemathesis_finds_no_server_error(fresh_server):
    srv = fresh_server()
    _no_server_errors(srv.url)


def test_schemathesis_finds_no_server_error_with_auth(fresh_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
    srv = fresh_server(extra_args=("--app-name", "basic-auth"))
    credentials = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    _no_server_errors(srv.url, f"Authorization: Basic {credentials}")
