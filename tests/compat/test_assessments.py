"""Assessments (feedback and expectations) through the real client, read back through a fresh
`mlflow.get_trace` and through `mlflow.search_traces` (../shared/spec/mlflow-rest.md §9, §16.3)."""

from __future__ import annotations

import time
import uuid

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import (
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Expectation,
    Feedback,
)
from mlflow.exceptions import MlflowException

HUMAN = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="alice@example.com")
JUDGE = AssessmentSource(source_type=AssessmentSourceType.LLM_JUDGE, source_id="gpt-judge")


@mlflow.trace(name="app", span_type="AGENT")
def _app(question: str) -> str:
    with mlflow.start_span(name="inner", span_type="LLM") as span:
        span.set_inputs({"q": question})
        span.set_outputs("answer")
    return "Answer: " + question


def _make_traces(n: int = 1) -> list[str]:
    """`n` traces, on the server when this returns (one drain of the client's export queue)."""
    ids = []
    for _ in range(n):
        _app(f"question {uuid.uuid4().hex[:6]}")
        ids.append(mlflow.get_last_active_trace_id())
    mlflow.flush_trace_async_logging()
    deadline = time.monotonic() + 20
    for trace_id in ids:
        while mlflow.get_trace(trace_id, silent=True) is None:
            assert time.monotonic() < deadline, f"trace {trace_id} never arrived"
            time.sleep(0.2)
    return ids


def _make_trace() -> str:
    return _make_traces(1)[0]


def _fresh_assessments(trace_id: str) -> dict:
    """The trace's assessments by id, from a new `get_trace` call."""
    trace = mlflow.get_trace(trace_id)
    assert trace is not None
    return {a.assessment_id: a for a in trace.info.assessments}


def _searched_assessments(experiment_id: str, trace_id: str) -> dict:
    """The trace's assessments by id, as `search_traces` returns them."""
    found = [
        t
        for t in mlflow.search_traces(locations=[experiment_id], return_type="list", include_spans=False)
        if t.info.trace_id == trace_id
    ]
    assert len(found) == 1
    return {a.assessment_id: a for a in found[0].info.assessments}


def _same(a, b) -> None:
    """Two readings of one assessment agree on everything the client shows."""
    assert a.assessment_id == b.assessment_id
    assert a.name == b.name
    assert a.trace_id == b.trace_id
    assert a.value == b.value
    assert a.source == b.source
    assert a.rationale == b.rationale
    assert (a.metadata or {}) == (b.metadata or {})
    assert a.valid == b.valid
    assert a.overrides == b.overrides
    assert a.span_id == b.span_id
    assert a.create_time_ms == b.create_time_ms
    assert a.last_update_time_ms == b.last_update_time_ms
    assert type(a) is type(b)


def test_feedback_values_roundtrip(experiment):
    trace_id = _make_trace()
    span_id = mlflow.get_trace(trace_id).data.spans[1].span_id
    logged = {
        "bool": mlflow.log_feedback(
            trace_id=trace_id,
            name="helpfulness",
            value=True,
            rationale="looks good ✓",
            source=HUMAN,
            metadata={"k": "v", "unicode": "日本"},
        ),
        "float": mlflow.log_feedback(trace_id=trace_id, name="score", value=0.75, source=JUDGE, span_id=span_id),
        "string": mlflow.log_feedback(trace_id=trace_id, name="tone", value="good", source=HUMAN),
        "dict": mlflow.log_feedback(
            trace_id=trace_id, name="structured", value={"a": 1, "b": [1, 2], "c": {"d": "e"}, "f": 0.5}
        ),
    }
    expected_values = {"bool": True, "float": 0.75, "string": "good", "dict": {"a": 1, "b": [1, 2], "c": {"d": "e"}, "f": 0.5}}
    for key, fb in logged.items():
        assert fb.assessment_id and fb.assessment_id.startswith("a-"), key
        assert fb.trace_id == trace_id
        assert fb.value == expected_values[key], key
        assert fb.valid is True
        assert isinstance(fb, Feedback)
    assert len({fb.assessment_id for fb in logged.values()}) == 4
    assert type(logged["bool"].value) is bool
    assert logged["bool"].source == HUMAN
    assert logged["bool"].rationale == "looks good ✓"
    assert logged["bool"].metadata == {"k": "v", "unicode": "日本"}
    assert logged["float"].source == JUDGE
    assert logged["float"].span_id == span_id
    # Feedback without a source gets the client's default (CODE).
    assert logged["dict"].source.source_type == AssessmentSourceType.CODE

    for fb in logged.values():
        _same(mlflow.get_assessment(trace_id, fb.assessment_id), fb)
    on_trace = _fresh_assessments(trace_id)
    assert set(on_trace) == {fb.assessment_id for fb in logged.values()}
    searched = _searched_assessments(experiment, trace_id)
    assert set(searched) == set(on_trace)
    for fb in logged.values():
        _same(on_trace[fb.assessment_id], fb)
        _same(searched[fb.assessment_id], fb)


def test_expectations_roundtrip(experiment, server):
    trace_id = _make_trace()
    logged = {
        "string": mlflow.log_expectation(
            trace_id=trace_id, name="expected_answer", value="Paris", source=HUMAN, metadata={"m": "1"}
        ),
        "number": mlflow.log_expectation(trace_id=trace_id, name="expected_count", value=3.5),
        "bool": mlflow.log_expectation(trace_id=trace_id, name="expected_flag", value=False),
        "dict": mlflow.log_expectation(
            trace_id=trace_id, name="expected_struct", value={"city": "Paris", "facts": ["a", "b"], "n": 2}
        ),
        "list": mlflow.log_expectation(trace_id=trace_id, name="expected_facts", value=["a", "b", {"c": 1}]),
    }
    expected_values = {
        "string": "Paris",
        "number": 3.5,
        "bool": False,
        "dict": {"city": "Paris", "facts": ["a", "b"], "n": 2},
        "list": ["a", "b", {"c": 1}],
    }
    for key, ex in logged.items():
        assert isinstance(ex, Expectation), key
        assert ex.assessment_id.startswith("a-")
        assert ex.value == expected_values[key], key
        # The client does not read `valid` of expectations; the server fills it in.
        r = requests.get(
            f"{server.url}/api/3.0/mlflow/traces/{trace_id}/assessments/{ex.assessment_id}", timeout=30
        )
        assert r.status_code == 200, r.text
        assert r.json()["assessment"]["valid"] is True, key
    assert logged["string"].source == HUMAN
    # Expectations without a source default to HUMAN.
    assert logged["list"].source.source_type == AssessmentSourceType.HUMAN

    for ex in logged.values():
        got = mlflow.get_assessment(trace_id, ex.assessment_id)
        _same(got, ex)
    on_trace = _fresh_assessments(trace_id)
    searched = _searched_assessments(experiment, trace_id)
    assert set(on_trace) == set(searched) == {ex.assessment_id for ex in logged.values()}
    for key, ex in logged.items():
        assert on_trace[ex.assessment_id].value == expected_values[key], key
        assert type(on_trace[ex.assessment_id].value) is type(expected_values[key]), key
        _same(on_trace[ex.assessment_id], ex)
        _same(searched[ex.assessment_id], ex)


def test_update_assessment(experiment):
    trace_id = _make_trace()
    fb = mlflow.log_feedback(trace_id=trace_id, name="score", value=0.25, rationale="first", source=JUDGE)
    ex = mlflow.log_expectation(trace_id=trace_id, name="expected", value="old")
    time.sleep(0.01)
    updated = mlflow.update_assessment(
        trace_id=trace_id,
        assessment_id=fb.assessment_id,
        assessment=Feedback(name="score", value=0.9, rationale="re-scored"),
    )
    assert updated.assessment_id == fb.assessment_id
    assert updated.value == 0.9
    assert updated.rationale == "re-scored"
    assert updated.create_time_ms == fb.create_time_ms
    assert updated.last_update_time_ms > fb.last_update_time_ms
    assert updated.valid is True

    updated_ex = mlflow.update_assessment(
        trace_id=trace_id,
        assessment_id=ex.assessment_id,
        assessment=Expectation(name="expected", value={"now": ["a", "dict"]}),
    )
    assert updated_ex.value == {"now": ["a", "dict"]}

    on_trace = _fresh_assessments(trace_id)
    assert set(on_trace) == {fb.assessment_id, ex.assessment_id}
    assert on_trace[fb.assessment_id].value == 0.9
    assert on_trace[fb.assessment_id].rationale == "re-scored"
    assert on_trace[ex.assessment_id].value == {"now": ["a", "dict"]}
    _same(on_trace[fb.assessment_id], updated)
    _same(mlflow.get_assessment(trace_id, fb.assessment_id), updated)
    searched = _searched_assessments(experiment, trace_id)
    _same(searched[fb.assessment_id], updated)
    _same(searched[ex.assessment_id], updated_ex)
    found = mlflow.search_traces(locations=[experiment], filter_string="feedback.score > 0.5", return_type="list")
    assert [t.info.trace_id for t in found] == [trace_id]


def test_override_feedback(experiment):
    trace_id = _make_trace()
    original = mlflow.log_feedback(trace_id=trace_id, name="helpfulness", value=True, source=JUDGE, rationale="judge")
    override = mlflow.override_feedback(
        trace_id=trace_id,
        assessment_id=original.assessment_id,
        value=False,
        rationale="actually no",
        source=AssessmentSource(source_type="HUMAN", source_id="carol"),
    )
    assert override.assessment_id != original.assessment_id
    assert override.overrides == original.assessment_id
    assert override.value is False
    assert override.valid is True

    old = mlflow.get_assessment(trace_id, original.assessment_id)
    assert old.valid is False
    assert old.value is True  # otherwise unchanged
    assert old.rationale == "judge"

    for assessments in (_fresh_assessments(trace_id), _searched_assessments(experiment, trace_id)):
        assert set(assessments) == {original.assessment_id, override.assessment_id}
        assert assessments[original.assessment_id].valid is False
        assert assessments[override.assessment_id].valid is True
        assert assessments[override.assessment_id].overrides == original.assessment_id
        assert assessments[override.assessment_id].source.source_id == "carol"

    def search(f):
        return [t.info.trace_id for t in mlflow.search_traces(locations=[experiment], filter_string=f, return_type="list")]

    assert search("feedback.helpfulness = 'false'") == [trace_id]
    # Only valid assessments count.
    assert search("feedback.helpfulness = 'true'") == []

    # Overriding an assessment that does not exist fails.
    with pytest.raises(MlflowException) as info:
        mlflow.override_feedback(trace_id=trace_id, assessment_id="a-" + uuid.uuid4().hex, value=True)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_assessment(experiment):
    trace_id = _make_trace()
    keep = mlflow.log_feedback(trace_id=trace_id, name="keep", value="yes")
    gone = mlflow.log_expectation(trace_id=trace_id, name="gone", value=["a", "b"])
    assert set(_fresh_assessments(trace_id)) == {keep.assessment_id, gone.assessment_id}
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=gone.assessment_id)
    assert set(_fresh_assessments(trace_id)) == {keep.assessment_id}
    assert set(_searched_assessments(experiment, trace_id)) == {keep.assessment_id}
    with pytest.raises(MlflowException) as info:
        mlflow.get_assessment(trace_id, gone.assessment_id)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    # Deleting an override gives the overridden assessment its validity back.
    original = mlflow.log_feedback(trace_id=trace_id, name="h", value=True)
    override = mlflow.override_feedback(trace_id=trace_id, assessment_id=original.assessment_id, value=False)
    assert mlflow.get_assessment(trace_id, original.assessment_id).valid is False
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=override.assessment_id)
    restored = _fresh_assessments(trace_id)
    assert set(restored) == {keep.assessment_id, original.assessment_id}
    assert restored[original.assessment_id].valid is True


def test_unknown_assessment_errors(experiment):
    trace_id = _make_trace()
    missing = "a-" + uuid.uuid4().hex
    with pytest.raises(MlflowException) as info:
        mlflow.get_assessment(trace_id, missing)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        mlflow.update_assessment(trace_id=trace_id, assessment_id=missing, assessment=Feedback(name="x", value=1.0))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # Deleting is idempotent: what is not there is already deleted.
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=missing)
    mlflow.delete_assessment(trace_id="tr-" + uuid.uuid4().hex, assessment_id=missing)
    # A feedback on a trace that does not exist.
    with pytest.raises(MlflowException) as info:
        mlflow.log_feedback(trace_id="tr-" + uuid.uuid4().hex, name="x", value=True)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_feedback_with_error(experiment):
    trace_id = _make_trace()
    err = AssessmentError(error_code="RATE_LIMIT", error_message="too many ✓", stack_trace="Traceback: here")
    by_error = mlflow.log_feedback(trace_id=trace_id, name="failed_judge", error=err, source=JUDGE)
    by_exception = mlflow.log_feedback(trace_id=trace_id, name="raised_judge", error=ValueError("bad input"))
    by_entity = mlflow.log_assessment(
        trace_id=trace_id,
        assessment=Feedback(name="entity_judge", error=AssessmentError(error_code="TIMEOUT"), source=JUDGE),
    )
    for assessments in (_fresh_assessments(trace_id), _searched_assessments(experiment, trace_id)):
        a = assessments[by_error.assessment_id]
        assert a.value is None
        assert a.error.error_code == "RATE_LIMIT"
        assert a.error.error_message == "too many ✓"
        assert a.error.stack_trace == "Traceback: here"
        assert a.source == JUDGE
        b = assessments[by_exception.assessment_id]
        assert b.value is None
        assert b.error.error_code == "ValueError"
        assert b.error.error_message == "bad input"
        c = assessments[by_entity.assessment_id]
        assert c.error.error_code == "TIMEOUT"
        assert c.name == "entity_judge"
    assert mlflow.get_assessment(trace_id, by_error.assessment_id).error.error_code == "RATE_LIMIT"


def test_assessment_filters(experiment):
    t_good, t_bad, t_none = _make_traces(3)
    mlflow.log_feedback(trace_id=t_good, name="helpfulness", value=True)
    mlflow.log_feedback(trace_id=t_good, name="score", value=0.9)
    mlflow.log_feedback(trace_id=t_good, name="tone", value="friendly")
    mlflow.log_expectation(trace_id=t_good, name="expected_answer", value="Paris")
    mlflow.log_feedback(trace_id=t_bad, name="helpfulness", value=False)
    mlflow.log_feedback(trace_id=t_bad, name="score", value=0.2)
    mlflow.log_feedback(trace_id=t_bad, name="tone", value="rude")
    mlflow.log_expectation(trace_id=t_bad, name="expected_answer", value="Rome")

    def search(f):
        res = mlflow.search_traces(locations=[experiment], filter_string=f, return_type="list")
        return {t.info.trace_id for t in res}

    assert search("feedback.helpfulness = 'true'") == {t_good}
    assert search("feedback.helpfulness = 'false'") == {t_bad}
    assert search("feedback.score > 0.5") == {t_good}
    assert search("feedback.score <= 0.5") == {t_bad}
    assert search("feedback.tone = 'friendly'") == {t_good}
    assert search("feedback.tone LIKE 'ru%'") == {t_bad}
    assert search("feedback.helpfulness IS NOT NULL") == {t_good, t_bad}
    assert search("feedback.helpfulness IS NULL") == {t_none}
    assert search("expectation.expected_answer = 'Paris'") == {t_good}
    assert search("expectation.expected_answer = 'Rome' AND feedback.score < 0.5") == {t_bad}
    # A feedback name is not an expectation name.
    assert search("expectation.helpfulness IS NOT NULL") == set()
    with pytest.raises(MlflowException) as info:
        search("assessment.helpfulness = 'true'")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_assessments_via_client(experiment):
    """`MlflowClient.get_trace` and `search_traces` (page API) carry assessments too."""
    trace_id = _make_trace()
    fb = mlflow.log_assessment(
        trace_id=trace_id, assessment=Feedback(name="c", value=1.0, source=HUMAN, rationale="r")
    )
    client = MlflowClient()
    got = client.get_trace(trace_id)
    assert [a.assessment_id for a in got.info.assessments] == [fb.assessment_id]
    assert got.info.assessments[0].value == 1.0
    assert got.info.assessments[0].rationale == "r"
    # `=` on a feedback takes its JSON value as a quoted string (the reference refuses `= 1`).
    page = client.search_traces(locations=[experiment], filter_string="feedback.c = '1.0'", max_results=5)
    assert [t.info.trace_id for t in page] == [trace_id]
    assert [a.assessment_id for a in page[0].info.assessments] == [fb.assessment_id]
