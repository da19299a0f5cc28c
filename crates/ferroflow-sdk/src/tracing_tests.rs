//! Unit tests of the tracing runtime: the spans `#[trace]` and `start_span` produce, as they
//! would be sent (captured by an in-memory sink installed as the process's tracer).

use std::sync::{Arc, Mutex, OnceLock};

use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use serde_json::{json, Value};

use crate::export::{Captured, Sink};
use crate::{current_traceparent, start_span, trace, update_current_trace, SpanType, TraceContext, TraceUpdate};

pub(crate) fn captured() -> Arc<Mutex<Captured>> {
    static CAPTURED: OnceLock<Arc<Mutex<Captured>>> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Arc::new(Mutex::new(Captured::default()));
            crate::tracer::install(crate::Config::default(), Some(Sink::Memory(captured.clone())))
                .expect("the test tracer is installed first");
            captured
        })
        .clone()
}

/// The spans of one trace, after a flush, and its trace record.
pub(crate) fn trace_of(trace_id: &str) -> (Vec<ProtoSpan>, Option<Value>) {
    let report = crate::flush();
    assert!(!report.timed_out);
    let captured = captured();
    let captured = captured.lock().unwrap();
    let hex = trace_id.trim_start_matches("tr-");
    let spans = captured
        .requests
        .iter()
        .flat_map(|r| r.resource_spans.iter())
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .filter(|s| to_hex(&s.trace_id) == hex)
        .cloned()
        .collect();
    let info = captured.trace_infos.iter().find(|i| i["trace"]["trace_info"]["trace_id"] == trace_id).cloned();
    (spans, info)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn attr(span: &ProtoSpan, key: &str) -> Option<Value> {
    span.attributes.iter().find(|kv| kv.key == key).map(|kv| serde_json::to_value(kv.value.as_ref().unwrap()).unwrap())
}

fn by_name<'a>(spans: &'a [ProtoSpan], name: &str) -> &'a ProtoSpan {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"))
}

#[trace(span_type = "TOOL")]
fn double(x: i64) -> i64 {
    x * 2
}

#[derive(Debug)]
struct Boom;
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

#[trace(name = "may-fail", span_type = "CHAIN")]
fn may_fail(fail: bool) -> Result<String, Boom> {
    if fail {
        return Err(Boom);
    }
    Ok("fine".into())
}

struct NotSerializable;

#[trace(span_type = "AGENT", skip(secret), rename(q = "question"))]
fn agent(q: &str, k: u32, secret: &str, _opaque: NotSerializable) -> serde_json::Value {
    let _ = secret;
    let tool = double(k as i64);
    {
        let llm = start_span("llm-call", SpanType::Llm);
        llm.set_inputs(&json!({"messages": [{"role": "user", "content": q}]}));
        llm.set_attribute("model", "fake-model");
        llm.set_attribute("temperature", &0.1);
        llm.record_token_usage(10, 5);
        llm.add_event("my-event", [("k", "v")]);
        llm.set_outputs(&json!({"choices": [{"message": {"role": "assistant", "content": "answer"}}]}));
    }
    update_current_trace(
        TraceUpdate::new().tag("env", "test").user("alice").session("sess-1").metadata("custom_meta", "m"),
    );
    crate::current_span().set_attribute("custom.attr", "v");
    json!({"answer": "answer", "tool": tool})
}

#[test]
fn sync_trace_matches_the_python_shape() {
    let _captured = captured();
    let root = start_span("outer", SpanType::Chain);
    let trace_id = root.trace_id().unwrap();
    let out = agent("what is mlflow?", 3, "hidden", NotSerializable);
    assert_eq!(out["tool"], 6);
    drop(root);
    let (spans, info) = trace_of(&trace_id);
    assert_eq!(spans.len(), 4, "outer, agent, double, llm-call");

    let outer = by_name(&spans, "outer");
    let agent_span = by_name(&spans, "agent");
    let tool = by_name(&spans, "double");
    let llm = by_name(&spans, "llm-call");
    assert!(outer.parent_span_id.is_empty());
    assert_eq!(agent_span.parent_span_id, outer.span_id);
    assert_eq!(tool.parent_span_id, agent_span.span_id);
    assert_eq!(llm.parent_span_id, agent_span.span_id);

    assert_eq!(attr(agent_span, "mlflow.spanType"), Some(json!({"stringValue": "AGENT"})));
    assert_eq!(attr(agent_span, "mlflow.spanFunctionName"), Some(json!({"stringValue": "agent"})));
    assert_eq!(
        attr(agent_span, "mlflow.spanInputs"),
        Some(json!({"kvlistValue": {"values": [
            {"key": "question", "value": {"stringValue": "what is mlflow?"}},
            {"key": "k", "value": {"intValue": "3"}}]}}))
    );
    assert_eq!(attr(agent_span, "custom.attr"), Some(json!({"stringValue": "v"})));
    assert_eq!(attr(tool, "mlflow.spanOutputs"), Some(json!({"intValue": "6"})));
    assert_eq!(attr(tool, "mlflow.spanLogLevel"), Some(json!({"intValue": "20"})));
    assert_eq!(
        attr(llm, "mlflow.chat.tokenUsage"),
        Some(json!({"kvlistValue": {"values": [
            {"key": "input_tokens", "value": {"intValue": "10"}},
            {"key": "output_tokens", "value": {"intValue": "5"}},
            {"key": "total_tokens", "value": {"intValue": "15"}}]}}))
    );
    assert_eq!(attr(llm, "temperature"), Some(json!({"doubleValue": 0.1})));
    assert_eq!(llm.events[0].name, "my-event");
    assert_eq!(
        attr(&ProtoSpan { attributes: llm.events[0].attributes.clone(), ..Default::default() }, "k"),
        Some(json!({"stringValue": "v"}))
    );

    let info = info.expect("a trace record for the root");
    let info = &info["trace"]["trace_info"];
    assert_eq!(info["state"], "OK");
    assert_eq!(info["tags"]["mlflow.traceName"], "outer");
    assert_eq!(info["tags"]["env"], "test");
    let meta = &info["trace_metadata"];
    assert_eq!(meta["mlflow.trace.user"], "alice");
    assert_eq!(meta["mlflow.trace.session"], "sess-1");
    assert_eq!(meta["custom_meta"], "m");
    assert_eq!(meta["mlflow.trace_schema.version"], "3");
    assert_eq!(meta["mlflow.trace.tokenUsage"], r#"{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}"#);
}

#[test]
fn err_and_panic_mark_the_span_error() {
    let _captured = captured();
    let root = start_span("errors", SpanType::Chain);
    let trace_id = root.trace_id().unwrap();
    assert!(may_fail(true).is_err());
    assert_eq!(may_fail(false).unwrap(), "fine");
    let panicked = std::panic::catch_unwind(|| {
        #[trace]
        fn explode() -> u8 {
            panic!("kaboom")
        }
        explode()
    });
    assert!(panicked.is_err());
    drop(root);
    let (spans, info) = trace_of(&trace_id);
    let failing: Vec<_> = spans.iter().filter(|s| s.name == "may-fail").collect();
    assert_eq!(failing.len(), 2);
    let err = failing.iter().find(|s| s.status.as_ref().unwrap().code == 2).unwrap();
    assert!(err.status.as_ref().unwrap().message.ends_with("Boom: boom"));
    assert_eq!(err.events[0].name, "exception");
    assert_eq!(attr(err, "mlflow.spanLogLevel"), Some(json!({"intValue": "40"})));
    let ok = failing.iter().find(|s| s.status.as_ref().unwrap().code == 1).unwrap();
    assert_eq!(attr(ok, "mlflow.spanOutputs"), Some(json!({"stringValue": "fine"})));
    let explode = by_name(&spans, "explode");
    assert_eq!(explode.status.as_ref().unwrap().message, "panic: kaboom");
    // The root itself did not fail.
    assert_eq!(info.unwrap()["trace"]["trace_info"]["state"], "OK");
}

#[trace(span_type = "RETRIEVER")]
async fn retrieve(q: String) -> Vec<String> {
    tokio::task::yield_now().await;
    let _inner = double(1);
    vec![format!("doc about {q}")]
}

#[trace(name = "async-agent", span_type = "AGENT")]
async fn async_agent(q: String) -> usize {
    let guard = start_span("held-across-await", SpanType::Task);
    let docs = retrieve(q.clone()).await;
    tokio::task::yield_now().await;
    drop(guard);
    let ctx = TraceContext::current();
    let spawned = tokio::spawn(ctx.attach(async move { retrieve("spawned".into()).await }));
    let not_handed_over = tokio::spawn(async { double(21) });
    docs.len() + spawned.await.unwrap().len() + not_handed_over.await.unwrap() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_context_follows_await_and_explicit_spawn() {
    let _captured = captured();
    let root = crate::TraceContext::current();
    assert!(root.is_empty());
    // Several agents at once on two worker threads: no span may cross over.
    let mut handles = Vec::new();
    for i in 0..4 {
        // A guard held across `.await` needs a future that carries the context: wrap the task.
        handles.push(tokio::spawn(crate::in_current_context(async move {
            let span = start_span("async-root", SpanType::Chain);
            let trace_id = span.trace_id().unwrap();
            let total = TraceContext::of(&span).attach(async_agent(format!("q{i}"))).await;
            drop(span);
            (trace_id, total)
        })));
    }
    for handle in handles {
        let (trace_id, total) = handle.await.unwrap();
        assert_eq!(total, 44);
        let (spans, _) = trace_of(&trace_id);
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        // async-root, async-agent, held-across-await, retrieve (+ its double), spawned retrieve
        // (+ its double); the task spawned without the context made its own trace.
        assert_eq!(spans.len(), 7, "{names:?}");
        let agent = by_name(&spans, "async-agent");
        let held = by_name(&spans, "held-across-await");
        assert_eq!(held.parent_span_id, agent.span_id);
        let retrieves: Vec<_> = spans.iter().filter(|s| s.name == "retrieve").collect();
        assert!(retrieves.iter().any(|r| r.parent_span_id == held.span_id));
        assert!(retrieves.iter().any(|r| r.parent_span_id == agent.span_id));
        for double in spans.iter().filter(|s| s.name == "double") {
            assert!(retrieves.iter().any(|r| r.span_id == double.parent_span_id));
        }
    }
}

#[test]
fn custom_span_type_and_trace_context_run() {
    let _captured = captured();
    #[trace(span_type = custom("MY_TYPE"), skip_all)]
    fn custom(_x: u8) {}
    let root = start_span("threads", SpanType::Workflow);
    let trace_id = root.trace_id().unwrap();
    let ctx = TraceContext::current();
    std::thread::spawn(move || ctx.run(|| custom(1))).join().unwrap();
    drop(root);
    let (spans, _) = trace_of(&trace_id);
    let custom = by_name(&spans, "custom");
    assert_eq!(attr(custom, "mlflow.spanType"), Some(json!({"stringValue": "MY_TYPE"})));
    assert_eq!(attr(custom, "mlflow.spanInputs"), Some(json!({"kvlistValue": {"values": []}})));
    assert!(attr(custom, "mlflow.spanOutputs").is_none());
    assert_eq!(custom.parent_span_id, by_name(&spans, "threads").span_id);
}

#[trace]
fn uses_prompt() -> String {
    // What `Client::load_prompt` does after a load inside a trace.
    crate::tracer::link_prompt("qa-prompt", 2);
    crate::tracer::link_prompt("qa-prompt", 2);
    nested_prompt_user();
    "Q: x".to_string()
}

#[trace(span_type = "TOOL")]
fn nested_prompt_user() {
    crate::tracer::link_prompt("other", 1);
}

#[test]
fn prompts_loaded_in_a_trace_are_linked_like_the_python_client() {
    let _captured = captured();
    let root = start_span("prompt-root", SpanType::Chain);
    let trace_id = root.trace_id().unwrap();
    uses_prompt();
    drop(root);
    let (spans, info) = trace_of(&trace_id);
    // The span that loaded the prompt lists it (a JSON string, as Python sets it).
    assert_eq!(
        attr(by_name(&spans, "uses_prompt"), "mlflow.linkedPrompts"),
        Some(json!({"stringValue": r#"[{"name": "qa-prompt", "version": "2"}]"#}))
    );
    assert_eq!(
        attr(by_name(&spans, "nested_prompt_user"), "mlflow.linkedPrompts"),
        Some(json!({"stringValue": r#"[{"name": "other", "version": "1"}]"#}))
    );
    assert_eq!(attr(by_name(&spans, "prompt-root"), "mlflow.linkedPrompts"), None);
    // UNKNOWN spans are DEBUG, as MLflow's default_log_level_for_span_type has it.
    assert_eq!(attr(by_name(&spans, "uses_prompt"), "mlflow.spanLogLevel"), Some(json!({"intValue": "10"})));
    // The trace record carries the tag, and link-prompts follows it.
    let info = info.expect("a trace record");
    assert_eq!(
        info["trace"]["trace_info"]["tags"]["mlflow.linkedPrompts"],
        r#"[{"name": "qa-prompt", "version": "2"}, {"name": "other", "version": "1"}]"#
    );
    let captured = captured();
    let captured = captured.lock().unwrap();
    let link =
        captured.prompt_links.iter().find(|body| body["trace_id"] == trace_id.as_str()).expect("a link-prompts body");
    assert_eq!(
        link["prompt_versions"],
        json!([{"name": "qa-prompt", "version": "2"}, {"name": "other", "version": "1"}])
    );
}

#[test]
fn trace_records_carry_size_stats() {
    let _captured = captured();
    let root = start_span("sized-root", SpanType::Agent);
    let trace_id = root.trace_id().unwrap();
    root.set_inputs(&json!({"q": "héllo"}));
    double(21);
    double(22);
    drop(root);
    let (spans, info) = trace_of(&trace_id);
    assert_eq!(spans.len(), 3);
    let info = info.expect("a trace record");
    let meta = &info["trace"]["trace_info"]["trace_metadata"];
    let stats: Value = serde_json::from_str(meta["mlflow.trace.sizeStats"].as_str().unwrap()).unwrap();
    assert_eq!(stats["num_spans"], 3);
    assert_eq!(meta["mlflow.trace.sizeBytes"].as_str().unwrap(), stats["total_size_bytes"].to_string());
    let total = stats["total_size_bytes"].as_u64().unwrap();
    let max = stats["max"].as_u64().unwrap();
    assert!(max > 300 && total > 3 * 300 + 500, "{stats}");
    assert!(stats["p25"].as_u64().unwrap() <= stats["p75"].as_u64().unwrap());
    // Python's key order and separators.
    assert!(meta["mlflow.trace.sizeStats"].as_str().unwrap().starts_with(r#"{"total_size_bytes": "#));
}

#[test]
fn dropped_guards_end_their_spans_one_way() {
    let _captured = captured();
    let root = start_span("drops", SpanType::Chain);
    let trace_id = root.trace_id().unwrap();
    // A guard dropped while a panic unwinds: ERROR with the panic event.
    let panicked = std::panic::catch_unwind(|| {
        let _guard = start_span("guard-in-panic", SpanType::Task);
        panic!("unwinding");
    });
    assert!(panicked.is_err());
    // A traced future dropped before it finished: the event `cancelled`, status OK.
    #[trace]
    async fn never_finishes() -> u8 {
        std::future::pending::<()>().await;
        0
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let timed_out = runtime
        .block_on(
            TraceContext::current()
                .attach(async { tokio::time::timeout(std::time::Duration::from_millis(5), never_finishes()).await }),
        )
        .is_err();
    assert!(timed_out);
    drop(root);
    let (spans, _) = trace_of(&trace_id);
    let guard = by_name(&spans, "guard-in-panic");
    assert_eq!(guard.status.as_ref().unwrap().code, 2);
    assert_eq!(guard.status.as_ref().unwrap().message, "panic: the thread panicked while the span was open");
    assert_eq!(guard.events[0].name, "exception");
    let cancelled = by_name(&spans, "never_finishes");
    assert_eq!(cancelled.events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["cancelled"]);
    assert_eq!(cancelled.status.as_ref().unwrap().code, 1);
}

#[tokio::test]
async fn spans_under_a_traceparent_join_the_callers_trace() {
    captured();
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";
    let header = format!("00-{TRACE}-{PARENT}-01");
    let remote = TraceContext::from_traceparent(&header).expect("tracing is on in tests");
    assert_eq!(remote.traceparent().as_deref(), Some(header.as_str()));
    assert!(current_traceparent().is_none(), "no span open here");

    let served = remote.attach(async {
        let span = start_span("served", SpanType::Agent);
        // An outgoing call made here names this span as the parent.
        let expected = format!("00-{TRACE}-{}-01", span.span_id().unwrap());
        assert_eq!(current_traceparent(), Some(expected.clone()));
        assert_eq!(TraceContext::current().traceparent(), Some(expected));
        tokio::task::yield_now().await;
        double(21)
    });
    assert_eq!(served.await, 42);

    let (spans, info) = trace_of(&format!("tr-{TRACE}"));
    let served = by_name(&spans, "served");
    let tool = by_name(&spans, "double");
    assert_eq!(to_hex(&served.trace_id), TRACE);
    assert_eq!(to_hex(&served.parent_span_id), PARENT, "the caller's span is the parent");
    assert_eq!(tool.parent_span_id, served.span_id);
    assert!(info.is_none(), "the caller's process owns the trace record");
    assert!(TraceContext::from_traceparent("00-zz-00f067aa0ba902b7-01").is_none());
}
