"""The web UI in real headless Chromium (Debian's package, driven by playwright), on data logged
by the real `mlflow` client. Every test fails on a console error, on a script of the page's
data running, and on any request that leaves the server under test. Screenshots of the main
pages go to `<target dir>/ui-screenshots`."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.entities import AssessmentSource, AssessmentSourceType

# ferroflow-only: nothing here exists on the reference server (FERROFLOW_BIN=.venv/bin/mlflow).
pytestmark = pytest.mark.skipif(
    Path(os.environ.get("FERROFLOW_BIN", "")).name == "mlflow",
    reason="ferroflow's own web UI (the reference serves MLflow's React UI)",
)

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Script payloads put into every kind of user data; none may run.
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def _screenshots() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path(__file__).resolve().parents[2] / "target")
    folder = Path(target) / "ui-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser_context():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `cargo xtask test` installs Debian's chromium package")
    profile = tempfile.mkdtemp(prefix="ferroflow-ui-profile-")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


class Watched:
    """A page whose console errors, page errors, dialogs and foreign requests are recorded."""

    def __init__(self, page, origin: str):
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))

        def route(r):
            if r.request.url.startswith(origin):
                r.continue_()
            else:
                self.problems.append(f"request left the server: {r.request.url}")
                r.abort()

        page.route("**/*", route)

    def check(self):
        assert self.page.evaluate("window.__pwned") is None, "a script from the data ran"
        assert self.problems == []


@pytest.fixture
def ui(browser_context, server):
    page = browser_context.new_page()
    watched = Watched(page, server.url)
    yield watched
    try:
        watched.check()
    finally:
        page.close()


def _wait_for(trace_id: str, spans: int) -> None:
    mlflow.flush_trace_async_logging()
    deadline = time.monotonic() + 30
    while True:
        trace = mlflow.get_trace(trace_id, silent=True)
        if trace is not None and len(trace.data.spans) >= spans:
            return
        assert time.monotonic() < deadline, f"trace {trace_id} never arrived whole"
        time.sleep(0.2)


def _agent_trace(question: str, tag_value: str = "prod", span_name: str = "retrieve") -> str:
    """An agent trace: a retriever, a chat model that calls a tool, the tool, a failing step."""
    with mlflow.start_span(name="agent", span_type="AGENT") as root:
        root.set_inputs({"question": question})
        with mlflow.start_span(name=span_name, span_type="RETRIEVER") as r:
            r.set_inputs({"query": question})
            r.set_outputs([{"page_content": "Paris is the capital of France. " * 20}])
        with mlflow.start_span(name="chat", span_type="CHAT_MODEL") as llm:
            llm.set_inputs({"messages": [
                {"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": question},
            ]})
            llm.set_outputs({"choices": [{"message": {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup_capital", "arguments": "{\"country\": \"France\"}"}},
            ]}}]})
            llm.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17})
        with mlflow.start_span(name="lookup_capital", span_type="TOOL") as tool:
            tool.set_inputs({"country": "France"})
            tool.set_outputs("Paris")
        try:
            with mlflow.start_span(name="flaky_step") as bad:
                bad.set_inputs({"x": 1})
                raise ValueError("upstream timed out")
        except ValueError:
            pass
        root.set_outputs(f"The answer to {question} is Paris")
        mlflow.update_current_trace(tags={"env": tag_value}, metadata={"mlflow.trace.user": "alice", "mlflow.trace.session": "s-1"})
    trace_id = mlflow.get_last_active_trace_id()
    _wait_for(trace_id, 5)
    return trace_id


@pytest.fixture(scope="module")
def agent_data(server):
    mlflow.set_tracking_uri(server.url)
    name = f"ui-agent-{uuid.uuid4().hex[:8]}"
    experiment_id = mlflow.set_experiment(name).experiment_id
    trace_id = _agent_trace("What is the capital of France?")
    mlflow.log_feedback(
        trace_id=trace_id,
        name="correct",
        value=True,
        rationale="Matches the reference answer.",
        source=AssessmentSource(source_type=AssessmentSourceType.LLM_JUDGE, source_id="judge-1"),
    )
    other = _agent_trace("How tall is the Eiffel tower?", tag_value="dev")
    return {"name": name, "experiment_id": experiment_id, "trace_id": trace_id, "other": other}


def test_root_redirects_to_experiments_with_counts_and_search(ui, server, agent_data):
    page = ui.page
    page.goto(server.url + "/")
    assert page.url.endswith("/experiments")
    row = page.locator("tr", has_text=agent_data["name"])
    sync_api.expect(row).to_contain_text("2")  # two traces
    page.screenshot(path=str(_screenshots() / "experiments.png"), full_page=True)
    page.fill("input[name=q]", agent_data["name"][-8:].upper())
    page.press("input[name=q]", "Enter")
    sync_api.expect(page.locator("tbody tr")).to_have_count(1)
    page.fill("input[name=q]", "no-such-experiment-" + uuid.uuid4().hex)
    page.press("input[name=q]", "Enter")
    sync_api.expect(page.get_by_text("No experiment name contains")).to_be_visible()


def test_links_the_client_prints_open_the_same_page(ui, server, agent_data):
    """The client prints MLflow-UI links (`<uri>/#/experiments/<id>`, `.../runs/<run_id>`); they land
    on this UI's page for the same experiment, run or trace."""
    page = ui.page
    experiment_id = agent_data["experiment_id"]
    page.goto(f"{server.url}/#/experiments/{experiment_id}")
    page.wait_for_url(f"**/experiments/{experiment_id}/traces")
    sync_api.expect(page.get_by_text("What is the capital of France?").first).to_be_visible()
    with mlflow.start_run(experiment_id=experiment_id, run_name="printed-link") as run:
        mlflow.log_param("p", "1")
    page.goto(f"{server.url}/#/experiments/{experiment_id}/runs/{run.info.run_id}")
    page.wait_for_url(f"**/experiments/{experiment_id}/runs/{run.info.run_id}")
    sync_api.expect(page.get_by_text("printed-link").first).to_be_visible()
    page.goto(f"{server.url}/#/experiments/{experiment_id}/traces?selectedTraceId={agent_data['trace_id']}")
    page.wait_for_url(f"**/traces/{agent_data['trace_id']}")
    page.goto(f"{server.url}/#/models")
    page.wait_for_url("**/models")


def test_traces_table_shows_previews_tags_assessments_and_filters(ui, server, agent_data):
    page = ui.page
    page.goto(f"{server.url}/experiments/{agent_data['experiment_id']}/traces")
    sync_api.expect(page.get_by_text("What is the capital of France?").first).to_be_visible()
    sync_api.expect(page.get_by_text("How tall is the Eiffel tower?").first).to_be_visible()
    first = page.locator("tbody tr", has_text="capital")
    sync_api.expect(first).to_contain_text("env=prod")
    sync_api.expect(first).to_contain_text("correct: true")
    sync_api.expect(first).to_contain_text("alice")
    sync_api.expect(first).to_contain_text("17")  # tokens
    assert page.locator("figure.chart svg rect").count() >= 2
    page.screenshot(path=str(_screenshots() / "traces.png"), full_page=True)
    # Pagination: the page token survives the link (base64 with '=' is percent-encoded).
    page.goto(f"{server.url}/experiments/{agent_data['experiment_id']}/traces?size=1")
    sync_api.expect(page.locator("tbody tr")).to_contain_text("Eiffel")
    page.get_by_role("link", name="Next page →").click()
    sync_api.expect(page.locator("tbody tr")).to_have_count(1)
    sync_api.expect(page.locator("tbody tr")).to_contain_text("capital")
    sync_api.expect(page.get_by_role("link", name="Next page →")).to_have_count(0)
    page.goto(f"{server.url}/experiments/{agent_data['experiment_id']}/traces")
    # The search_traces grammar, through the store's search.
    page.fill("input[name=filter]", "tags.env = 'dev'")
    page.click("button[type=submit]")
    sync_api.expect(page.locator("tbody tr")).to_have_count(1)
    sync_api.expect(page.locator("tbody tr")).to_contain_text("Eiffel")
    # An invalid filter shows the search's own message.
    page.fill("input[name=filter]", "tags.env === 'x'")
    page.click("button[type=submit]")
    sync_api.expect(page.locator("p.error")).to_contain_text("Invalid")


def test_trace_view_tree_details_chat_keyboard_and_back(ui, server, agent_data):
    page = ui.page
    base = f"{server.url}/experiments/{agent_data['experiment_id']}/traces/{agent_data['trace_id']}"
    page.goto(base)
    tree = page.locator("#span-tree")
    for name in ["agent", "retrieve", "chat", "lookup_capital", "flaky_step"]:
        sync_api.expect(tree.get_by_text(name, exact=True)).to_be_visible()
    detail = page.locator("#span-detail")
    sync_api.expect(detail).to_contain_text("What is the capital of France?")  # the root's inputs
    # Click the chat model span: its conversation, tool call and tokens.
    tree.get_by_text("chat", exact=True).click()
    sync_api.expect(detail.locator(".chat")).to_contain_text("You answer briefly.")
    sync_api.expect(detail.locator(".chat .tool-call")).to_contain_text("lookup_capital")
    sync_api.expect(detail).to_contain_text("total_tokens 17")
    assert "span=" in page.url
    page.screenshot(path=str(_screenshots() / "trace-chat.png"), full_page=True)
    # Keyboard: down selects the next span (the tool), its inputs show.
    tree.focus()
    page.keyboard.press("ArrowDown")
    sync_api.expect(detail.locator("h2.span-name")).to_have_text("lookup_capital")
    page.keyboard.press("ArrowDown")
    sync_api.expect(detail.locator(".exception")).to_contain_text("upstream timed out")
    # Left on a leaf goes to its parent; left again collapses it.
    page.keyboard.press("ArrowLeft")
    sync_api.expect(detail.locator("h2.span-name")).to_have_text("agent")
    page.keyboard.press("ArrowLeft")
    sync_api.expect(tree.get_by_text("retrieve", exact=True)).to_have_count(0)
    page.keyboard.press("ArrowRight")
    sync_api.expect(tree.get_by_text("retrieve", exact=True)).to_be_visible()
    # Back returns to the earlier span; a pasted link opens it directly.
    page.go_back()
    sync_api.expect(detail.locator("h2.span-name")).to_have_text("flaky_step")
    page.goto(page.url)
    sync_api.expect(detail.locator("h2.span-name")).to_have_text("flaky_step")
    # Long strings fold.
    tree.get_by_text("retrieve", exact=True).click()
    sync_api.expect(detail.locator("details.fold").first).to_be_visible()


def test_sessions_group_traces_into_a_conversation(ui, server, agent_data):
    page = ui.page
    page.goto(f"{server.url}/experiments/{agent_data['experiment_id']}/sessions")
    row = page.locator("tbody tr", has_text="s-1")
    sync_api.expect(row).to_contain_text("2")
    row.get_by_role("link").click()
    turns = page.locator(".turn")
    sync_api.expect(turns).to_have_count(2)
    sync_api.expect(turns.nth(0)).to_contain_text("capital of France")
    sync_api.expect(turns.nth(1)).to_contain_text("Eiffel")
    page.screenshot(path=str(_screenshots() / "session.png"), full_page=True)
    turns.nth(0).get_by_role("link", name="open trace").click()
    sync_api.expect(page.locator("#span-tree")).to_contain_text("agent")


def _png_1x1() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00\xff")) + chunk(b"IEND", b"")


def test_runs_metric_plots_eval_rows_and_compare(ui, server):
    from mlflow.entities import Feedback
    from mlflow.genai.scorers import scorer

    experiment_id = mlflow.set_experiment(f"ui-runs-{uuid.uuid4().hex[:8]}").experiment_id
    with mlflow.start_run(run_name="train") as train:
        mlflow.log_param("lr", "0.01")
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_text("trained on <b>3</b> shards", "notes/readme.txt")
        png = Path(tempfile.mkdtemp()) / "dot.png"
        png.write_bytes(_png_1x1())
        mlflow.log_artifact(str(png), "plots")
    answers = {"What is MLflow?": "An ML platform", "What is Rust?": "A language"}
    data = [{"inputs": {"question": q}, "expectations": {"expected_response": a}} for q, a in answers.items()]

    @scorer
    def exact(outputs, expectations) -> Feedback:
        same = outputs == expectations["expected_response"]
        return Feedback(value=same, rationale="equal" if same else "differs from the reference")

    base = mlflow.genai.evaluate(data=data, predict_fn=lambda question: answers[question], scorers=[exact])
    worse = mlflow.genai.evaluate(
        data=data,
        predict_fn=lambda question: "Bananas" if "Rust" in question else answers[question],
        scorers=[exact],
    )
    mlflow.flush_trace_async_logging()
    page = ui.page
    page.goto(f"{server.url}/experiments/{experiment_id}/runs")
    sync_api.expect(page.locator("tbody tr", has_text="train")).to_contain_text("0.2")
    page.screenshot(path=str(_screenshots() / "runs.png"), full_page=True)
    page.locator("tbody tr", has_text="train").get_by_role("link").click()
    sync_api.expect(page.locator("figure.chart.metric")).to_contain_text("loss")
    assert page.locator("figure.chart.metric polyline").count() == 1
    sync_api.expect(page.locator("table.kv").first).to_contain_text("lr")
    # Artifacts: text inline (as text), images inline, both downloadable.
    sync_api.expect(page.locator(".artifact pre")).to_have_text("trained on <b>3</b> shards")
    image = page.locator(".artifact img")
    sync_api.expect(image).to_have_count(1)
    # Polled from here: `wait_for_function` polls by evaluating a string inside the page, which
    # the UI's Content-Security-Policy (no 'unsafe-eval') refuses whenever the first check fails.
    deadline = time.monotonic() + 10
    while not page.evaluate("document.querySelector('.artifact img').complete"):
        assert time.monotonic() < deadline, "the image never finished loading"
        time.sleep(0.05)
    assert page.evaluate("document.querySelector('.artifact img').naturalWidth") == 1
    assert page.get_by_role("link", name="notes/readme.txt").get_attribute("href").endswith("/notes/readme.txt")
    # The evaluation run: one row per input with the scorer's value and rationale.
    page.goto(f"{server.url}/experiments/{experiment_id}/runs/{worse.run_id}")
    rows = page.locator("table.eval tbody tr")
    sync_api.expect(rows).to_have_count(2)
    sync_api.expect(page.locator("table.eval")).to_contain_text("differs from the reference")
    sync_api.expect(page.locator("table.eval")).to_contain_text("Bananas")
    page.screenshot(path=str(_screenshots() / "eval-run.png"), full_page=True)
    # Compare: the regressed row comes first.
    page.goto(f"{server.url}/experiments/{experiment_id}/compare?runs={base.run_id},{worse.run_id}")
    first = page.locator("table.compare-rows tbody tr").first
    sync_api.expect(first).to_contain_text("regression")
    sync_api.expect(first).to_contain_text("Rust")
    sync_api.expect(page.locator("table.compare")).to_contain_text("exact")
    page.screenshot(path=str(_screenshots() / "compare.png"), full_page=True)


def test_feedback_form_writes_a_real_assessment(ui, server, agent_data):
    page = ui.page
    trace_id = agent_data["other"]
    page.goto(f"{server.url}/experiments/{agent_data['experiment_id']}/traces/{trace_id}")
    page.fill("form.feedback input[name=name]", "helpful")
    page.fill("form.feedback input[name=value]", "0.5")
    page.fill("form.feedback textarea[name=rationale]", "Half right.")
    page.fill("form.feedback input[name=source_id]", "reviewer-bob")
    page.click("form.feedback button")
    sync_api.expect(page.locator("ul.assessments")).to_contain_text("helpful")
    sync_api.expect(page.locator("ul.assessments")).to_contain_text("Half right.")
    page.screenshot(path=str(_screenshots() / "trace.png"), full_page=False)
    stored = [a for a in mlflow.get_trace(trace_id).info.assessments if a.name == "helpful"]
    assert len(stored) == 1
    assert stored[0].value == 0.5
    assert stored[0].rationale == "Half right."
    assert stored[0].source.source_type == "HUMAN"
    assert stored[0].source.source_id == "reviewer-bob"


def test_script_payloads_show_as_text_and_never_run(ui, server):
    experiment_id = mlflow.set_experiment(f"ui-xss-{uuid.uuid4().hex[:8]}").experiment_id
    with mlflow.start_span(name="root" + XSS) as root:
        root.set_inputs({"q": XSS})
        with mlflow.start_span(name="child" + XSS, span_type="CHAT_MODEL") as child:
            child.set_inputs({"messages": [{"role": "user", "content": XSS}]})
            child.set_outputs({"choices": [{"message": {"role": "assistant", "content": XSS}}]})
        root.set_outputs(XSS)
        mlflow.update_current_trace(tags={"x": XSS})
    trace_id = mlflow.get_last_active_trace_id()
    _wait_for(trace_id, 2)
    mlflow.log_feedback(trace_id=trace_id, name="judged", value="bad", rationale=XSS,
                        source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id=XSS))
    page = ui.page
    page.goto(f"{server.url}/experiments/{experiment_id}/traces")
    sync_api.expect(page.locator("tbody tr").first).to_contain_text("<script>window.__pwned=1</script>")
    page.goto(f"{server.url}/experiments/{experiment_id}/traces/{trace_id}")
    sync_api.expect(page.locator("#span-tree")).to_contain_text("root<script>")
    sync_api.expect(page.locator("#span-detail")).to_contain_text("<img src=x onerror")
    sync_api.expect(page.locator("ul.assessments")).to_contain_text(XSS)
    sync_api.expect(page.locator("table.kv").first).to_contain_text(XSS)
    page.locator("#span-tree").get_by_text("child", exact=False).click()
    sync_api.expect(page.locator(".chat")).to_contain_text(XSS)
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_empty_states_show_the_python_that_fills_them(ui, fresh_server):
    srv = fresh_server()
    page = ui.page
    # This page talks to a second server: let its requests through too.
    page.unroute("**/*")
    page.goto(srv.url + "/experiments")
    sync_api.expect(page.locator("tr", has_text="Default")).to_be_visible()
    page.goto(srv.url + "/experiments/0/traces")
    sync_api.expect(page.locator(".empty pre")).to_contain_text("mlflow.trace")
    page.goto(srv.url + "/experiments?q=nothing-here")
    sync_api.expect(page.get_by_text("No experiment name contains")).to_be_visible()


def test_pages_carry_csp_and_assets_are_cached(server, agent_data):
    r = requests.get(f"{server.url}/experiments", timeout=10)
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    asset = next(part.split('"')[0] for part in r.text.split('src="')[1:] if "/static/" in part)
    a = requests.get(server.url + asset, timeout=10)
    assert a.status_code == 200 and "immutable" in a.headers["Cache-Control"]
    assert requests.get(f"{server.url}/static/app.000000000000.js", timeout=10).status_code == 404
    missing = requests.get(f"{server.url}/experiments/{agent_data['experiment_id']}/traces/tr-{'0' * 32}", timeout=10)
    assert missing.status_code == 404 and "not found" in missing.text
    # Unknown API routes still answer the API's 404.
    assert requests.get(f"{server.url}/api/2.0/mlflow/no-such-route", timeout=10).status_code == 404


def test_a_100k_span_trace_opens_windowed(ui, server):
    """A very large trace (sent over OTLP in a few batches): the first screen renders fast and
    only the visible rows are in the DOM."""
    experiment_id = mlflow.create_experiment(f"ui-big-{uuid.uuid4().hex[:8]}")
    n = int(os.environ.get("FERROFLOW_UI_BIG_SPANS", "100000"))
    trace_hex = uuid.uuid4().hex
    root_id = "%016x" % 1
    start = time.time_ns()
    batch = []

    def flush():
        body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "big"}}]},
                                   "scopeSpans": [{"spans": batch}]}]}
        r = requests.post(f"{server.url}/v1/traces", data=json.dumps(body),
                          headers={"Content-Type": "application/json", "x-mlflow-experiment-id": experiment_id}, timeout=120)
        assert r.status_code == 200, r.text
        batch.clear()

    for i in range(n):
        span = {
            "traceId": trace_hex, "spanId": "%016x" % (i + 1), "name": f"step {i}",
            "startTimeUnixNano": str(start + i * 1000), "endTimeUnixNano": str(start + i * 1000 + 500),
            "attributes": [{"key": "mlflow.spanInputs", "value": {"stringValue": json.dumps({"i": i})}}],
        }
        if i:
            span["parentSpanId"] = root_id if i % 10 == 1 else "%016x" % i
        else:
            span["endTimeUnixNano"] = str(start + n * 1000 + 1000)
        batch.append(span)
        if len(batch) == 20000:
            flush()
    if batch:
        flush()
    trace_id = f"tr-{trace_hex}"
    page = ui.page
    began = time.monotonic()
    page.goto(f"{server.url}/experiments/{experiment_id}/traces/{trace_id}")
    sync_api.expect(page.locator("#span-tree").get_by_text("step 1", exact=True)).to_be_visible()
    first_render = time.monotonic() - began
    assert page.locator(".span-row").count() < 200
    page.locator("#span-tree").focus()
    page.keyboard.press("End")
    sync_api.expect(page.locator("#span-detail h2.span-name")).to_have_text(f"step {n - 1}")
    print(f"100k-span trace: first render {first_render:.2f}s")
    assert first_render < 10


def test_prompts_versions_aliases_and_word_diff(ui, server):
    name = f"ui_prompt_{uuid.uuid4().hex[:8]}"
    mlflow.genai.register_prompt(name, "Answer the question {{question}} briefly.", commit_message="first cut")
    mlflow.genai.register_prompt(name, "Answer the question {{question}} politely and briefly.", commit_message="be polite")
    mlflow.genai.set_prompt_alias(name, alias="production", version=2)
    page = ui.page
    page.goto(f"{server.url}/prompts")
    page.get_by_role("link", name=name).click()
    sync_api.expect(page.locator("section.version")).to_have_count(2)
    sync_api.expect(page.locator("section.version").first).to_contain_text("@production")
    sync_api.expect(page.locator("section.version").first).to_contain_text("be polite")
    page.get_by_role("link", name="diff with v1").click()
    assert page.url.endswith("?diff=1,2")
    sync_api.expect(page.locator("pre.diff ins")).to_have_text(["politely ", "and "])
    page.screenshot(path=str(_screenshots() / "prompt-diff.png"), full_page=True)


def test_models_versions_aliases_and_source_run(ui, server):
    name = f"ui-model-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment(f"ui-models-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run(run_name="trainer") as run:
        mlflow.log_metric("accuracy", 0.9)
    client = mlflow.MlflowClient()
    client.create_registered_model(name, tags={"team": "search"})
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(name, "staging", 1)
    page = ui.page
    page.goto(f"{server.url}/models")
    page.get_by_role("link", name=name).click()
    sync_api.expect(page.locator("body")).to_contain_text("staging → v1")
    sync_api.expect(page.locator("body")).to_contain_text("team=search")
    page.get_by_role("link", name=f"run {run.info.run_id}").click()
    sync_api.expect(page.locator("h1")).to_have_text("trainer")


def test_ui_under_a_static_prefix(ui, fresh_server):
    srv = fresh_server(extra_args=("--static-prefix", "/mlflow"))
    page = ui.page
    page.unroute("**/*")
    page.goto(srv.url + "/mlflow/")
    assert page.url.endswith("/mlflow/experiments")
    page.get_by_role("link", name="Default").click()
    assert "/mlflow/experiments/0/traces" in page.url
    sync_api.expect(page.locator(".empty pre")).to_contain_text("mlflow.trace")
    # The stylesheet and script load from under the prefix (a 404 would be a console error).
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"


def test_datasets_with_records_and_scorers_with_sampling(ui, server):
    from mlflow.genai import datasets as genai_datasets
    from mlflow.genai.scorers import Safety

    experiment_id = mlflow.set_experiment(f"ui-eval-{uuid.uuid4().hex[:8]}").experiment_id
    name = f"qa_{uuid.uuid4().hex[:6]}"
    dataset = genai_datasets.create_dataset(name=name, experiment_id=experiment_id, tags={"stage": "dev"})
    dataset.merge_records([
        {"inputs": {"question": "What is MLflow?"}, "expectations": {"expected_response": "A platform"}},
        {"inputs": {"question": "What is Rust?"}, "expectations": {"expected_response": "A language"}},
    ])
    # Sampling traces needs a judge on a gateway model.
    Safety(model="gateway:/judge-chat").register(name="starts_with_answer", experiment_id=experiment_id)
    mlflow.MlflowClient()._tracking_client.store.upsert_online_scoring_config(experiment_id, "starts_with_answer", 0.25, "trace.status = 'OK'")
    page = ui.page
    page.goto(f"{server.url}/experiments/{experiment_id}/datasets")
    row = page.locator("tbody tr", has_text=name)
    sync_api.expect(row).to_contain_text("2")
    sync_api.expect(row).to_contain_text("stage=dev")
    row.get_by_role("link").click()
    sync_api.expect(page.locator("table.records tbody tr")).to_have_count(2)
    sync_api.expect(page.locator("table.records")).to_contain_text("A language")
    page.goto(f"{server.url}/experiments/{experiment_id}/scorers")
    scorer_row = page.locator("table.scorers tbody tr", has_text="starts_with_answer")
    sync_api.expect(scorer_row).to_contain_text("25%")
    sync_api.expect(scorer_row).to_contain_text("trace.status = 'OK'")
    page.screenshot(path=str(_screenshots() / "scorers.png"), full_page=True)


def test_sign_in_page_session_cookie_and_per_user_pages(ui, fresh_server, monkeypatch):
    """With basic-auth the UI signs users in with a form (CSRF-protected) and a session cookie
    (HttpOnly, SameSite=Strict), shows each only what they may read, and signs them out."""
    password = "admin-password-1234"
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", password)
    ini = Path(tempfile.mkdtemp(prefix="ferroflow-auth-")) / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = NO_PERMISSIONS\nadmin_username = admin\n")
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    srv = fresh_server(extra_args=("--app-name", "basic-auth"))
    v2 = srv.url + "/api/2.0/mlflow"
    for user in ("alice", "bob"):
        r = requests.post(v2 + "/users/create", json={"username": user, "password": f"{user}-password-1"},
                          auth=("admin", password))  # fmt: skip
        assert r.status_code == 200, r.text
    alices = requests.post(v2 + "/experiments/create", json={"name": "alice-secret"},
                           auth=("alice", "alice-password-1")).json()["experiment_id"]  # fmt: skip
    requests.post(v2 + "/experiments/create", json={"name": "bob-own"}, auth=("bob", "bob-password-1"))
    trace_id = "tr-" + uuid.uuid4().hex
    info = {
        "trace_id": trace_id, "request_time": "2026-01-01T00:00:00Z", "execution_duration": "0.1s", "state": "OK",
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": alices}},
        "trace_metadata": {}, "tags": {"mlflow.traceName": "secret-trace"},
    }  # fmt: skip
    r = requests.post(srv.url + "/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}},
                      auth=("alice", "alice-password-1"))  # fmt: skip
    assert r.status_code == 200, r.text

    page = ui.page
    page.unroute("**/*")  # a server of the test's own
    context = page.context
    context.clear_cookies()
    try:
        # A page asked for without a session goes to the sign-in form, and back after it.
        page.goto(f"{srv.url}/experiments/{alices}/traces")
        assert "/login?next=" in page.url
        page.fill("form.login input[name=username]", "bob")
        page.fill("form.login input[name=password]", "not-bobs-password")
        page.click("form.login button")
        sync_api.expect(page.get_by_role("alert")).to_contain_text("Wrong username or password.")
        page.fill("form.login input[name=username]", "bob")
        page.fill("form.login input[name=password]", "bob-password-1")
        with page.expect_navigation():
            page.click("form.login button")
        assert page.url.endswith(f"/experiments/{alices}/traces")
        sync_api.expect(page.locator("body")).to_contain_text("You do not have permission")
        assert "secret-trace" not in page.content()
        session = [c for c in context.cookies() if c["name"] == "ferroflow_session"]
        assert len(session) == 1 and session[0]["httpOnly"] is True and session[0]["sameSite"] == "Strict"
        page.goto(srv.url + "/experiments")
        sync_api.expect(page.locator("tr", has_text="bob-own")).to_be_visible()
        assert "alice-secret" not in page.content()
        # Signing out ends the session: the pages ask to sign in again.
        page.click("header a.signout")
        with page.expect_navigation():
            page.click("form.login button")
        assert "/login" in page.url
        page.goto(srv.url + "/experiments")
        assert "/login?next=" in page.url

        # alice signs in and leaves feedback on her trace through the CSRF-protected form.
        page.fill("form.login input[name=username]", "alice")
        page.fill("form.login input[name=password]", "alice-password-1")
        with page.expect_navigation():
            page.click("form.login button")
        page.goto(f"{srv.url}/experiments/{alices}/traces/{trace_id}")
        sync_api.expect(page.locator("form.feedback input[name=source_id]")).to_have_value("alice")
        page.fill("form.feedback input[name=name]", "helpful")
        page.fill("form.feedback input[name=value]", "true")
        page.click("form.feedback button")
        sync_api.expect(page.locator("ul.assessments")).to_contain_text("helpful")
        stored = requests.get(srv.url + f"/api/3.0/mlflow/traces/{trace_id}", auth=("alice", "alice-password-1"))
        assert [a["assessment_name"] for a in stored.json()["trace"]["trace_info"]["assessments"]] == ["helpful"]
        # The session signs in the UI only: an API write with the cookie alone is refused.
        cookie = {c["name"]: c["value"] for c in context.cookies()}["ferroflow_session"]
        refused = requests.post(v2 + "/experiments/create", json={"name": "by-cookie"},
                                cookies={"ferroflow_session": cookie})  # fmt: skip
        assert refused.status_code == 401
    finally:
        context.clear_cookies()
        # The refused sign-in (401) and the refused page (403) are logged by the browser.
        expected = ("401 (Unauthorized)", "403 (Forbidden)")
        ui.problems[:] = [p for p in ui.problems if not p.endswith(expected)]
