"""A Rust agent served with `ferroflow_sdk::serve`, driven by real clients.

The SDK's example `serve_agent` (built next to `sdk_compat` by `cargo xtask test`) serves an
order agent (a data tool, a streamed answer) on a free port, tracing into the server under
test. The tests call it as MLflow's serving contract is called (`requests` on `/invocations`,
JSON and server-sent events), as the OpenAI Python client calls the Responses API
(`client.responses.create`, streaming and not, `base_url` pointed at the agent), and with bad
requests; then read the traces back with `mlflow.search_traces` / `get_trace`.

The logging tests start the agent with `--register`: the SDK logs it as a logged model with
the ResponsesAgent signature, registers it and sets aliases. The Python client reads it back
(`get_logged_model`, `get_model_version_by_alias`, `get_model_info`), its signature is compared
with the one MLflow stores for a Python `ResponsesAgent`, and `load_agent("models:/...@alias")`
calls the served agent through the registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.pyfunc import ResponsesAgent
from mlflow.types.responses import ResponsesAgentRequest, ResponsesAgentResponse
from test_sdk import _driver, _env

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="ferroflow's Rust SDK examples",
)

ORDER_42 = [{"role": "user", "content": "Where is order 42?"}]


def example(name: str) -> str:
    path = Path(_driver()).parent / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `cargo build -p ferroflow-sdk --examples` (cargo xtask test does)")
    return str(path)


class AgentProcess:
    """One `serve_agent` process; `url` once it listens, `lines` what it printed before."""

    def __init__(self, tracking_url: str, *args: str, experiment: str | None = None, **env: str):
        self.proc = subprocess.Popen(
            [example("serve_agent"), *args],
            env=_env(tracking_url, experiment, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict] = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(timeout=10)
                pytest.fail(f"serve_agent {args} exited ({self.proc.returncode}):\n{self.proc.stderr.read()}")
            obj = json.loads(line)
            if "listening" in obj:
                self.url = obj["listening"]
                break
            self.lines.append(obj)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def start_agent(server):
    started: list[AgentProcess] = []

    def start(*args: str, experiment: str | None = None, **env: str) -> AgentProcess:
        agent = AgentProcess(server.url, *args, experiment=experiment, **env)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture(scope="module")
def served(server):
    """One good agent for the module, tracing into an experiment of its own."""
    name = f"sdk-serve-{uuid.uuid4().hex[:10]}"
    agent = AgentProcess(server.url, experiment=name)
    yield agent, name
    agent.stop()


def wait_trace(trace_id: str, spans: int, timeout: float = 15.0):
    """The trace once all `spans` spans arrived (the agent exports in the background)."""
    deadline = time.time() + timeout
    while True:
        try:
            trace = mlflow.get_trace(trace_id)
            if trace is not None and len(trace.data.spans) >= spans:
                return trace
        except Exception:
            if time.time() > deadline:
                raise
        if time.time() > deadline:
            pytest.fail(f"trace {trace_id} did not arrive with {spans} spans")
        time.sleep(0.2)


def sse_events(response: requests.Response) -> list:
    assert response.headers["content-type"].startswith("text/event-stream"), response.headers
    data = [line[len("data: ") :] for line in response.text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]", data
    return [json.loads(d) for d in data[:-1]]


def message_text(item: dict) -> str:
    return "".join(part["text"] for part in item["content"])


def test_invocations_answers_a_responses_agent_response_and_traces_it(served):
    agent, _ = served
    r = requests.post(
        f"{agent.url}/invocations", json={"input": ORDER_42}, headers={"x-mlflow-return-trace-id": "true"}, timeout=10
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "response"
    assert [item["type"] for item in body["output"]] == ["function_call", "function_call_output", "message"]
    assert message_text(body["output"][-1]) == "Order 42 is shipped."
    assert body["output"][0]["name"] == "order_status"
    trace_id = body["metadata"]["trace_id"]

    trace = wait_trace(trace_id, spans=2)
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert (root.name, root.span_type) == ("predict", "AGENT")
    assert root.inputs == {"request": {"input": ORDER_42}}
    assert root.outputs["output"][-1]["content"][0]["text"] == "Order 42 is shipped."
    assert root.attributes["mlflow.message.format"] == "openai"
    tool = next(s for s in trace.data.spans if s.name == "order_status")
    assert (tool.span_type, tool.parent_id) == ("TOOL", root.span_id)


def test_invocations_streams_server_sent_events(served):
    agent, _ = served
    r = requests.post(
        f"{agent.url}/invocations",
        json={"input": ORDER_42, "stream": True},
        headers={"x-mlflow-return-trace-id": "true"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    events = sse_events(r)
    trace_id = events[-1]["trace_id"]
    events = events[:-1]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "Order 42 is shipped."
    assert all(e["item_id"] == "msg-1" for e in events if e["type"] == "response.output_text.delta")
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["type"] for item in done] == ["function_call", "function_call_output", "message"]

    trace = wait_trace(trace_id, spans=2)
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert (root.name, root.span_type) == ("predict_stream", "AGENT")
    # The streamed call's outputs are the response made of its finished items.
    assert [item["type"] for item in root.outputs["output"]] == ["function_call", "function_call_output", "message"]


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "Invalid JSON"),
        (json.dumps({"messages": ORDER_42}).encode(), "no `input`"),
        (json.dumps({"input": "hi"}).encode(), "`input` must be a list"),
        (json.dumps({"input": ORDER_42, "temperature": "hot"}).encode(), "invalid type"),
        (json.dumps({"input": ORDER_42, "stream": "yes"}).encode(), "`stream` must be a boolean"),
        (json.dumps([1, 2]).encode(), "must be a JSON object"),
    ],
)
def test_bad_requests_get_a_400_with_the_reason(served, body, reason):
    agent, _ = served
    r = requests.post(f"{agent.url}/invocations", data=body, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 400, r.text
    assert reason in r.json()["detail"], r.json()
    assert r.json()["error"]["message"] == r.json()["detail"]


def test_health_and_ping(served):
    agent, _ = served
    assert requests.get(f"{agent.url}/health", timeout=10).json() == {"status": "healthy"}
    assert requests.get(f"{agent.url}/ping", timeout=10).status_code == 200
    assert requests.get(f"{agent.url}/agent/info", timeout=10).json()["agent_api"] == "responses"


def test_openai_client_responses_create(served):
    openai = pytest.importorskip("openai")
    agent, _ = served
    client = openai.OpenAI(base_url=agent.url, api_key="unused")

    response = client.responses.create(model="order-agent", input="Where is order 7?")
    assert response.output_text == "Order 7 is processing."
    assert [item.type for item in response.output] == ["function_call", "function_call_output", "message"]

    listed = client.responses.create(model="order-agent", input=[{"role": "user", "content": "hello there"}])
    assert listed.output_text == "echo: hello there"

    deltas, done = [], []
    with client.responses.create(model="order-agent", input="Where is order 7?", stream=True) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            elif event.type == "response.output_item.done":
                done.append(event.item.type)
    assert "".join(deltas) == "Order 7 is processing."
    assert done == ["function_call", "function_call_output", "message"]

    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="order-agent", input=[{"role": "user", "content": "x"}], temperature="hot")
    assert "invalid type" in str(err.value)


def test_every_request_is_one_trace_in_the_experiment(served):
    agent, name = served
    before = requests.post(f"{agent.url}/invocations", json={"input": ORDER_42}, timeout=10)
    assert before.status_code == 200
    experiment = MlflowClient().get_experiment_by_name(name)
    assert experiment is not None, "the agent's traces go to MLFLOW_EXPERIMENT_NAME"
    # Letters only: a number would be read as an order number.
    marker = "marker " + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])
    for _ in range(3):
        assert requests.post(f"{agent.url}/invocations", json={"input": [{"role": "user", "content": marker}]}).ok
    deadline = time.time() + 15
    while True:
        traces = mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")
        mine = [t for t in traces if marker in json.dumps(t.data.spans[0].inputs if t.data.spans else {})]
        if len(mine) == 3 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert len(mine) == 3, [t.info.trace_id for t in traces]
    for trace in mine:
        assert [s.span_type for s in trace.data.spans] == ["AGENT"]
        assert trace.info.state == "OK"


class EchoAgent(ResponsesAgent):
    """A Python ResponsesAgent: what MLflow records for one is what the Rust agent must match."""

    def predict(self, request: ResponsesAgentRequest) -> ResponsesAgentResponse:
        text = request.input[-1].content
        return ResponsesAgentResponse(output=[self.create_text_output_item(text=f"echo: {text}", id="msg-1")])


def run_call(tracking_url: str, *args: str) -> list[dict]:
    proc = subprocess.run(
        [example("serve_agent"), "call", *args], env=_env(tracking_url), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"serve_agent call {args} failed ({proc.returncode}):\n{proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_log_register_and_load_a_rust_agent(server, start_agent, client):
    experiment = f"sdk-log-{uuid.uuid4().hex[:10]}"
    name = f"rust-agent-{uuid.uuid4().hex[:10]}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    agent = start_agent(
        "--register", name, "--alias", "production", "--alias", "staging", experiment=experiment, GIT_COMMIT=commit
    )
    registered = agent.lines[-1]
    model_id = registered["model_id"]

    # The logged model, as the Python client sees it.
    model = mlflow.get_logged_model(model_id)
    assert model.name == "order-agent"
    assert model.status == LoggedModelStatus.READY
    assert model.model_type == "agent"
    assert model.experiment_id == client.get_experiment_by_name(experiment).experiment_id
    assert model.tags["ferroflow.agent.name"] == "order-agent"
    assert model.tags["ferroflow.agent.endpoint"] == agent.url
    assert model.tags["ferroflow.agent.version"]
    assert model.tags["mlflow.source.git.commit"] == commit

    # Registered, with both aliases on the version.
    version = client.get_model_version_by_alias(name, "production")
    assert version.version == registered["version"]
    assert version.source == f"models:/{model_id}"
    assert client.get_model_version_by_alias(name, "staging").version == version.version
    assert set(client.get_registered_model(name).aliases) == {"production", "staging"}

    # The signature is the one MLflow infers for a Python ResponsesAgent, field for field.
    rust_info = mlflow.models.get_model_info(f"models:/{model_id}")
    mlflow.set_experiment(experiment)
    with mlflow.start_run():
        python_logged = mlflow.pyfunc.log_model(name="agent", python_model=EchoAgent())
    python_info = mlflow.models.get_model_info(python_logged.model_uri)
    assert python_info.signature is not None
    assert rust_info.signature.to_dict() == python_info.signature.to_dict()
    assert rust_info.signature.inputs.to_json() == python_info.signature.inputs.to_json()
    assert rust_info.signature.outputs.to_json() == python_info.signature.outputs.to_json()
    assert rust_info.metadata["task"] == python_info.metadata["task"] == "agent/v1/responses"

    # load_agent("models:/name@production") calls the served agent.
    [response] = run_call(server.url, f"models:/{name}@production", "Where is order 42?")
    assert message_text(response["output"][-1]) == "Order 42 is shipped."
    events = run_call(server.url, f"models:/{name}/{version.version}", "Where is order 7?", "--stream")
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Order 7 is processing."
    [direct] = run_call(server.url, agent.url, "hello")
    assert message_text(direct["output"][-1]) == "echo: hello"


def test_a_python_callers_trace_context_makes_the_agent_join_its_trace(served):
    """MLflow's distributed tracing: the caller sends `traceparent`; the agent's spans land in
    the caller's trace, under the caller's span, and make no trace of their own."""
    from mlflow.tracing import get_tracing_context_headers_for_http_request

    agent, name = served
    mlflow.set_experiment(name)
    with mlflow.start_span("client-root") as span:
        headers = get_tracing_context_headers_for_http_request()
        assert "traceparent" in headers
        r = requests.post(f"{agent.url}/invocations", json={"input": ORDER_42}, headers=headers, timeout=10)
        assert r.status_code == 200, r.text
    mlflow.flush_trace_async_logging()
    trace = wait_trace(span.trace_id, spans=3)
    by_name = {s.name: s for s in trace.data.spans}
    assert set(by_name) == {"client-root", "predict", "order_status"}, list(by_name)
    assert by_name["client-root"].parent_id is None
    assert (by_name["predict"].parent_id, by_name["predict"].span_type) == (by_name["client-root"].span_id, "AGENT")
    assert by_name["order_status"].parent_id == by_name["predict"].span_id


def test_a_rust_callers_remote_agent_carries_its_trace_context(server, served):
    agent, name = served
    proc = subprocess.run(
        [example("serve_agent"), "call", agent.url, "Where is order 42?", "--traced"],
        env=_env(server.url, name),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert message_text(lines[0]["output"][-1]) == "Order 42 is shipped."
    trace_id = lines[-1]["trace_id"]
    trace = wait_trace(trace_id, spans=3)
    by_name = {s.name: s for s in trace.data.spans}
    assert set(by_name) == {"client", "predict", "order_status"}, list(by_name)
    assert by_name["client"].parent_id is None
    assert by_name["predict"].parent_id == by_name["client"].span_id
    assert by_name["order_status"].parent_id == by_name["predict"].span_id
    assert trace.info.state == "OK"


def test_a_rust_agent_logged_to_a_server_that_does_not_serve_artifacts(fresh_server, tmp_path):
    """With `--no-serve-artifacts` and a local artifact root, the SDK writes the logged model's
    MLmodel into that directory itself (as the Python client writes its files), and the Python
    client reads the signature back from there."""
    root = tmp_path / "artifact-root"
    srv = fresh_server(extra_args=("--no-serve-artifacts", "--default-artifact-root", str(root)))
    name = f"rust-agent-{uuid.uuid4().hex[:10]}"
    agent = AgentProcess(srv.url, "--register", name, "--alias", "production", experiment=f"sdk-local-{name}")
    shared_uri = mlflow.get_tracking_uri()
    try:
        model_id = agent.lines[-1]["model_id"]
        mlflow.set_tracking_uri(srv.url)
        model = mlflow.get_logged_model(model_id)
        assert model.status == LoggedModelStatus.READY
        assert model.artifact_location.startswith((str(root), f"file://{root}")), model.artifact_location
        written = list(root.rglob("MLmodel"))
        assert [p.parent.name for p in written] == ["artifacts"] and model_id in str(written[0])
        info = mlflow.models.get_model_info(f"models:/{model_id}")
        assert info.signature is not None
        assert info.metadata["task"] == "agent/v1/responses"
        [response] = run_call(srv.url, f"models:/{name}@production", "Where is order 42?")
        assert message_text(response["output"][-1]) == "Order 42 is shipped."
    finally:
        mlflow.set_tracking_uri(shared_uri)
        agent.stop()
