"""Automatic tracing of LLM calls from Rust, read back with the real `mlflow` client.

The SDK's driver (`sdk_compat autolog`) calls a fake OpenAI-compatible server (`fake_openai.py`,
a real HTTP server) through the SDK's own chat client and, built with the `async-openai`
feature as `cargo xtask test` builds it, through the `async-openai` crate: each time one call
whose answer is a tool call, then a streamed call (and, through async-openai, a Responses API
call), under an AGENT span. Every call must read
back as MLflow's OpenAI autolog records one: a CHAT_MODEL span named `Completions`, the request
as inputs, its parameters as attributes, `mlflow.chat.tools`, the model, the completion as
outputs (a streamed answer put back together) and the token usage in `mlflow.chat.tokenUsage`.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import mlflow
import pytest
from fake_openai import FakeOpenAI
from test_sdk import run_driver

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="ferroflow's Rust SDK examples",
)

USAGE = {"input_tokens": 42, "output_tokens": 7, "total_tokens": 49}
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}


def complete(body: dict) -> dict:
    if body.get("tools"):
        return {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
    return {"role": "assistant", "content": "Hello from the fake model"}


@pytest.fixture
def fake_model():
    fake = FakeOpenAI(completer=complete).start()
    yield fake
    fake.stop()


def test_rust_llm_calls_are_traced_as_chat_model_spans(server, fake_model):
    name = f"autolog-{uuid.uuid4().hex[:10]}"
    lines = run_driver(
        server.url,
        "autolog",
        fake_model.base_url,
        experiment=name,
        OPENAI_API_KEY=fake_model.api_key,
        NO_PROXY="127.0.0.1,localhost",
    )
    assert lines[-1] == {"scenario": "done", "lost": 0}
    scenarios = {line["scenario"]: line for line in lines[:-1]}
    # The feature is built for the tests: both clients ran.
    assert set(scenarios) == {"own", "async-openai"}
    # What the callers got back is untouched by the tracing.
    for scenario in scenarios.values():
        assert scenario["answer"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == (
            TOOL_CALL["function"]["arguments"]
        )
    assert scenarios["own"]["streamed"]["choices"][0]["message"]["content"] == "Hello from the fake model"
    assert scenarios["async-openai"]["streamed"] == "Hello from the fake model"
    requests = fake_model.chat_requests()
    assert len(requests) == 4
    assert all(r.headers["authorization"] == f"Bearer {fake_model.api_key}" for r in fake_model.requests)
    assert len(fake_model.requests) == 5  # and one Responses API call

    for scenario, line in scenarios.items():
        trace = mlflow.get_trace(line["trace_id"])
        root = trace.data._get_root_span()
        assert root.span_type == "AGENT", scenario
        calls = sorted((s for s in trace.data.spans if s.parent_id == root.span_id), key=lambda s: s.start_time_ns)
        names = [("Completions", "CHAT_MODEL")] * 2
        if scenario == "async-openai":
            # A Responses API call too.
            names.append(("Responses", "CHAT_MODEL"))
            responses = calls.pop()
            assert responses.inputs == {"model": "gpt-4o-mini", "input": "Say hello"}
            assert responses.outputs["output"][0]["content"][0]["text"] == "Hello from the fake model"
            assert responses.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
            assert responses.get_attribute("mlflow.chat.tokenUsage") == USAGE
            assert line["response"]["output"][0]["content"][0]["text"] == "Hello from the fake model"
        assert [(s.name, s.span_type) for s in [*calls, *([responses] if scenario == "async-openai" else [])]] == (
            names
        ), scenario
        tool_call, streamed = calls

        # The call answered with a tool call: messages in, parameters and tools as attributes.
        assert tool_call.inputs["messages"] == [{"role": "user", "content": "What is 1 + 2?"}], scenario
        assert tool_call.get_attribute("model") == "gpt-4o-mini"
        assert tool_call.get_attribute("temperature") == pytest.approx(0.2)
        assert tool_call.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
        assert tool_call.get_attribute("mlflow.message.format") == "openai"
        assert [t["function"]["name"] for t in tool_call.get_attribute("mlflow.chat.tools")] == ["add"]
        assert tool_call.get_attribute("messages") is None
        message = tool_call.outputs["choices"][0]["message"]
        assert message["tool_calls"][0]["function"] == TOOL_CALL["function"], scenario
        assert tool_call.outputs["choices"][0]["finish_reason"] == "tool_calls"
        assert tool_call.get_attribute("mlflow.chat.tokenUsage") == USAGE, scenario

        # The streamed call: one output put back together from the chunks, usage from the last.
        assert streamed.inputs["stream"] is True
        assert streamed.outputs["object"] == "chat.completion", scenario
        assert streamed.outputs["choices"][0]["message"] == {
            "role": "assistant",
            "content": "Hello from the fake model",
        }, scenario
        assert streamed.get_attribute("mlflow.chat.tokenUsage") == USAGE, scenario

        # The trace sums its calls' usage, as for a Python trace.
        calls_made = len(names)
        assert trace.info.token_usage == {k: calls_made * v for k, v in USAGE.items()}, scenario
        assert json.loads(trace.info.trace_metadata["mlflow.trace.tokenUsage"])["total_tokens"] == 49 * calls_made
