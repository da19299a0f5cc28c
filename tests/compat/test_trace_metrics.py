"""Trace metrics (`traces/metrics`) and filter correlation (`traces/calculate-filter-correlation`).

Twelve traces with known start times, durations, names, states, tags and token usage are logged
with the real client; every expectation is computed here from those numbers (percentiles
interpolated linearly, as numpy and the reference do), so the same test holds on the reference.

The spans and assessments views are checked side by side: the same traces (spans of several
types, models, providers, costs and statuses) and assessments (several names and values, one
overridden) are logged by the real client into the server under test and into a reference
server started here, and every query's answer (or refusal) must be the reference's.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import mlflow

import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, SpanStatusCode

from conftest import REFERENCE_BIN, Server

API3 = "/api/3.0/mlflow"
DURATIONS = [120, 50, 800, 300, 75, 1000, 20, 450, 600, 90, 333, 10]
NAMES = ["chat", "search", "chat", "plan"]
STEP_MS = 600_000


def _name(i: int) -> str:
    return NAMES[i % 4]


def _errored(i: int) -> bool:
    return i % 5 == 1


def _tokens(i: int) -> dict | None:
    return {"input_tokens": 10 * i + 1, "output_tokens": i + 2, "total_tokens": 11 * i + 3} if i % 3 == 0 else None


@pytest.fixture(scope="module")
def logged(server):
    """(experiment id, base time in ms): the twelve traces, one every ten minutes from base."""
    mlflow.set_tracking_uri(server.url)
    experiment_id = MlflowClient(server.url).create_experiment(f"metrics-{uuid.uuid4().hex}")
    # Two hours aligned, a day ago: the first six traces share an hour bucket, the last six the next.
    base_ms = (int(time.time()) // 7200) * 7200 * 1000 - 86_400_000
    ids = []
    for i, duration in enumerate(DURATIONS):
        start_ns = (base_ms + i * STEP_MS) * 1_000_000
        root = mlflow.start_span_no_context(
            name=_name(i), start_time_ns=start_ns, inputs={"q": i}, experiment_id=experiment_id
        )
        if _tokens(i):
            root.set_attribute("mlflow.chat.tokenUsage", _tokens(i))
        if _errored(i):
            root.set_status(SpanStatusCode.ERROR)
        root.set_outputs({"a": i})
        root.end(end_time_ns=start_ns + duration * 1_000_000)
        ids.append(root.trace_id)
    mlflow.flush_trace_async_logging()
    client = MlflowClient(server.url)
    for i in (2, 5):
        client.set_trace_tag(ids[i], "env", "prod")
    return experiment_id, base_ms


def _metrics(server, body: dict) -> requests.Response:
    return requests.post(f"{server.url}{API3}/traces/metrics", json=body, timeout=60)


def _points(server, experiment_id: str, metric: str, aggregations: list, **extra) -> list:
    body = {"experiment_ids": [experiment_id], "view_type": "TRACES", "metric_name": metric, "aggregations": aggregations}
    body.update(extra)
    r = _metrics(server, body)
    assert r.status_code == 200, r.text
    return r.json().get("data_points", [])


def _agg(kind: str, percentile: float | None = None) -> dict:
    body = {"aggregation_type": kind}
    if percentile is not None:
        body["percentile_value"] = percentile
    return body


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    position = p / 100 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _hour(ms: int) -> str:
    return datetime.fromtimestamp(ms // 3_600_000 * 3600, tz=timezone.utc).isoformat()


def test_trace_count_by_name_and_status(server, logged):
    experiment_id, _ = logged
    [total] = _points(server, experiment_id, "trace_count", [_agg("COUNT")])
    assert total == {"metric_name": "trace_count", "values": {"COUNT": 12.0}}
    by_name = _points(server, experiment_id, "trace_count", [_agg("COUNT")], dimensions=["trace_name"])
    assert [(p["dimensions"]["trace_name"], p["values"]["COUNT"]) for p in by_name] == [
        ("chat", 6.0),
        ("plan", 3.0),
        ("search", 3.0),
    ]
    by_status = _points(server, experiment_id, "trace_count", [_agg("COUNT")], dimensions=["trace_status"])
    assert {p["dimensions"]["trace_status"]: p["values"]["COUNT"] for p in by_status} == {"ERROR": 3.0, "OK": 9.0}


def test_latency_aggregations_and_percentiles(server, logged):
    experiment_id, _ = logged
    aggregations = [_agg("AVG"), _agg("MIN"), _agg("MAX"), _agg("PERCENTILE", 50), _agg("PERCENTILE", 99.9)]
    [point] = _points(server, experiment_id, "latency", aggregations)
    values = point["values"]
    assert values["AVG"] == pytest.approx(sum(DURATIONS) / 12)
    assert (values["MIN"], values["MAX"]) == (10.0, 1000.0)
    assert values["P50.0"] == pytest.approx(_percentile(DURATIONS, 50))
    assert values["P99.9"] == pytest.approx(_percentile(DURATIONS, 99.9))


def test_latency_over_time_buckets(server, logged):
    experiment_id, base_ms = logged
    points = _points(
        server,
        experiment_id,
        "latency",
        [_agg("AVG"), _agg("PERCENTILE", 90)],
        time_interval_seconds=3600,
        start_time_ms=base_ms,
        end_time_ms=base_ms + 86_400_000,
    )
    assert [p["dimensions"]["time_bucket"] for p in points] == [_hour(base_ms), _hour(base_ms + 3_600_000)]
    for point, durations in zip(points, [DURATIONS[:6], DURATIONS[6:]]):
        assert point["values"]["AVG"] == pytest.approx(sum(durations) / 6)
        assert point["values"]["P90.0"] == pytest.approx(_percentile(durations, 90))
    # The bounds are inclusive and cut traces out.
    [window] = _points(
        server, experiment_id, "trace_count", [_agg("COUNT")], start_time_ms=base_ms + STEP_MS, end_time_ms=base_ms + 3 * STEP_MS
    )
    assert window["values"]["COUNT"] == 3.0


def test_token_metrics(server, logged):
    experiment_id, base_ms = logged
    used = [_tokens(i) for i in range(12) if _tokens(i)]
    for metric in ("input_tokens", "output_tokens", "total_tokens"):
        numbers = [usage[metric] for usage in used]
        [point] = _points(server, experiment_id, metric, [_agg("SUM"), _agg("AVG"), _agg("MAX"), _agg("PERCENTILE", 50)])
        assert point["values"] == {
            "SUM": float(sum(numbers)),
            "AVG": pytest.approx(sum(numbers) / len(numbers)),
            "MAX": float(max(numbers)),
            "P50.0": pytest.approx(_percentile(numbers, 50)),
        }
    per_hour = _points(
        server,
        experiment_id,
        "total_tokens",
        [_agg("SUM")],
        time_interval_seconds=3600,
        start_time_ms=base_ms,
        end_time_ms=base_ms + 86_400_000,
    )
    assert [p["values"]["SUM"] for p in per_hour] == [3.0 + 36.0, 69.0 + 102.0]
    # No trace reports cache tokens: no point at all.
    assert _points(server, experiment_id, "cache_read_input_tokens", [_agg("SUM")]) == []


def test_metric_filters(server, logged):
    experiment_id, _ = logged
    count = lambda filters: _points(server, experiment_id, "trace_count", [_agg("COUNT")], filters=filters)[0]["values"]["COUNT"]  # noqa: E731
    assert count(["trace.status = 'ERROR'"]) == 3.0
    assert count(["trace.tag.env = 'prod'"]) == 2.0
    assert count(["trace.tag.mlflow.traceName = 'chat'", "trace.status = 'OK'"]) == 5.0


@pytest.mark.parametrize(
    "body, message",
    [
        ({"metric_name": "bogus"}, "metric_name must be one of ['trace_count', 'session_count', 'latency', 'input_tokens', 'output_tokens', 'total_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'], got 'bogus'"),
        ({"aggregations": [{"aggregation_type": "SUM"}]}, "Found invalid aggregation_type(s): ['SUM']. Supported aggregation types: ['COUNT']"),
        ({"dimensions": ["span_name"]}, "Found invalid dimension(s): ['span_name']. Supported dimensions: ['trace_name', 'trace_status']"),
        ({"time_interval_seconds": 60}, "start_time_ms and end_time_ms are required if time_interval_seconds is set"),
        ({"filters": ["trace.status != 'OK'"]}, "Invalid comparator: '!=', only '=' operator is supported"),
        ({"filters": ["trace.tag = 'x'"]}, "Filtering by tag requires a key, e.g. 'trace.tag.<key> = <value>'"),
        ({"filters": ["span.name = 'x'"]}, "Filtering by span is only supported for SPANS view type, got TRACES"),
        ({"filters": ["trace.status = 'OK' AND trace.status = 'OK'"]}, "Invalid clause(s) in filter string: AND"),
        ({"metric_name": None}, "Missing value for required parameter 'metric_name'. See the API docs for more information about request parameters."),
    ],
)
def test_metric_requests_refused(server, logged, body, message):
    experiment_id, _ = logged
    request = {"experiment_ids": [experiment_id], "view_type": "TRACES", "metric_name": "trace_count", "aggregations": [_agg("COUNT")]}
    request.update(body)
    request = {k: v for k, v in request.items() if v is not None}
    r = _metrics(server, request)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert r.json()["message"] == message


def _correlation(server, experiment_id: str, **filters) -> dict:
    r = requests.post(
        f"{server.url}{API3}/traces/calculate-filter-correlation",
        json={"experiment_ids": [experiment_id], **filters},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _npmi(joint: int, n1: int, n2: int, total: int, smoothing: float = 0.0) -> float:
    cells = [joint, n1 - joint, n2 - joint, total - n1 - n2 + joint]
    s11, s10, s01, s00 = (c + smoothing for c in cells)
    n = s11 + s10 + s01 + s00
    pmi = math.log(s11) + math.log(n) - math.log(s11 + s10) - math.log(s11 + s01)
    return max(-1.0, min(1.0, pmi / -(math.log(s11) - math.log(n))))


def test_filter_correlation(server, logged):
    experiment_id, _ = logged
    answer = _correlation(server, experiment_id, filter_string1="trace.name = 'chat'", filter_string2="trace.execution_time_ms > 100")
    chats = [i for i in range(12) if _name(i) == "chat"]
    slow = [i for i in range(12) if DURATIONS[i] > 100]
    joint = len(set(chats) & set(slow))
    assert (answer["filter1_count"], answer["filter2_count"], answer["joint_count"], answer["total_count"]) == (
        len(chats),
        len(slow),
        joint,
        12,
    )
    assert answer["npmi"] == pytest.approx(_npmi(joint, len(chats), len(slow), 12))
    assert answer["npmi_smoothed"] == pytest.approx(_npmi(joint, len(chats), len(slow), 12, 0.5))
    # Filters that never meet: -1; a filter that matches nothing: no NPMI at all.
    never = _correlation(server, experiment_id, filter_string1="trace.name = 'chat'", filter_string2="trace.name = 'plan'")
    assert never["npmi"] == -1.0 and never["joint_count"] == 0
    none = _correlation(server, experiment_id, filter_string1="trace.name = 'nothing'", filter_string2="trace.status = 'OK'")
    assert "npmi" not in none and "npmi_smoothed" not in none and none["filter1_count"] == 0
    # The base filter is the universe both filters are counted in.
    based = _correlation(
        server,
        experiment_id,
        filter_string1="trace.name = 'chat'",
        filter_string2="trace.status = 'OK'",
        base_filter="trace.execution_time_ms > 60",
    )
    universe = [i for i in range(12) if DURATIONS[i] > 60]
    assert based["total_count"] == len(universe)
    assert based["filter1_count"] == len([i for i in universe if _name(i) == "chat"])
    assert based["filter2_count"] == len([i for i in universe if not _errored(i)])


# ---- Spans and assessments views, against the reference ----

SPAN_TRACES = 6
HUMAN = AssessmentSource(source_type="HUMAN", source_id="reviewer")
# (trace index, name, value) of the feedback; values of several JSON types, "yes"/"no" in any case.
FEEDBACK = [
    (0, "correct", True),
    (1, "correct", False),
    (2, "correct", " Yes "),
    (3, "correct", "no"),
    (4, "correct", "maybe"),
    (0, "score", 0.8),
    (1, "score", 1),
    (2, "score", 0.25),
    # One key: the order the reference gives an object's keys comes from protobuf's map.
    (3, "score", {"k": ["\u00e9", 2]}),
    (5, "score", None),
]


def _log_spans_and_assessments(url: str, base_ms: int) -> str:
    """Logs the same traces and assessments into the server at `url`; returns the experiment id."""
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    experiment_id = client.create_experiment(f"views-{uuid.uuid4().hex}")
    # The exporter sends spans to the tracking store of the active experiment.
    mlflow.set_experiment(experiment_id=experiment_id)
    ids = []
    for i in range(SPAN_TRACES):
        start_ns = (base_ms + i * STEP_MS) * 1_000_000
        root = mlflow.start_span_no_context(name="agent", span_type="AGENT", start_time_ns=start_ns, inputs={"q": i})
        llm = mlflow.start_span_no_context(
            name="llm", span_type="CHAT_MODEL", parent_span=root, start_time_ns=start_ns + 1_000_000, inputs={"m": i}
        )
        # Model names no price table knows, so neither server computes a cost of its own.
        llm.set_attribute("mlflow.llm.model", f"acme-model-{i % 2}")
        if i % 3 != 2:
            llm.set_attribute("mlflow.llm.provider", "acme")
        if i != 4:
            llm.set_attribute(
                "mlflow.llm.cost", {"input_cost": 0.5 * i, "output_cost": 0.125, "total_cost": 0.5 * i + 0.125}
            )
        if i == 3:
            llm.set_status(SpanStatusCode.ERROR)
        llm.end(end_time_ns=start_ns + (12 + 7 * i) * 1_000_000 + 123)
        if i % 2 == 0:
            tool = mlflow.start_span_no_context(
                name="search", span_type="TOOL", parent_span=root, start_time_ns=start_ns + 40_000_000
            )
            tool.end(end_time_ns=start_ns + (45 + i) * 1_000_000)
        root.end(end_time_ns=start_ns + (100 + 30 * i) * 1_000_000)
        ids.append(root.trace_id)
    mlflow.flush_trace_async_logging()
    for i, name, value in FEEDBACK:
        mlflow.log_feedback(trace_id=ids[i], name=name, value=value, source=HUMAN)
    mlflow.log_expectation(trace_id=ids[0], name="expected", value="paris", source=HUMAN)
    mlflow.log_expectation(trace_id=ids[1], name="expected", value={"city": "rome"}, source=HUMAN)
    # An overridden feedback no longer counts; its replacement does.
    replaced = mlflow.log_feedback(trace_id=ids[5], name="correct", value=False, source=HUMAN)
    mlflow.override_feedback(trace_id=ids[5], assessment_id=replaced.assessment_id, value=True, source=HUMAN)
    return experiment_id


def _log_in_own_process(url: str, base_ms: int) -> str:
    """`_log_spans_and_assessments` in a fresh Python process: the client's tracing set-up (its
    exporter and what it learnt of a server) belongs to the first tracking URI it met. Export is
    synchronous there: the reference loses spans when two exports of one trace race."""
    code = (
        "import sys, test_trace_metrics as t; "
        "print(t._log_spans_and_assessments(sys.argv[1], int(sys.argv[2])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url, str(base_ms)],
        cwd=Path(__file__).parent,
        env={**os.environ, "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def side_by_side(server):
    """((ferroflow url, experiment id), (reference url, experiment id), base time in ms)."""
    if os.environ.get("FERROFLOW_TEST_URL"):
        pytest.skip("starts a reference server of its own (FERROFLOW_TEST_URL is set)")
    workdir = Path(tempfile.mkdtemp(prefix="ferroflow-reference-"))
    reference = Server(REFERENCE_BIN, workdir, name="reference")
    reference.start()
    base_ms = (int(time.time()) // 7200) * 7200 * 1000 - 2 * 86_400_000
    try:
        ours = _log_in_own_process(server.url, base_ms)
        theirs = _log_in_own_process(reference.url, base_ms)
        yield (server.url, ours), (reference.url, theirs), base_ms
    finally:
        mlflow.set_tracking_uri(server.url)
        reference.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _views_query(base_ms: int) -> list[dict]:
    """The queries both servers answer: (view, metric, aggregations, extra fields)."""
    window = {"start_time_ms": base_ms, "end_time_ms": base_ms + 86_400_000}
    span_dims = ["span_name", "span_type", "span_status", "span_model_name", "span_model_provider"]
    stats = [_agg("AVG"), _agg("MIN"), _agg("MAX"), _agg("PERCENTILE", 50), _agg("PERCENTILE", 95)]
    costs = [_agg("SUM"), _agg("AVG"), _agg("MIN"), _agg("MAX"), _agg("PERCENTILE", 90)]
    return [
        ("SPANS", "span_count", [_agg("COUNT")], {}),
        ("SPANS", "span_count", [_agg("COUNT")], {"dimensions": span_dims}),
        ("SPANS", "span_count", [_agg("COUNT")], {"dimensions": ["span_type"], "filters": ["span.status = 'OK'"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"filters": ["span.name = 'llm'", "trace.status = 'OK'"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"filters": ["span.type = 'TOOL'"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"time_interval_seconds": 3600, **window}),
        ("SPANS", "latency", stats, {}),
        ("SPANS", "latency", stats, {"dimensions": ["span_name", "span_status"]}),
        ("SPANS", "latency", [_agg("AVG")], {"time_interval_seconds": 3600, **window}),
        ("SPANS", "latency", [_agg("MAX")], {"start_time_ms": base_ms + STEP_MS, "end_time_ms": base_ms + 3 * STEP_MS}),
        ("SPANS", "input_cost", costs, {}),
        ("SPANS", "output_cost", costs, {"dimensions": ["span_model_name"]}),
        ("SPANS", "total_cost", costs, {"dimensions": ["span_model_name", "span_model_provider"]}),
        ("SPANS", "total_cost", [_agg("SUM")], {"time_interval_seconds": 1800, **window}),
        ("SPANS", "total_cost", [_agg("SUM")], {"start_time_ms": base_ms + STEP_MS, "end_time_ms": base_ms + 2 * STEP_MS}),
        ("SPANS", "total_cost", [_agg("SUM")], {"filters": ["span.status = 'ERROR'"]}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {"dimensions": ["assessment_name"]}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {"dimensions": ["assessment_name", "assessment_value"]}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {"filters": ["assessment.type = 'expectation'"]}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {"filters": ["assessment.name = 'score'"]}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {"time_interval_seconds": 3600, **window}),
        ("ASSESSMENTS", "assessment_value", stats, {"dimensions": ["assessment_name"]}),
        ("ASSESSMENTS", "assessment_value", [_agg("AVG")], {"filters": ["assessment.name = 'correct'"]}),
        ("ASSESSMENTS", "assessment_value", [_agg("AVG")], {"start_time_ms": base_ms, "end_time_ms": base_ms + 2 * STEP_MS}),
        # Traces bucketed over time (read a bucket at a time on SQLite): empty buckets left out.
        ("TRACES", "trace_count", [_agg("COUNT")], {"time_interval_seconds": 3600, **window}),
        ("TRACES", "trace_count", [_agg("COUNT")], {"time_interval_seconds": 600, **window}),
        ("TRACES", "latency", [_agg("AVG"), _agg("MIN"), _agg("MAX")], {"time_interval_seconds": 1800, **window}),
        ("TRACES", "latency", [_agg("SUM")], {"time_interval_seconds": 3600, **window, "filters": ["trace.status = 'OK'"]}),
        ("TRACES", "trace_count", [_agg("COUNT")],
         {"time_interval_seconds": 60, "start_time_ms": base_ms + STEP_MS, "end_time_ms": base_ms + 3 * STEP_MS}),
        # Refused, with the reference's message.
        ("SPANS", "trace_count", [_agg("COUNT")], {}),
        ("ASSESSMENTS", "latency", [_agg("AVG")], {}),
        ("SPANS", "latency", [_agg("SUM")], {}),
        ("SPANS", "input_cost", [_agg("SUM")], {"dimensions": ["span_name"]}),
        ("SPANS", "latency", [_agg("AVG")], {"dimensions": ["span_type"]}),
        ("ASSESSMENTS", "assessment_value", [_agg("COUNT")], {}),
        ("ASSESSMENTS", "assessment_value", [_agg("AVG")], {"dimensions": ["assessment_value"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"filters": ["assessment.name = 'x'"]}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {"filters": ["span.name = 'x'"]}),
        ("TRACES", "trace_count", [_agg("COUNT")], {"filters": ["assessment.type = 'feedback'"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"filters": ["span.name.x = 'llm'"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"filters": ["span.kind = 'llm'"]}),
        ("ASSESSMENTS", "assessment_count", [_agg("COUNT")], {"filters": ["assessment.value = 'x'"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"filters": ["span.name != 'llm'"]}),
        ("SPANS", "span_count", [_agg("COUNT")], {"time_interval_seconds": 60}),
    ]


def _comparable(response: requests.Response) -> tuple:
    """A response as the comparison sees it: the status, then the points (values rounded to
    absorb summation order) or the error's code and message."""
    body = response.json()
    if response.status_code != 200:
        return response.status_code, body.get("error_code"), body.get("message")
    points = [
        (p["metric_name"], p.get("dimensions", {}), {k: round(v, 9) for k, v in p["values"].items()})
        for p in body.get("data_points", [])
    ]
    return response.status_code, points


@pytest.mark.parametrize("index", range(len(_views_query(0))))
def test_spans_and_assessments_views_match_the_reference(side_by_side, index):
    (ours_url, ours_id), (ref_url, ref_id), base_ms = side_by_side
    view, metric, aggregations, extra = _views_query(base_ms)[index]
    answers = []
    for url, experiment_id in ((ours_url, ours_id), (ref_url, ref_id)):
        body = {"experiment_ids": [experiment_id], "view_type": view, "metric_name": metric, "aggregations": aggregations}
        answers.append(_comparable(requests.post(f"{url}{API3}/traces/metrics", json={**body, **extra}, timeout=60)))
    ours, reference = answers
    assert ours == reference, f"\nours:      {ours}\nreference: {reference}"
    if ours[0] == 200 and not extra.get("filters"):
        # Something to compare: the data set reaches every unfiltered query.
        assert ours[1], (view, metric, extra)
