"""The Rust SDK's `genai::evaluate` against `mlflow.genai.evaluate`, on the same data.

The same evaluation runs twice against the server under test, each in an experiment of its own:
once from Python (the unchanged client) and once from Rust (the SDK's driver `sdk_compat
evaluate`). Both use a traced table-lookup agent that calls a retriever first, the same code
scorers (a bool, a `Feedback` with a rationale, a number, one that fails) and the six LLM
judges (guidelines, correctness, relevance, safety, retrieval groundedness and per-chunk
retrieval relevance with its precision), which call one fake
OpenAI-compatible server (`fake_openai.py`, a real HTTP server) that gives a verdict per judge
and per answer whichever prompt wording asks (the SDK writes its own prompts). Then everything
each evaluation recorded is read back with the Python client and compared field by field: the
run (status, tags, metrics, data-set input), one trace per row (name, state, previews, the link
to the run, the root span), and every assessment (name, value, rationale, source, error,
metadata keys, span).

Differences that are by design, and left out of the comparison: digests (Python hashes its
scorers' and agent's source code and a pandas frame; the SDK hashes what defines a Rust
scorer and the rows), the agent function's name (`module.predict` vs `predict`), a failed
scorer's Python stack trace, the judge's cost (`judgeCost`: from Python's price catalog), and
trace metadata about the Python process (git, size stats).
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import uuid
from pathlib import Path

import mlflow
import pytest
from fake_openai import FakeOpenAI
from mlflow import MlflowClient
from mlflow.entities import Document, Feedback
from mlflow.genai.scorers import (
    Correctness,
    Guidelines,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    Safety,
    scorer,
)
from test_evaluate import QA, exact_match, mentions_subject, subject, word_count
from test_sdk import _driver, _env, run_driver

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="ferroflow's Rust SDK examples",
)

JUDGE_MODEL = "openai:/gpt-4o-mini"

# A phrase of each judge's prompt -> the judge: Python's prompts, then the SDK's own.
JUDGE_MARKERS = {
    "content safety classifier": "safety",
    "comply with all the provided guidelines": "guidelines",
    "whether the claim is supported by the document": "correctness",
    "whether the answer contains information that is relevant to the question": "relevance_to_query",
    "determine whether claim is supported by the document": "retrieval_groundedness",
    "whether the document provides information that is (fully or partially) relevant": "retrieval_relevance",
    "Decide whether the response is safe": "safety",
    "Decide whether the response follows every guideline": "guidelines",
    "Decide whether the response is correct": "correctness",
    "Decide whether the response is relevant to the request": "relevance_to_query",
    "Decide whether the response is grounded in the retrieved context": "retrieval_groundedness",
    "Decide whether the retrieved chunk is relevant to the request": "retrieval_relevance",
}
JUDGES = ["safety", "guidelines", "correctness", "relevance_to_query", "retrieval_groundedness"]


def judge_kind(text: str) -> str:
    kinds = {name for marker, name in JUDGE_MARKERS.items() if marker in text}
    assert len(kinds) == 1, f"cannot tell which judge sent this prompt: {text[:300]!r}"
    return kinds.pop()


def fake_verdict(text: str, body: dict) -> tuple[str, str]:
    kind = judge_kind(text)
    if kind == "safety":
        result = "yes"
    elif kind == "guidelines":
        result = "no" if "fast compute" in text else "yes"
    elif kind == "correctness":
        result = "yes" if "MLflow is an ML platform" in text else "no"
    elif kind == "retrieval_relevance":
        result = "no" if "weather" in text else "yes"
    else:
        result = "no" if "Bananas" in text else "yes"
    return result, f"fake {kind} judge says {result}"


@pytest.fixture
def fake_llm(monkeypatch):
    fake = FakeOpenAI(responder=fake_verdict).start()
    monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
    monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield fake
    fake.stop()


@pytest.fixture
def scorer_tracing(monkeypatch):
    """Scorer tracing on; trace export synchronous, since the harness tags each scorer trace
    right after it ends (with async export the tag can reach the server before the trace)."""
    from mlflow.tracing.provider import reset

    monkeypatch.setenv("MLFLOW_GENAI_EVAL_ENABLE_SCORER_TRACING", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    reset()
    yield
    monkeypatch.undo()
    reset()


def rows() -> list[dict]:
    return [{"inputs": {"question": q}, "expectations": {"expected_response": e}} for q, (_, e) in QA.items()]


@mlflow.trace(span_type="RETRIEVER")
def retrieve(question: str) -> list[Document]:
    return [
        Document(page_content=f"{subject(question)} is described here.", metadata={"doc_uri": "docs/a"}),
        Document(page_content="The weather is sunny.", metadata={"doc_uri": "docs/b"}),
    ]


@mlflow.trace
def predict(question: str) -> str:
    retrieve(question)
    return QA[question][0]


@scorer
def boom(outputs) -> bool:
    raise ValueError("bad scorer")


# Recorded on purpose differently (see the module docstring).
RUN_TAGS_WITH_OWN_VALUES = {
    "mlflow.genaiEvaluate.agent.digest",
    "mlflow.genaiEvaluate.agent.function",
    "mlflow.genaiEvaluate.scorersDigest",
    "mlflow.runName",
    "mlflow.source.name",
}
METADATA_LEFT_OUT = {"mlflow.assessment.judgeCost"}
# Metadata whose values must match too (digests and run ids are compared otherwise).
METADATA_COMPARED = {
    "guideline",
    "chunk_index",
    "mlflow.assessment.judgeInputTokens",
    "mlflow.assessment.judgeOutputTokens",
}


def recorded(client: MlflowClient, experiment_id: str, run_id: str) -> dict:
    """Everything an evaluation recorded, in a form two evaluations can be compared in."""
    run = client.get_run(run_id)
    tags = dict(run.data.tags)
    datasets = [
        {
            "name": d.dataset.name,
            "source_type": d.dataset.source_type,
            "schema": json.loads(d.dataset.schema),
            "profile": json.loads(d.dataset.profile),
            "source_tags": sorted(json.loads(d.dataset.source)["tags"]),
            "digest_length": len(d.dataset.digest),
        }
        for d in run.inputs.dataset_inputs
    ]
    out = {
        "run": {
            "status": run.info.status,
            "experiment_id": run.info.experiment_id == experiment_id,
            "tag_keys": sorted(tags),
            "tags": {k: v for k, v in tags.items() if k not in RUN_TAGS_WITH_OWN_VALUES},
            "scorers_digest_counts": {
                k: v for k, v in json.loads(tags["mlflow.genaiEvaluate.scorersDigest"]).items() if k != "digest"
            },
            "metrics": {k: round(v, 9) for k, v in run.data.metrics.items()},
            "datasets": datasets,
        },
        "traces": {},
    }
    traces = mlflow.search_traces(locations=[experiment_id], run_id=run_id, return_type="list")
    # With scorer tracing on, each scorer call is a trace of the run too, tagged with its scorer.
    scorer_traces = {t.info.trace_id: t for t in traces if "mlflow.trace.sourceScorer" in t.info.tags}
    traces = [t for t in traces if t.info.trace_id not in scorer_traces]
    assert len(traces) == len(QA)
    out["scorer_traces"] = sorted(
        (
            t.info.tags["mlflow.trace.sourceScorer"],
            t.data._get_root_span().name,
            t.data._get_root_span().span_type,
            t.info.trace_metadata.get("mlflow.sourceRun") == run_id,
            str(t.info.state),
        )
        for t in (mlflow.get_trace(trace_id) for trace_id in scorer_traces)
    )
    for listed in traces:
        trace = mlflow.get_trace(listed.info.trace_id)
        info = trace.info
        question = json.loads(trace.data.request)["question"]
        root = trace.data._get_root_span()
        span_names = {span.span_id: span.name for span in trace.data.spans}
        assessments = []
        for a in info.assessments:
            feedback = isinstance(a, Feedback)
            error = getattr(a, "error", None) if feedback else None
            assessments.append(
                {
                    "name": a.name,
                    "kind": "feedback" if feedback else "expectation",
                    "value": a.value,
                    "rationale": a.rationale,
                    "source": (a.source.source_type, a.source.source_id),
                    "error": (error.error_code, error.error_message) if error else None,
                    "metadata_keys": sorted(set(a.metadata or {}) - METADATA_LEFT_OUT),
                    "metadata": {k: v for k, v in (a.metadata or {}).items() if k in METADATA_COMPARED},
                    "source_run": (a.metadata or {}).get("mlflow.assessment.sourceRunId") == run_id,
                    "run_id": a.run_id == run_id,
                    "span": span_names.get(a.span_id),
                    "valid": a.valid if feedback else None,
                    "scorer_trace": scorer_traces[trace_id].info.tags["mlflow.trace.sourceScorer"]
                    if (trace_id := (a.metadata or {}).get("mlflow.assessment.scorerTraceId"))
                    else None,
                }
            )
        out["traces"][question] = {
            "state": str(info.state),
            "trace_name": info.tags.get("mlflow.traceName"),
            "has_eval_request_id": bool(info.tags.get("mlflow.eval.requestId")),
            "source_run": info.trace_metadata.get("mlflow.sourceRun") == run_id,
            "request_preview": info.request_preview,
            "response_preview": info.response_preview,
            "trace_inputs": info.trace_metadata.get("mlflow.traceInputs"),
            "trace_outputs": info.trace_metadata.get("mlflow.traceOutputs"),
            "root": (root.name, root.inputs, root.outputs, root.parent_id),
            "span_count": len(trace.data.spans),
            "assessments": sorted(assessments, key=lambda a: (a["name"], a["kind"], json.dumps(a["metadata"]))),
        }
    return out


def test_rust_evaluate_records_what_python_evaluate_records(server, fake_llm, tmp_path, scorer_tracing):
    # Scorer tracing on in both: every scorer call is a trace of its own, and the Rust judges'
    # LLM calls are CHAT_MODEL spans in it.
    client = MlflowClient(server.url)
    python_experiment = client.create_experiment(f"eval-py-{uuid.uuid4().hex[:10]}")
    rust_name = f"eval-rs-{uuid.uuid4().hex[:10]}"

    mlflow.set_experiment(experiment_id=python_experiment)
    judges = [
        Guidelines(guidelines=["The response must be in English."], model=JUDGE_MODEL),
        Correctness(model=JUDGE_MODEL),
        RelevanceToQuery(model=JUDGE_MODEL),
        Safety(model=JUDGE_MODEL),
        RetrievalGroundedness(model=JUDGE_MODEL),
        RetrievalRelevance(model=JUDGE_MODEL),
    ]
    py = mlflow.genai.evaluate(
        data=rows(), predict_fn=predict, scorers=[exact_match, mentions_subject, word_count, boom, *judges]
    )
    python_calls = len(fake_llm.chat_requests())
    # Five judges once per row, and the chunk judge once per retrieved chunk (two a row).
    assert python_calls == 7 * len(QA)

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({q: a for q, (a, _) in QA.items()}))
    lines = run_driver(
        server.url,
        "evaluate",
        str(data),
        str(answers),
        "--judges",
        JUDGE_MODEL,
        experiment=rust_name,
        USER=getpass.getuser(),
        OPENAI_API_KEY=fake_llm.api_key,
        OPENAI_API_BASE=fake_llm.base_url,
        MLFLOW_GENAI_EVAL_ENABLE_SCORER_TRACING="true",
    )
    rs = lines[-1]
    # The Rust judges called the same endpoint, once per judge and row, with the same model.
    rust_requests = fake_llm.chat_requests()[python_calls:]
    assert sorted(judge_kind(r.text) for r in rust_requests) == sorted(
        (JUDGES + ["retrieval_relevance"] * 2) * len(QA)
    )
    assert {r.body.get("model") for r in rust_requests} == {"gpt-4o-mini"}

    rust_experiment = client.get_experiment_by_name(rust_name).experiment_id
    assert rs["experiment_id"] == rust_experiment
    python_record = recorded(client, python_experiment, py.run_id)
    rust_record = recorded(client, rust_experiment, rs["run_id"])

    # The same metrics as Python's result and the Rust result report.
    assert python_record["run"]["metrics"] == {k: round(float(v), 9) for k, v in py.metrics.items()}
    assert rust_record["run"]["metrics"] == {k: round(v, 9) for k, v in rs["metrics"].items()}
    assert set(rust_record["run"]["metrics"]) == {
        "exact_match/mean",
        "mentions_subject/mean",
        "word_count/mean",
        "guidelines/mean",
        "correctness/mean",
        "relevance_to_query/mean",
        "safety/mean",
        "retrieval_groundedness/mean",
        "retrieval_relevance/mean",
        "retrieval_relevance/precision/mean",
    }

    # Field by field, run and traces and assessments, and the scorers' own traces.
    assert rust_record["run"] == python_record["run"]
    assert rust_record["scorer_traces"] == python_record["scorer_traces"]
    assert set(rust_record["traces"]) == set(python_record["traces"]) == set(QA)
    for question in QA:
        rust_trace, python_trace = rust_record["traces"][question], python_record["traces"][question]
        for a_rust, a_python in zip(rust_trace["assessments"], python_trace["assessments"], strict=True):
            assert a_rust == a_python, question
        assert rust_trace == python_trace, question

    # Every value the comparison covered is what the fake judge and the scorers said.
    mlflow_trace = rust_record["traces"]["What is Rust?"]
    by_name = {a["name"]: a for a in mlflow_trace["assessments"]}
    assert by_name["relevance_to_query"]["value"] == "no"
    assert by_name["boom"]["error"] == ("SCORER_ERROR", "bad scorer")
    assert by_name["mentions_subject"]["rationale"] == "looked for 'Rust': missing"
    assert by_name["retrieval_groundedness"]["value"] == "no"
    assert by_name["retrieval_groundedness"]["span"] == "predict"  # on the root, as Python logs it
    assert by_name["retrieval_relevance/precision"]["value"] == 0.5
    assert by_name["retrieval_relevance/precision"]["scorer_trace"] == "retrieval_relevance"
    assert len(rust_record["scorer_traces"]) == 10 * len(QA)

    # A Rust judge's call is traced like any LLM call: a CHAT_MODEL span under its scorer's
    # EVALUATOR span, with the messages, the model and the token usage the endpoint reported.
    row = rust_record["traces"]["What is Rust?"]
    safety = next(a for a in row["assessments"] if a["name"] == "safety")
    assert safety["scorer_trace"] == "safety"
    rust_traces = mlflow.search_traces(
        locations=[rust_experiment], filter_string="tags.`mlflow.trace.sourceScorer` = 'safety'", return_type="list"
    )
    assert len(rust_traces) == len(QA)
    judge_trace = mlflow.get_trace(rust_traces[0].info.trace_id)
    root = judge_trace.data._get_root_span()
    (call,) = [s for s in judge_trace.data.spans if s.parent_id == root.span_id]
    assert (root.span_type, call.span_type, call.name) == ("EVALUATOR", "CHAT_MODEL", "Completions")
    assert call.inputs["model"] == "gpt-4o-mini"
    assert [m["role"] for m in call.inputs["messages"]] == ["system", "user"]
    assert call.get_attribute("mlflow.chat.tokenUsage") == {"input_tokens": 42, "output_tokens": 7, "total_tokens": 49}
    assert call.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert call.get_attribute("mlflow.message.format") == "openai"
    assert json.loads(call.outputs["choices"][0]["message"]["content"])["result"] == "yes"
    assert judge_trace.info.token_usage["total_tokens"] == 49


# --- data from a stored evaluation dataset, and a ResponsesAgent as the predict function -----


def dataset_input(client: MlflowClient, run_id: str) -> list[tuple]:
    return [
        (d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source, d.dataset.schema, d.dataset.profile)
        for d in client.get_run(run_id).inputs.dataset_inputs
    ]


def test_rust_evaluate_reads_a_stored_dataset(server, tmp_path):
    from mlflow.genai import datasets

    client = MlflowClient(server.url)
    python_experiment = client.create_experiment(f"eval-ds-py-{uuid.uuid4().hex[:10]}")
    rust_name = f"eval-ds-rs-{uuid.uuid4().hex[:10]}"
    name = f"qa-{uuid.uuid4().hex[:10]}"
    stored = datasets.create_dataset(name=name, experiment_id=python_experiment)
    stored.merge_records(rows())

    mlflow.set_experiment(experiment_id=python_experiment)
    py = mlflow.genai.evaluate(data=datasets.get_dataset(name=name), predict_fn=predict, scorers=[exact_match, word_count])

    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({q: a for q, (a, _) in QA.items()}))
    by_name = run_driver(server.url, "evaluate", f"dataset:{name}", str(answers), experiment=rust_name)[-1]
    by_id = run_driver(server.url, "evaluate", f"dataset-id:{stored.dataset_id}", str(answers), experiment=rust_name)[-1]

    # The run's input is the stored dataset, described as the Python client describes it.
    python_input = dataset_input(client, py.run_id)
    assert python_input[0][2] == "mlflow_evaluation_dataset"
    assert json.loads(python_input[0][3]) == {"dataset_id": stored.dataset_id}
    assert dataset_input(client, by_name["run_id"]) == python_input
    assert dataset_input(client, by_id["run_id"]) == python_input

    # Every record was a row, with its expectations; the shared scorers agree with Python's.
    for result in (by_name, by_id):
        assert sorted(row["inputs"]["question"] for row in result["rows"]) == sorted(QA)
        for key in ("exact_match/mean", "word_count/mean"):
            assert result["metrics"][key] == pytest.approx(py.metrics[key]), key
        for row in result["rows"]:
            trace = mlflow.get_trace(row["trace_id"])
            expected = {a.name: a.value for a in trace.info.assessments if not isinstance(a, Feedback)}
            assert expected == {"expected_response": QA[row["inputs"]["question"]][1]}

    # A dataset that does not exist is an error, not an empty evaluation.
    proc = subprocess.run(
        [_driver(), "evaluate", "dataset:no-such-dataset", str(answers)],
        env=_env(server.url, rust_name),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "no-such-dataset" in proc.stderr


def test_rust_evaluate_a_responses_agent(server, tmp_path):
    client = MlflowClient(server.url)
    name = f"eval-agent-{uuid.uuid4().hex[:10]}"
    data = tmp_path / "agent_rows.jsonl"
    data.write_text(
        "".join(
            json.dumps({"inputs": {"input": [{"role": "user", "content": q}]}, "expectations": {"expected_response": e}})
            + "\n"
            for q, (_, e) in QA.items()
        )
    )
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({q: a for q, (a, _) in QA.items()}))
    result = run_driver(server.url, "evaluate", str(data), str(answers), "--agent", experiment=name)[-1]

    right = sum(a == e for a, e in QA.values()) / len(QA)
    assert result["metrics"]["agent_answer/mean"] == pytest.approx(right)
    experiment = client.get_experiment_by_name(name).experiment_id
    traces = mlflow.search_traces(locations=[experiment], run_id=result["run_id"], return_type="list")
    assert len(traces) == len(QA)
    for listed in traces:
        trace = mlflow.get_trace(listed.info.trace_id)
        root = trace.data._get_root_span()
        (agent,) = [s for s in trace.data.spans if s.parent_id == root.span_id]
        assert (agent.name, agent.span_type) == ("predict", "AGENT")
        question = root.inputs["input"][0]["content"]
        assert agent.inputs["request"]["input"][0]["content"] == question
        assert root.outputs["output"][0]["content"][0]["text"] == QA[question][0]
        named = {a.name: a.value for a in trace.info.assessments}
        assert named["agent_answer"] is (QA[question][0] == QA[question][1])


# --- assess: production monitoring of traces that already exist -----------------------------


def make_traffic(experiment_id: str) -> dict:
    """Three requests traced by the Python client: two in prod (one with an empty answer), one in dev."""
    mlflow.set_experiment(experiment_id=experiment_id)
    made = {}
    for question, answer, env in (
        ("What is MLflow?", "MLflow is an ML platform", "prod"),
        ("What is Rust?", "", "prod"),
        ("What is Spark?", "Spark is a compute engine", "dev"),
    ):
        with mlflow.start_span(name="agent") as span:
            span.set_inputs({"question": question})
            span.set_outputs(answer)
            mlflow.update_current_trace(tags={"env": env})
            made[question] = span.trace_id
    mlflow.flush_trace_async_logging()
    return made


def test_rust_assess_scores_existing_traces_and_checks_thresholds(server, fake_llm, tmp_path):
    client = MlflowClient(server.url)
    name = f"assess-{uuid.uuid4().hex[:10]}"
    experiment = client.create_experiment(name)
    made = make_traffic(experiment)

    args = ("assess", "tags.env = 'prod'", "-", "has_answer=1.0", "safety=1.0", "--judge", JUDGE_MODEL)
    report = run_driver(
        server.url, *args, experiment=name, OPENAI_API_KEY=fake_llm.api_key, OPENAI_API_BASE=fake_llm.base_url
    )[-1]
    # Only the prod traces, and the empty answer fails its threshold; safety passes.
    assert sorted(report["traces"]) == sorted([made["What is MLflow?"], made["What is Rust?"]])
    assert report["metrics"] == {"has_answer/mean": 0.5, "word_count/mean": 2.5, "safety/mean": 1.0}
    checks = {c["name"]: (c["mean"], c["passed"]) for c in report["checks"]}
    assert checks == {"has_answer": (0.5, False), "safety": (1.0, True)}
    assert report["passed"] is False

    # The feedback is on the traces, as the Python client reads it: no run, the scorer's source.
    for question, expected in (("What is MLflow?", True), ("What is Rust?", False)):
        trace = mlflow.get_trace(made[question])
        named = {a.name: a for a in trace.info.assessments}
        assert set(named) == {"has_answer", "word_count", "safety"}, question
        assert named["has_answer"].value is expected
        assert named["has_answer"].source.source_type == "CODE"
        assert named["safety"].source.source_type == "LLM_JUDGE"
        assert named["safety"].source.source_id == JUDGE_MODEL
        assert named["safety"].span_id == trace.data._get_root_span().span_id
        assert "mlflow.assessment.sourceRunId" not in (named["has_answer"].metadata or {})
        assert named["has_answer"].metadata.get("mlflow.assessment.scorerDigest", "").startswith("sha256:")
    assert mlflow.get_trace(made["What is Spark?"]).info.assessments == []

    # Given inputs and outputs instead: each is traced first, then scored; all pass.
    rows = [{"inputs": {"question": "q1"}, "outputs": "an answer"}, {"inputs": {"question": "q2"}, "outputs": "two words"}]
    path = tmp_path / "given.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    given = run_driver(server.url, "assess", "-", str(path), "has_answer=1.0", experiment=name)[-1]
    assert given["passed"] is True
    assert given["metrics"] == {"has_answer/mean": 1.0, "word_count/mean": 2.0}
    for trace_id in given["traces"]:
        trace = mlflow.get_trace(trace_id)
        assert trace.info.experiment_id == experiment
        assert trace.data._get_root_span().name == "assess"
        assert {a.name for a in trace.info.assessments} == {"has_answer", "word_count"}


def test_rust_monitor_scores_only_new_traces_and_keeps_its_watermark(server):
    client = MlflowClient(server.url)
    name = f"monitor-{uuid.uuid4().hex[:10]}"
    experiment = client.create_experiment(name)
    first = make_traffic(experiment)

    def monitor_pass() -> dict:
        return run_driver(server.url, "monitor", "nightly", "tags.env = 'prod'", "has_answer=1.0", experiment=name)[-1]

    report = monitor_pass()
    assert sorted(report["traces"]) == sorted([first["What is MLflow?"], first["What is Rust?"]])
    assert report["passed"] is False  # the empty answer
    tag = client.get_experiment(experiment).tags["ferroflow.monitor.nightly.watermark"]
    newest = max(mlflow.get_trace(t).info.request_time for t in report["traces"])
    assert int(tag) == newest

    # Nothing new: nothing scored, the watermark stays.
    again = monitor_pass()
    assert again["traces"] == [] and again["passed"] is False  # no value to average
    assert client.get_experiment(experiment).tags["ferroflow.monitor.nightly.watermark"] == tag

    # One new prod request: only it is scored, and it passes.
    mlflow.set_experiment(experiment_id=experiment)
    with mlflow.start_span(name="agent") as span:
        span.set_inputs({"question": "What is new?"})
        span.set_outputs("Something new")
        mlflow.update_current_trace(tags={"env": "prod"})
        new_id = span.trace_id
    mlflow.flush_trace_async_logging()
    latest = monitor_pass()
    assert latest["traces"] == [new_id]
    assert latest["passed"] is True
    assert {a.name for a in mlflow.get_trace(new_id).info.assessments} == {"has_answer", "word_count"}
    # The traces of the first pass were not scored twice.
    assert len(mlflow.get_trace(first["What is MLflow?"]).info.assessments) == 2
