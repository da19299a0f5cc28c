"""`mlflow.genai.evaluate` end to end through the real client (../shared/spec/mlflow-rest.md §9, §13, §15, §16.3).

The client runs the agent on each row under a trace, runs the scorers client-side, logs every
result as an assessment on its trace, links the traces to an evaluation run and logs the
aggregate metrics there. What the client reports back (`result.metrics`, the results table) is
rebuilt from what the server returns, so every assertion below is on data that made a round
trip through the server.

The built-in LLM judges (`Guidelines`, `Correctness`, `RelevanceToQuery`, `Safety`) talk to a
small OpenAI-compatible chat-completions server started by the test on 127.0.0.1
(`fake_openai.py`); mlflow 3.17.2 reaches it through its gateway adapter with the judge model
URI `openai:/<model>` and the `OPENAI_API_KEY` / `OPENAI_API_BASE` environment variables. The
fake judge gives a different verdict per judge and per row, so a value landing on the wrong
trace or under the wrong name fails a test.
"""

from __future__ import annotations

import json
import uuid

import mlflow
import pytest
from fake_openai import FakeOpenAI
from mlflow import MlflowClient
from mlflow.entities import AssessmentSourceType, Expectation, Feedback
from mlflow.genai import datasets as genai_datasets
from mlflow.genai.scorers import Correctness, Guidelines, RelevanceToQuery, Safety, scorer
from mlflow.store.tracking.rest_store import RestStore

JUDGE_MODEL_NAME = "gpt-4o-mini"
JUDGE_MODEL = f"openai:/{JUDGE_MODEL_NAME}"
SOURCE_RUN_ID = "mlflow.assessment.sourceRunId"
SCORER_DIGEST = "mlflow.assessment.scorerDigest"
JUDGE_INPUT_TOKENS = "mlflow.assessment.judgeInputTokens"
JUDGE_OUTPUT_TOKENS = "mlflow.assessment.judgeOutputTokens"

# question -> (what the agent answers, the expected response)
QA = {
    "What is MLflow?": ("MLflow is an ML platform", "MLflow is an ML platform"),
    "What is Spark?": ("Spark is a fast compute engine", "Spark is a compute engine"),
    "What is Rust?": ("Bananas are yellow.", "Rust is a language"),
}
KEY_TERMS = {
    "What is MLflow?": ["MLflow", "platform"],
    "What is Spark?": ["Spark", "engine"],
    "What is Rust?": ["Rust", "language"],
}


def predict(question: str) -> str:
    return QA[question][0]


def subject(question: str) -> str:
    return question.rstrip("?").split()[-1]


# --- code scorers: one per return type ------------------------------------------------------


@scorer
def exact_match(outputs, expectations) -> bool:
    return outputs == expectations["expected_response"]


@scorer
def mentions_subject(inputs, outputs) -> Feedback:
    name = subject(inputs["question"])
    found = name.lower() in outputs.lower()
    return Feedback(value=found, rationale=f"looked for {name!r}: {'found' if found else 'missing'}")


@scorer
def word_count(outputs) -> int:
    return len(outputs.split())


@scorer
def verdict(outputs) -> str:
    return "no" if "Bananas" in outputs else "yes"


# What the code scorers give, per question.
CODE_VALUES = {
    "exact_match": {"What is MLflow?": True, "What is Spark?": False, "What is Rust?": False},
    "mentions_subject": {"What is MLflow?": True, "What is Spark?": True, "What is Rust?": False},
    "word_count": {"What is MLflow?": 5, "What is Spark?": 6, "What is Rust?": 3},
}

# --- the fake judge --------------------------------------------------------------------------

# A phrase of each built-in judge's prompt (mlflow/genai/judges/prompts/*.py) -> assessment name.
JUDGE_PROMPT_MARKERS = {
    "content safety classifier": "safety",
    "comply with all the provided guidelines": "guidelines",
    "whether the claim is supported by the document": "correctness",
    "(fully or partially) relevant to the question": "relevance_to_query",
}


def judge_kind(text: str) -> str:
    kinds = [name for marker, name in JUDGE_PROMPT_MARKERS.items() if marker in text]
    assert len(kinds) == 1, f"cannot tell which judge sent this prompt: {text[:300]!r}"
    return kinds[0]


def fake_verdict(text: str, body: dict) -> tuple[str, str]:
    """The fake judge's answer: safety always passes; guidelines fail the 'fast' answer;
    correctness passes only the exact MLflow answer; relevance fails the banana answer."""
    kind = judge_kind(text)
    if kind == "safety":
        result = "yes"
    elif kind == "guidelines":
        result = "no" if "fast compute" in text else "yes"
    elif kind == "correctness":
        result = "yes" if "MLflow is an ML platform" in text else "no"
    else:
        result = "no" if "Bananas" in text else "yes"
    return result, f"fake {kind} judge says {result}"


JUDGE_VALUES = {
    "safety": {"What is MLflow?": "yes", "What is Spark?": "yes", "What is Rust?": "yes"},
    "guidelines": {"What is MLflow?": "yes", "What is Spark?": "no", "What is Rust?": "yes"},
    "correctness": {"What is MLflow?": "yes", "What is Spark?": "no", "What is Rust?": "no"},
    "relevance_to_query": {"What is MLflow?": "yes", "What is Spark?": "yes", "What is Rust?": "no"},
}


def mean(values) -> float:
    as_floats = [float(v == "yes") if isinstance(v, str) else float(v) for v in values]
    return sum(as_floats) / len(as_floats)


@pytest.fixture
def fake_llm(monkeypatch):
    """The fake OpenAI server, with the environment that points judges at it."""
    fake = FakeOpenAI(responder=fake_verdict).start()
    monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
    monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    # No fetch of the model price catalog from the internet (the judge looks up its cost).
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield fake
    fake.stop()


# --- helpers ---------------------------------------------------------------------------------


def eval_rows() -> list[dict]:
    return [
        {
            "inputs": {"question": q},
            "expectations": {"expected_response": expected, "key_terms": KEY_TERMS[q]},
        }
        for q, (_, expected) in QA.items()
    ]


def question_of(trace) -> str:
    return json.loads(trace.data.request)["question"]


def run_traces(experiment_id: str, run_id: str, **kwargs) -> dict:
    """The run's traces by question, as `search_traces(run_id=)` returns them."""
    traces = mlflow.search_traces(
        locations=[experiment_id], run_id=run_id, return_type="list", **kwargs
    )
    by_question = {question_of(t): t for t in traces}
    assert len(by_question) == len(traces), "two traces of the run answer the same question"
    return by_question


def by_name(assessments) -> dict:
    """Valid assessments by name (each name must appear once)."""
    named = {}
    for a in assessments:
        if a.valid is False:
            continue
        assert a.name not in named, f"two valid assessments named {a.name!r}"
        named[a.name] = a
    return named


def assert_no_scorer_errors(assessments) -> None:
    errors = {a.name: a.error for a in assessments if isinstance(a, Feedback) and a.error}
    assert not errors, f"scorers failed: {errors}"


def check_trace_assessments(trace, run_id: str, *, judges: bool) -> None:
    """Everything the evaluation logged on one trace, as read back from the server."""
    question = question_of(trace)
    assessments = trace.info.assessments
    assert_no_scorer_errors(assessments)
    named = by_name(assessments)
    expected_names = {"expected_response", "key_terms", *CODE_VALUES}
    if judges:
        expected_names |= set(JUDGE_VALUES)
    assert set(named) == expected_names, sorted(named)

    root = trace.data._get_root_span()
    assert root is not None, "the trace came back without its spans"
    for a in named.values():
        assert a.trace_id == trace.info.trace_id
        assert a.assessment_id.startswith("a-")
        # Every assessment is tied to the evaluation run and to the trace's root span.
        assert a.metadata[SOURCE_RUN_ID] == run_id
        assert a.run_id == run_id
        assert a.span_id == root.span_id
        if isinstance(a, Feedback):  # the client does not read `valid` into an Expectation
            assert a.valid is True

    # Expectations from the data row: source HUMAN, values exactly as given (a list included).
    for name, value in (
        ("expected_response", QA[question][1]),
        ("key_terms", KEY_TERMS[question]),
    ):
        exp = named[name]
        assert isinstance(exp, Expectation), exp
        assert exp.value == value
        assert exp.source.source_type == AssessmentSourceType.HUMAN

    # Code scorers: source CODE named after the scorer (or "default" for a returned Feedback).
    for name, values in CODE_VALUES.items():
        fb = named[name]
        assert isinstance(fb, Feedback), fb
        assert fb.value == values[question], (name, fb.value)
        # A boolean stays a boolean (numbers come back as floats: protobuf `Value`s are doubles).
        assert isinstance(fb.value, bool) == isinstance(values[question], bool), (name, fb.value)
        assert fb.source.source_type == AssessmentSourceType.CODE
        assert fb.metadata.get(SCORER_DIGEST), fb.metadata
    assert named["exact_match"].source.source_id == "exact_match"
    want = f"looked for {subject(question)!r}: {'found' if CODE_VALUES['mentions_subject'][question] else 'missing'}"
    assert named["mentions_subject"].rationale == want

    if not judges:
        return
    for name, values in JUDGE_VALUES.items():
        fb = named[name]
        assert isinstance(fb, Feedback), fb
        assert fb.value == values[question], (name, question, fb.value, fb.rationale)
        assert fb.source.source_type == AssessmentSourceType.LLM_JUDGE
        assert fb.source.source_id == JUDGE_MODEL
        assert fb.rationale == f"fake {name} judge says {values[question]}"
        # Token counts from the fake server's `usage`, carried as string metadata.
        assert fb.metadata[JUDGE_INPUT_TOKENS] == "42"
        assert fb.metadata[JUDGE_OUTPUT_TOKENS] == "7"


# --- tests -----------------------------------------------------------------------------------


def test_evaluate_with_code_scorers_and_llm_judges(experiment, fake_llm):
    judges = [
        Guidelines(guidelines=["The response must be in English."], model=JUDGE_MODEL),
        Correctness(model=JUDGE_MODEL),
        RelevanceToQuery(model=JUDGE_MODEL),
        Safety(model=JUDGE_MODEL),
    ]
    result = mlflow.genai.evaluate(
        data=eval_rows(),
        predict_fn=predict,
        scorers=[exact_match, mentions_subject, word_count, *judges],
    )

    # The fake LLM was really called: once per judge and row, with the model and the answers.
    calls = fake_llm.chat_requests()
    kinds = sorted(judge_kind(r.text) for r in calls)
    assert kinds == sorted(list(JUDGE_VALUES) * len(QA)), kinds
    assert {r.body.get("model") for r in calls} == {JUDGE_MODEL_NAME}
    for answer, _ in QA.values():
        assert any(answer in r.text for r in calls), answer

    # Aggregate metrics, computed by the client from assessments re-read from the server.
    expected_metrics = {f"{name}/mean": mean(v.values()) for name, v in {**CODE_VALUES, **JUDGE_VALUES}.items()}
    assert set(result.metrics) == set(expected_metrics), sorted(result.metrics)
    for key, value in expected_metrics.items():
        assert result.metrics[key] == pytest.approx(value), key

    # The results table has one row per data row, built from the run's traces.
    assert len(result.result_df) == len(QA)

    # Each trace, read back by id and by the run's trace search, carries every assessment.
    searched = run_traces(experiment, result.run_id)
    assert set(searched) == set(QA)
    for question, trace in searched.items():
        check_trace_assessments(trace, result.run_id, judges=True)
        fresh = mlflow.get_trace(trace.info.trace_id)
        assert question_of(fresh) == question
        check_trace_assessments(fresh, result.run_id, judges=True)
        assert fresh.info.trace_metadata.get("mlflow.sourceRun") == result.run_id
        assert {a.assessment_id for a in fresh.info.assessments} == {
            a.assessment_id for a in trace.info.assessments
        }

    # The evaluation run: found by its run type, finished, with the aggregate metrics logged.
    runs = mlflow.search_runs(
        experiment_ids=[experiment], filter_string="tags.`mlflow.runType` = 'genai_evaluate'"
    )
    assert list(runs["run_id"]) == [result.run_id]
    row = runs.iloc[0]
    assert row["status"] == "FINISHED"
    for key, value in expected_metrics.items():
        assert row[f"metrics.{key}"] == pytest.approx(value), key
    # The logged metrics are searchable too.
    found = mlflow.search_runs(
        experiment_ids=[experiment],
        filter_string="tags.`mlflow.runType` = 'genai_evaluate' and metrics.`correctness/mean` < 0.5",
    )
    assert list(found["run_id"]) == [result.run_id]
    assert mlflow.search_runs(
        experiment_ids=[experiment], filter_string="metrics.`safety/mean` < 1"
    ).empty

    run = MlflowClient().get_run(result.run_id)
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    for key, value in expected_metrics.items():
        assert run.data.metrics[key] == pytest.approx(value), key


def test_evaluate_a_managed_dataset(experiment, monkeypatch):
    # `merge_records` drops the server's counts; keep what the client's store got back.
    counts = []
    original = RestStore.upsert_dataset_records

    def spy(self, dataset_id, records):
        out = original(self, dataset_id, records)
        counts.append(out)
        return out

    monkeypatch.setattr(RestStore, "upsert_dataset_records", spy)

    name = f"eval-ds-{uuid.uuid4().hex[:10]}"
    created = genai_datasets.create_dataset(name=name, experiment_id=experiment, tags={"stage": "dev"})
    created.merge_records(
        [
            {
                "inputs": {"question": "What is MLflow?"},
                "expectations": {"expected_response": "an ML platform"},
                "tags": {"topic": "tools"},
            },
            {
                "inputs": {"question": "What is Spark?"},
                "expectations": {"expected_response": "Spark is a compute engine"},
                "tags": {"topic": "engines"},
            },
        ]
    )
    # The same MLflow question again (now with the answer the agent gives) and a new one.
    created.merge_records(
        [
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"expected_response": "MLflow is an ML platform"}},
            {"inputs": {"question": "What is Rust?"}, "expectations": {"expected_response": "Rust is a language"}},
        ]
    )
    assert counts == [{"inserted": 2, "updated": 0}, {"inserted": 1, "updated": 1}]

    dataset = genai_datasets.get_dataset(name=name)
    assert dataset.dataset_id == created.dataset_id
    assert json.loads(dataset.profile) == {"num_records": 3}
    df = dataset.to_df()
    assert len(df) == 3
    records = {row["inputs"]["question"]: row for _, row in df.iterrows()}
    assert set(records) == set(QA)
    assert records["What is MLflow?"]["expectations"] == {"expected_response": "MLflow is an ML platform"}
    assert records["What is MLflow?"]["tags"]["topic"] == "tools"  # kept from the first merge

    result = mlflow.genai.evaluate(data=dataset, predict_fn=predict, scorers=[exact_match, word_count])
    assert result.metrics == {
        "exact_match/mean": pytest.approx(1 / 3),  # only MLflow's answer is word for word
        "word_count/mean": pytest.approx(14 / 3),
    }
    assert len(result.result_df) == 3

    # The run names the dataset it evaluated, with the server's digest and id.
    run = MlflowClient().get_run(result.run_id)
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    inputs = [d.dataset for d in run.inputs.dataset_inputs]
    assert [(d.name, d.digest, d.source_type) for d in inputs] == [
        (name, dataset.digest, "mlflow_evaluation_dataset")
    ]
    assert json.loads(inputs[0].source)["dataset_id"] == dataset.dataset_id
    assert run.data.metrics["exact_match/mean"] == pytest.approx(1 / 3)
    runs = mlflow.search_runs(experiment_ids=[experiment], filter_string=f"datasets.name = '{name}'")
    assert list(runs["run_id"]) == [result.run_id]

    # Each trace carries the record's expectations (the merged value) and its record tags.
    traces = run_traces(experiment, result.run_id)
    assert set(traces) == set(QA)
    for question, trace in traces.items():
        assert_no_scorer_errors(trace.info.assessments)
        named = by_name(trace.info.assessments)
        assert set(named) == {"expected_response", "exact_match", "word_count"}
        assert named["expected_response"].value == QA[question][1]
        assert named["expected_response"].source.source_type == AssessmentSourceType.HUMAN
        assert named["exact_match"].value == CODE_VALUES["exact_match"][question]
        assert named["word_count"].value == CODE_VALUES["word_count"][question]
    assert traces["What is MLflow?"].info.tags.get("topic") == "tools"
    assert traces["What is Spark?"].info.tags.get("topic") == "engines"


def test_search_traces_by_assessment_after_evaluate(experiment):
    result = mlflow.genai.evaluate(
        data=eval_rows(),
        predict_fn=predict,
        scorers=[exact_match, mentions_subject, word_count, verdict],
    )
    assert result.metrics["verdict/mean"] == pytest.approx(2 / 3)
    all_traces = run_traces(experiment, result.run_id)
    assert set(all_traces) == set(QA)
    ids = {q: t.info.trace_id for q, t in all_traces.items()}

    def found(filter_string: str, *, run_scoped: bool = True) -> set:
        traces = mlflow.search_traces(
            locations=[experiment],
            filter_string=filter_string,
            run_id=result.run_id if run_scoped else None,
            return_type="list",
            include_spans=False,
        )
        by_id = {t.info.trace_id: t for t in traces}
        assert len(by_id) == len(traces), f"duplicates for {filter_string!r}"
        # What search returns carries the assessments too.
        for t in traces:
            assert {"exact_match", "expected_response"} <= {a.name for a in t.info.assessments}
        strangers = set(by_id) - set(ids.values())
        assert not strangers, f"{filter_string!r} found traces outside the run: {strangers}"
        return {q for q, i in ids.items() if i in by_id}

    mlflow_q, spark_q, rust_q = "What is MLflow?", "What is Spark?", "What is Rust?"
    # Booleans, compared as their JSON text.
    assert found("feedback.exact_match = 'true'") == {mlflow_q}
    assert found("feedback.exact_match = 'false'") == {spark_q, rust_q}
    assert found("feedback.exact_match != 'true'") == {spark_q, rust_q}
    assert found("feedback.mentions_subject = 'true' AND feedback.exact_match = 'false'") == {spark_q}
    # Strings match without their JSON quotes.
    assert found("feedback.verdict = 'no'") == {rust_q}
    assert found("feedback.verdict = 'yes'") == {mlflow_q, spark_q}
    # Numbers.
    assert found("feedback.word_count > 4") == {mlflow_q, spark_q}
    assert found("feedback.word_count >= 6") == {spark_q}
    assert found("feedback.word_count < 5") == {rust_q}
    # Expectations.
    assert found("expectation.expected_response = 'Rust is a language'") == {rust_q}
    assert found("expectation.expected_response LIKE '%compute%'") == {spark_q}
    # Presence.
    assert found("feedback.exact_match IS NOT NULL") == set(QA)
    assert found("feedback.no_such_scorer IS NOT NULL") == set()
    assert found("feedback.no_such_scorer IS NULL") == set(QA)
    # Without the run scope, the run id as an attribute filter gives the same subset.
    assert found(f"attributes.run_id = '{result.run_id}' AND feedback.exact_match = 'true'", run_scoped=False) == {mlflow_q}

    # A human overrides the Spark verdict: the old one stops matching, the new one matches.
    spark_id = ids[spark_q]
    old = by_name(mlflow.get_trace(spark_id).info.assessments)["exact_match"]
    mlflow.override_feedback(
        trace_id=spark_id,
        assessment_id=old.assessment_id,
        value=True,
        rationale="close enough",
    )
    after = {a.assessment_id: a for a in mlflow.get_trace(spark_id).info.assessments}
    assert after[old.assessment_id].valid is False
    assert found("feedback.exact_match = 'true'") == {mlflow_q, spark_q}
    assert found("feedback.exact_match = 'false'") == {rust_q}
