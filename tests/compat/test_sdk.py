"""The Rust SDK (`crates/ferroflow-sdk`) read back with the real `mlflow` client.

A small Rust program, the SDK's example `sdk_compat` (built by `cargo xtask test` with
`cargo build -p ferroflow-sdk --examples`; its path in ``FERROFLOW_SDK_COMPAT_BIN``), makes
traces and prompts against the server under test. The tests then read them with
`mlflow.search_traces` / `get_trace` / `load_prompt` and check what a Python user would see:
names, span types, parent/child links, inputs/outputs, attributes, error status and exception
events, tags, user, session, token usage. Prompts go both ways (Python → Rust, Rust → Python).
The loss-accounting test stops the server under the SDK and checks that `flush()` counts the
spans it could not deliver, then that later spans arrive once the server is back.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="ferroflow's Rust SDK examples",
)

ROOT = Path(__file__).resolve().parents[2]


def _driver() -> str:
    path = os.environ.get("FERROFLOW_SDK_COMPAT_BIN")
    if not path:
        default = ROOT / "target" / "debug" / "examples" / "sdk_compat"
        if default.is_file():
            return str(default)
        pytest.fail(
            "FERROFLOW_SDK_COMPAT_BIN is not set and target/debug/examples/sdk_compat is missing: "
            "run `cargo build -p ferroflow-sdk --examples` (cargo xtask test does)"
        )
    return path


def _env(url: str, experiment: str | None = None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "OTEL_"))}
    env["MLFLOW_TRACKING_URI"] = url
    if experiment is not None:
        env["MLFLOW_EXPERIMENT_NAME"] = experiment
    env.update(extra)
    return env


def run_driver(url: str, *args: str, experiment: str | None = None, **extra: str) -> list[dict]:
    proc = subprocess.run(
        [_driver(), *args],
        env=_env(url, experiment, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"sdk_compat {args} failed ({proc.returncode}):\n{proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def traces_by_name(experiment_id: str, client: MlflowClient | None = None) -> dict:
    if client is None:
        traces = mlflow.search_traces(locations=[experiment_id], return_type="list")
    else:
        traces = client.search_traces(locations=[experiment_id])
    return {t.info.tags.get("mlflow.traceName"): t for t in traces}


def spans_by_name(trace) -> dict:
    return {span.name: span for span in trace.data.spans}


@pytest.fixture(scope="module")
def sdk_traces(server):
    """Runs the `traces` scenario once in a fresh experiment; returns (lines, traces by name)."""
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    lines = run_driver(server.url, "traces", experiment=name)
    experiment = MlflowClient(server.url).get_experiment_by_name(name)
    assert experiment is not None, "the SDK creates the experiment named by MLFLOW_EXPERIMENT_NAME"
    return lines, traces_by_name(experiment.experiment_id)


def test_flush_reports_everything_delivered(sdk_traces):
    lines, _ = sdk_traces
    done = [line for line in lines if line.get("scenario") == "done"][0]["report"]
    assert done["spans_delivered"] == 9, done
    assert done["traces_delivered"] == 3, done
    assert done["spans_failed"] == done["spans_dropped"] == 0, done
    assert done["traces_failed"] == done["traces_dropped"] == 0, done
    assert not done["timed_out"]


def test_agent_trace_reads_back(sdk_traces):
    _, traces = sdk_traces
    assert set(traces) == {"agent", "failing", "async-agent"}
    trace = mlflow.get_trace(traces["agent"].info.trace_id)
    info = trace.info
    assert info.state.value == "OK"
    assert info.tags["mlflow.traceName"] == "agent"
    assert info.tags["env"] == "test" and info.tags["feature"] == "sdk"
    assert info.trace_metadata["mlflow.trace.user"] == "alice"
    assert info.trace_metadata["mlflow.trace.session"] == "sess-1"
    assert info.trace_metadata["custom_meta"] == "m"
    assert info.token_usage == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert json.loads(info.request_preview) == {"question": "what is mlflow?", "k": 3}
    assert json.loads(info.response_preview)["tool"] == 6

    spans = spans_by_name(trace)
    assert set(spans) == {"agent", "retrieve", "llm-call", "tool_call"}
    root = spans["agent"]
    assert root.parent_id is None
    for child in ("retrieve", "llm-call", "tool_call"):
        assert spans[child].parent_id == root.span_id, child
    assert {name: span.span_type for name, span in spans.items()} == {
        "agent": "AGENT",
        "retrieve": "RETRIEVER",
        "llm-call": "LLM",
        "tool_call": "TOOL",
    }
    # skip(api_key) and rename(q = "question") on the agent.
    assert root.inputs == {"question": "what is mlflow?", "k": 3}
    assert root.outputs == {
        "answer": "answer",
        "docs": [{"page_content": "doc about what is mlflow?", "metadata": {"id": 1}}],
        "tool": 6,
    }
    assert root.attributes["custom.attr"] == "v"
    assert root.attributes["mlflow.spanFunctionName"] == "agent"
    assert spans["retrieve"].inputs == {"q": "what is mlflow?"}
    assert spans["tool_call"].inputs == {"x": 3} and spans["tool_call"].outputs == 6

    llm = spans["llm-call"]
    assert llm.inputs == {"messages": [{"role": "user", "content": "what is mlflow?"}]}
    assert llm.outputs == {"choices": [{"message": {"role": "assistant", "content": "answer"}}]}
    assert llm.attributes["model"] == "fake-model"
    assert llm.attributes["temperature"] == 0.1
    assert llm.attributes["mlflow.chat.tokenUsage"] == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert [(e.name, e.attributes) for e in llm.events] == [("my-event", {"k": "v"})]
    assert all(span.status.status_code.value == "OK" for span in spans.values())


def test_error_trace_reads_back(sdk_traces):
    _, traces = sdk_traces
    trace = mlflow.get_trace(traces["failing"].info.trace_id)
    assert trace.info.state.value == "ERROR"
    spans = spans_by_name(trace)
    assert set(spans) == {"failing", "inner_fail"}
    assert spans["inner_fail"].parent_id == spans["failing"].span_id
    for span in spans.values():
        assert span.status.status_code.value == "ERROR"
        assert "no row for k-42" in span.status.description
        (event,) = [e for e in span.events if e.name == "exception"]
        assert event.attributes["exception.message"] == "no row for k-42"
        assert event.attributes["exception.type"].endswith("LookupError")
        assert span.outputs is None
    assert spans["failing"].inputs == {"key": "k-42"}


def test_async_trace_with_spawned_task(sdk_traces):
    _, traces = sdk_traces
    trace = mlflow.get_trace(traces["async-agent"].info.trace_id)
    root = [s for s in trace.data.spans if s.parent_id is None]
    assert [s.name for s in root] == ["async-agent"]
    children = [s for s in trace.data.spans if s.parent_id == root[0].span_id]
    assert sorted(s.inputs["q"] for s in children) == ["rust", "rust (spawned)"]
    assert all(s.span_type == "RETRIEVER" for s in children)
    assert root[0].outputs == 2


def test_traces_are_searchable_by_user_and_tag(sdk_traces, server):
    _, traces = sdk_traces
    experiment_id = traces["agent"].info.experiment_id
    found = mlflow.search_traces(
        locations=[experiment_id],
        filter_string="tags.env = 'test'",
        return_type="list",
    )
    assert [t.info.trace_id for t in found] == [traces["agent"].info.trace_id]


def test_loss_accounting_with_server_down_then_back(fresh_server):
    srv = fresh_server()
    name = f"sdk-loss-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [_driver(), "interactive"],
        env=_env(srv.url, name, MLFLOW_TRACE_MAX_RETRIES="2", SDK_COMPAT_BACKOFF_MS="50"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def command(line: str) -> dict:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    try:
        assert json.loads(proc.stdout.readline()) == {"scenario": "ready"}
        first = command("trace before-outage")["report"]
        assert first["spans_delivered"] == 2 and first["traces_delivered"] == 1, first

        srv.kill()
        down = command("trace during-outage")["report"]
        # Retried, then counted: nothing is lost silently.
        assert down["spans_failed"] + down["spans_dropped"] == 2, down
        assert down["traces_failed"] + down["traces_dropped"] == 1, down
        assert down["spans_delivered"] == 2, down
        assert down["last_error"], down

        srv.start()
        back = command("trace after-outage")["report"]
        assert back["spans_delivered"] == 4 and back["traces_delivered"] == 2, back
        assert back["spans_failed"] == down["spans_failed"], back
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()

    client = MlflowClient(srv.url)
    experiment = client.get_experiment_by_name(name)
    found = traces_by_name(experiment.experiment_id, client)
    assert set(found) == {"before-outage", "after-outage"}
    for trace in found.values():
        assert len(trace.data.spans) == 2
        assert trace.info.state.value == "OK"


# --------------------------------------------------------------------------------------------
# Prompts: Python → Rust and Rust → Python
# --------------------------------------------------------------------------------------------


def test_prompts_registered_in_python_load_in_rust(server):
    name = f"sdk-qa-{uuid.uuid4().hex[:8]}"
    mlflow.genai.register_prompt(
        name=name,
        template="Answer {{question}} in the style of {{style}}.",
        commit_message="v1 from python",
        tags={"team": "py"},
    )
    mlflow.genai.register_prompt(name=name, template="Q: {{ question }}\nA:", commit_message="v2")
    mlflow.genai.set_prompt_alias(name, alias="production", version=1)
    chat_name = f"{name}-chat"
    mlflow.genai.register_prompt(
        name=chat_name,
        template=[
            {"role": "system", "content": "You are a {{persona}}."},
            {"role": "user", "content": "{{question}}"},
        ],
        commit_message="chat",
    )

    (by_alias,) = run_driver(
        server.url, "prompt-load", f"prompts:/{name}@production", "question=why", "style=terse"
    )
    assert by_alias["version"] == 1 and by_alias["type"] == "text", by_alias
    assert by_alias["template"] == "Answer {{question}} in the style of {{style}}."
    assert by_alias["formatted"] == "Answer why in the style of terse."
    assert by_alias["commit_message"] == "v1 from python"
    assert by_alias["tags"]["team"] == "py"
    assert "production" in by_alias["aliases"]
    assert by_alias["cached_equal"] is True

    (latest,) = run_driver(server.url, "prompt-load", f"prompts:/{name}@latest", "question=q")
    assert latest["version"] == 2 and latest["formatted"] == "Q: q\nA:"

    (missing_var,) = run_driver(server.url, "prompt-load", f"prompts:/{name}/1", "question=q")
    assert "{{style}}" in missing_var["format_error"], missing_var

    (chat,) = run_driver(server.url, "prompt-load", f"prompts:/{chat_name}/1", "persona=pirate", "question=hi")
    assert chat["type"] == "chat"
    assert chat["formatted"] == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "hi"},
    ]

    (missing,) = run_driver(server.url, "prompt-load", f"prompts:/{name}-nope/1")
    assert missing["code"] == "RESOURCE_DOES_NOT_EXIST", missing
    (bad_alias,) = run_driver(server.url, "prompt-load", f"prompts:/{name}@nonexistent")
    assert bad_alias["code"] == "INVALID_PARAMETER_VALUE", bad_alias


def test_prompts_registered_in_rust_load_in_python(server):
    name = f"sdk-rs-{uuid.uuid4().hex[:8]}"
    (made,) = run_driver(server.url, "prompt-register", name)
    assert made["text"]["version"] == 1 and made["text2"]["version"] == 2
    assert made["searched"] == [name]

    prompt = mlflow.genai.load_prompt(f"prompts:/{name}@production")
    assert prompt.version == 1
    assert prompt.template == "Hello {{name}}, from Rust."
    assert prompt.format(name="Ada") == "Hello Ada, from Rust."
    assert prompt.commit_message == "first from rust"
    assert prompt.tags.get("team") == "rust"

    v2 = mlflow.genai.load_prompt(f"prompts:/{name}/2")
    assert v2.format(name="Ada", mood="glad") == "Hi Ada! (glad)"

    chat = mlflow.genai.load_prompt(f"prompts:/{name}-chat/1")
    assert chat.format(persona="pirate", question="hi") == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "hi"},
    ]
    found = [p.name for p in mlflow.genai.search_prompts(f"name = '{name}'")]
    assert found == [name]
