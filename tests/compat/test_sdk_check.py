"""`ferroflow check` against a good Rust agent and deliberately broken ones.

The SDK's example `serve_agent` serves the order agent (see test_sdk_serve.py); its flags break
it one way each: `--flaw no-output` answers without output items, `--flaw bad-stream` streams
events without their fields, `--flaw tool-answers-anyway` makes up an answer when its data tool
fails, `--no-signature` logs it without a signature. `ferroflow check` (the binary under test)
must pass the good agent, by endpoint and by `models:/name@alias`, and fail exactly the items
each flaw breaks, with exit code 1.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import mlflow
import pytest
from conftest import _binary
from mlflow import MlflowClient
from test_sdk import _env
from test_sdk_serve import AgentProcess, EchoAgent

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="`ferroflow check` and ferroflow's Rust SDK examples",
)

INPUT_KEY = "request uses the `input` key"
RESPONSE = "response is a well-formed ResponsesAgentResponse"
STREAM = "streaming events are well-formed"
SIGNATURE = "signature is present and auto-inferred"
TRACE = "invoking produces a trace with the expected span types"
FAILING_TOOL = "a data tool that fails says so instead of answering"
ITEMS = [INPUT_KEY, RESPONSE, STREAM, SIGNATURE, TRACE, FAILING_TOOL]


def check(tracking_url: str, target: str) -> tuple[int, dict[str, str], str]:
    """Runs `ferroflow check`; returns its exit code, item -> mark, and its output."""
    proc = subprocess.run(
        [
            _binary(),
            "check",
            target,
            "--question",
            "Where is order 42?",
            "--failing-question",
            "Where is order 1234?",
        ],
        env=_env(tracking_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    marks = {}
    for line in proc.stdout.splitlines():
        mark, _, rest = line.partition(" ")
        name = rest.split(": ", 1)[0]
        if name in ITEMS:
            marks[name] = mark
    assert set(marks) == set(ITEMS), f"not every item was printed:\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode, marks, proc.stdout


@pytest.fixture
def agent(server):
    started: list[AgentProcess] = []

    def start(*args: str) -> tuple[AgentProcess, str]:
        name = f"checked-{uuid.uuid4().hex[:10]}"
        process = AgentProcess(
            server.url, "--register", name, "--alias", "production", *args, experiment=f"sdk-check-{name}"
        )
        started.append(process)
        return process, name

    yield start
    for process in started:
        process.stop()


def test_a_good_agent_passes_every_item(server, agent):
    process, name = agent()
    code, marks, out = check(server.url, f"models:/{name}@production")
    assert code == 0, out
    assert all(mark == "✓" for mark in marks.values()), out
    assert "all checks passed" in out

    # By endpoint: everything but the signature, which needs the logged model.
    code, marks, out = check(server.url, process.url)
    assert code == 0, out
    assert marks[SIGNATURE] == "–", out
    assert all(marks[item] == "✓" for item in ITEMS if item != SIGNATURE), out


@pytest.mark.parametrize(
    "flaw, failing",
    [
        (("--flaw", "no-output"), {RESPONSE, STREAM, FAILING_TOOL}),
        (("--flaw", "bad-stream"), {STREAM}),
        (("--flaw", "tool-answers-anyway"), {FAILING_TOOL}),
        (("--no-signature",), {SIGNATURE}),
    ],
    ids=["no-output", "bad-stream", "tool-answers-anyway", "no-signature"],
)
def test_each_flaw_fails_its_item(server, agent, flaw, failing):
    _, name = agent(*flaw)
    code, marks, out = check(server.url, f"models:/{name}@production")
    assert code == 1, out
    assert {item for item, mark in marks.items() if mark == "✗"} == failing, out
    assert all(marks[item] == "✓" for item in ITEMS if item not in failing), out


def test_an_unknown_model_fails_with_the_reason(server):
    code, marks, out = check(server.url, f"models:/no-such-agent-{uuid.uuid4().hex[:8]}@production")
    assert code == 1, out
    assert all(mark == "✗" for mark in marks.values()), out
    assert "cannot resolve" in out


def test_a_python_logged_agent_has_its_yaml_mlmodel_read(server, agent):
    # A ResponsesAgent logged by the Python client: its MLmodel is YAML. Its endpoint tag points at
    # a served Rust agent, so every other item is checked against that one.
    process, _ = agent()
    name = f"python-agent-{uuid.uuid4().hex[:10]}"
    mlflow.set_tracking_uri(server.url)
    mlflow.set_experiment(f"sdk-check-{name}")
    try:
        with mlflow.start_run():
            logged = mlflow.pyfunc.log_model(name="agent", python_model=EchoAgent())
    finally:
        mlflow.set_experiment(experiment_id="0")
    client = MlflowClient(server.url)
    location = client.get_logged_model(logged.model_id).artifact_location
    mlmodel = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/MLmodel", tracking_uri=server.url))
    text = mlmodel.read_text()
    assert "\nsignature:\n" in text and not text.lstrip().startswith("{"), f"not the YAML MLflow writes:\n{text}"
    client.set_logged_model_tags(logged.model_id, {"ferroflow.agent.endpoint": process.url})
    version = mlflow.register_model(logged.model_uri, name)
    client.set_registered_model_alias(name, "production", version.version)

    code, marks, out = check(server.url, f"models:/{name}@production")
    assert marks[SIGNATURE] == "✓", out
    assert code == 0, out
