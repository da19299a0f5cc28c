//! `ferroload`: an OTLP/HTTP load generator for the ingest bench. Several connections (one
//! thread each, keep-alive, blocking sockets) post `ExportTraceServiceRequest` protobuf bodies to
//! `/v1/traces` as the OpenTelemetry SDKs batch them (one resource, one scope, many spans; the
//! MLflow exporter's attributes as JSON strings), every request with fresh trace and span ids,
//! for a fixed time or span count. It prints spans/s over the acknowledged requests, request
//! latencies, its own CPU time and, given `--server-pid`, the server's CPU per span, so a run
//! shows whether the server or the generator was the bottleneck.
//!
//! A request costs the generator a protobuf encode of spans whose strings are built once (only
//! ids and times change), well under a microsecond a span, so a 2-core machine's CPU goes to
//! the server.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: ferroload [--addr 127.0.0.1:5000] [--experiment-id ID] [--connections 4] \
[--spans-per-request 500] [--spans-per-trace 10] [--seconds 15] [--max-spans N] [--server-pid PID] [--tagged] [--json]";

struct Args {
    addr: String,
    experiment_id: Option<String>,
    connections: usize,
    spans_per_request: usize,
    spans_per_trace: usize,
    seconds: f64,
    max_spans: u64,
    server_pid: Option<u32>,
    /// Roots carry a trace tag `env` (`prod` on every fourth trace, else `dev`), so tag filters
    /// have something to select.
    tagged: bool,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:5000".into(),
        experiment_id: None,
        connections: 4,
        spans_per_request: 500,
        spans_per_trace: 10,
        seconds: 15.0,
        max_spans: u64::MAX,
        server_pid: None,
        tagged: false,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" || flag == "--tagged" {
            args.json |= flag == "--json";
            args.tagged |= flag == "--tagged";
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--experiment-id" => args.experiment_id = Some(value),
            "--connections" => args.connections = value.parse().map_err(|e| bad(&e))?,
            "--spans-per-request" => args.spans_per_request = value.parse().map_err(|e| bad(&e))?,
            "--spans-per-trace" => args.spans_per_trace = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
            "--max-spans" => args.max_spans = value.parse().map_err(|e| bad(&e))?,
            "--server-pid" => args.server_pid = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.connections == 0 || args.spans_per_trace == 0 || args.spans_per_request < args.spans_per_trace {
        return Err(format!("need ≥ 1 connection and spans-per-request ≥ spans-per-trace ≥ 1\n{USAGE}"));
    }
    Ok(args)
}

/// One keep-alive HTTP/1.1 connection, just enough of the protocol for this server's answers
/// (a status line, headers with `Content-Length`, a body).
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    addr: String,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Conn { reader: BufReader::with_capacity(1 << 16, stream.try_clone()?), writer: stream, addr: addr.into() })
    }

    /// Sends one request and reads its answer: (status, body).
    fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.addr, body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
        self.writer.write_all(&request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 =
            line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad status line {line:?}"))
            })?;
        let mut length = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let length = length.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no Content-Length"))?;
        let mut out = vec![0; length];
        self.reader.read_exact(&mut out)?;
        Ok((status, out))
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Any::StringValue(value.into())) }),
        ..Default::default()
    }
}

/// The spans of one request, built once; [`Batch::renew`] gives them fresh ids and times.
struct Batch {
    request: ExportTraceServiceRequest,
    spans_per_trace: usize,
}

impl Batch {
    fn new(spans: usize, spans_per_trace: usize, tagged: bool) -> Batch {
        let spans: Vec<Span> = (0..spans)
            .map(|i| {
                let position = position_in_trace(i, spans_per_trace);
                // The MLflow exporter's attributes, JSON-encoded strings as it sends them.
                let (name, span_type) = if position == 0 { ("agent", "AGENT") } else { ("llm", "LLM") };
                let mut attributes = vec![
                    string("mlflow.traceRequestId", ""),
                    string("mlflow.spanType", format!("\"{span_type}\"")),
                    string("mlflow.spanInputs", format!("{{\"question\": \"what is mlflow? ({position})\"}}")),
                    string("mlflow.spanOutputs", "\"MLflow is an open source platform for the ML lifecycle\""),
                    string("mlflow.spanFunctionName", format!("\"{name}\"")),
                ];
                if tagged && position == 0 {
                    let env = if (i / spans_per_trace).is_multiple_of(4) { "prod" } else { "dev" };
                    attributes.push(string("mlflow.traceTag.env", env));
                }
                Span {
                    name: name.into(),
                    kind: SpanKind::Internal as i32,
                    attributes,
                    status: Some(Status { code: StatusCode::Ok as i32, message: String::new() }),
                    ..Default::default()
                }
            })
            .collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string("service.name", "ferroload")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "mlflow.tracing".into(), ..Default::default() }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        Batch { request, spans_per_trace }
    }

    /// New ids (`prefix` tells connections apart, `counter` requests) and times.
    fn renew(&mut self, prefix: u64, counter: u64, now_ns: u64) {
        let spans = &mut self.request.resource_spans[0].scope_spans[0].spans;
        let per = self.spans_per_trace;
        for (i, span) in spans.iter_mut().enumerate() {
            let position = position_in_trace(i, per);
            let first = (i / per * per) as u64;
            let mut trace_id = Vec::with_capacity(16);
            trace_id.extend_from_slice(&prefix.to_be_bytes());
            trace_id.extend_from_slice(&((counter << 20) | (i / per) as u64).to_be_bytes());
            let span_id = |p: usize| ((counter << 24) ^ (prefix << 40) ^ (first + p as u64 + 1)).to_be_bytes().to_vec();
            span.span_id = span_id(position);
            span.parent_span_id = if position == 0 { Vec::new() } else { span_id(0) };
            span.start_time_unix_nano = now_ns + (position as u64) * 1_000;
            span.end_time_unix_nano = span.start_time_unix_nano + if position == 0 { 900_000 } else { 500 };
            if let Some(Any::StringValue(id)) = span.attributes[0].value.as_mut().and_then(|v| v.value.as_mut()) {
                id.clear();
                id.push_str("\"tr-");
                for byte in &trace_id {
                    id.push(HEX[usize::from(byte >> 4)] as char);
                    id.push(HEX[usize::from(byte & 0xf)] as char);
                }
                id.push('"');
            }
            span.trace_id = trace_id;
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A span's place in its trace (0: the root) from its index in the request: each trace's
/// children come first and its root last, as a batch span processor sends them.
fn position_in_trace(index: usize, per_trace: usize) -> usize {
    (index % per_trace + 1) % per_trace
}

/// CPU seconds (user + system) of a process from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn create_experiment(addr: &str) -> Result<String, String> {
    let mut conn = Conn::open(addr).map_err(|e| format!("connecting to {addr}: {e}"))?;
    let name = format!("ferroload-{}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos());
    let body = format!("{{\"name\": \"{name}\"}}");
    let (status, out) = conn
        .call("POST", "/api/2.0/mlflow/experiments/create", &[("Content-Type", "application/json")], body.as_bytes())
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    if status != 200 {
        return Err(format!("experiments/create -> {status}: {text}"));
    }
    let id = text.split("\"experiment_id\"").nth(1).and_then(|rest| rest.split('"').nth(1));
    id.map(str::to_string).ok_or_else(|| format!("no experiment_id in {text}"))
}

struct Outcome {
    spans: u64,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u64>,
    last_done: Instant,
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let experiment_id = match args.experiment_id.clone().map(Ok).unwrap_or_else(|| create_experiment(&args.addr)) {
        Ok(id) => id,
        Err(message) => {
            eprintln!("ferroload: {message}");
            std::process::exit(1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let per_request = args.spans_per_request as u64;
    let max_requests = args.max_spans.div_ceil(per_request.max(1));
    let barrier = Arc::new(std::sync::Barrier::new(args.connections + 1));
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let threads: Vec<_> = (0..args.connections)
        .map(|index| {
            let (stop, issued, barrier) = (stop.clone(), issued.clone(), barrier.clone());
            let (addr, experiment_id) = (args.addr.clone(), experiment_id.clone());
            let (spans, per_trace, tagged) = (args.spans_per_request, args.spans_per_trace, args.tagged);
            std::thread::spawn(move || {
                let prefix = seed.rotate_left(17) ^ ((index as u64 + 1) << 56) ^ 0x9e37_79b9_7f4a_7c15;
                let mut batch = Batch::new(spans, per_trace, tagged);
                let mut body = Vec::with_capacity(spans * 400);
                let headers =
                    [("Content-Type", "application/x-protobuf"), ("x-mlflow-experiment-id", experiment_id.as_str())];
                let mut outcome = Outcome {
                    spans: 0,
                    requests: 0,
                    errors: 0,
                    first_error: None,
                    latencies_us: Vec::new(),
                    last_done: Instant::now(),
                };
                let mut conn = Conn::open(&addr);
                // One untimed request per connection warms the connection and the server.
                let mut counter = 0u64;
                let mut send = |conn: &mut std::io::Result<Conn>, counter: u64| -> Result<(), String> {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
                    batch.renew(prefix, counter, now);
                    body.clear();
                    batch.request.encode(&mut body).map_err(|e| e.to_string())?;
                    let c = conn.as_mut().map_err(|e| e.to_string())?;
                    match c.call("POST", "/v1/traces", &headers, &body) {
                        Ok((200, _)) => Ok(()),
                        Ok((status, out)) => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&out))),
                        Err(e) => {
                            *conn = Conn::open(&addr);
                            Err(e.to_string())
                        }
                    }
                };
                if let Err(e) = send(&mut conn, counter) {
                    outcome.first_error = Some(format!("warm-up: {e}"));
                }
                counter += 1;
                barrier.wait();
                while !stop.load(Ordering::Relaxed) {
                    if issued.fetch_add(1, Ordering::Relaxed) >= max_requests {
                        break;
                    }
                    let t0 = Instant::now();
                    let result = send(&mut conn, counter);
                    counter += 1;
                    outcome.last_done = Instant::now();
                    match result {
                        Ok(()) => {
                            outcome.requests += 1;
                            outcome.spans += spans as u64;
                            outcome.latencies_us.push(t0.elapsed().as_micros() as u64);
                        }
                        Err(e) => {
                            outcome.errors += 1;
                            outcome.first_error.get_or_insert(e);
                        }
                    }
                }
                outcome
            })
        })
        .collect();
    let server_pid = args.server_pid.map(|pid| pid.to_string());
    let server_cpu0 = server_pid.as_deref().and_then(cpu_seconds);
    let own_cpu0 = cpu_seconds("self");
    barrier.wait();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(args.seconds);
    while Instant::now() < deadline && issued.load(Ordering::Relaxed) < max_requests {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = threads.into_iter().map(|t| t.join().expect("load thread panicked")).collect();
    let end = outcomes.iter().map(|o| o.last_done).max().unwrap_or(t0);
    let wall = end.saturating_duration_since(t0).as_secs_f64().max(1e-9);
    let server_cpu = server_pid.as_deref().and_then(cpu_seconds).zip(server_cpu0).map(|(b, a)| b - a);
    let own_cpu = cpu_seconds("self").zip(own_cpu0).map(|(b, a)| b - a);
    let spans: u64 = outcomes.iter().map(|o| o.spans).sum();
    let requests: u64 = outcomes.iter().map(|o| o.requests).sum();
    let errors: u64 = outcomes.iter().map(|o| o.errors).sum();
    let mut latencies: Vec<u64> = outcomes.iter().flat_map(|o| o.latencies_us.iter().copied()).collect();
    latencies.sort_unstable();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied();
    let rate = spans as f64 / wall;
    let per_span_us = |cpu: Option<f64>| cpu.map(|c| c * 1e6 / spans.max(1) as f64);
    if args.json {
        println!(
            "{{\"experiment_id\": \"{experiment_id}\", \"spans\": {spans}, \"requests\": {requests}, \"errors\": {errors}, \
             \"seconds\": {wall:.3}, \"spans_per_s\": {rate:.0}, \"p50_ms\": {:.3}, \"p95_ms\": {:.3}, \
             \"client_cpu_s\": {:.3}, \"server_cpu_s\": {}, \"server_cpu_us_per_span\": {}}}",
            pct(0.5).unwrap_or(0) as f64 / 1000.0,
            pct(0.95).unwrap_or(0) as f64 / 1000.0,
            own_cpu.unwrap_or(0.0),
            server_cpu.map(|c| format!("{c:.3}")).unwrap_or_else(|| "null".into()),
            per_span_us(server_cpu).map(|c| format!("{c:.2}")).unwrap_or_else(|| "null".into()),
        );
    } else {
        println!(
            "{spans} spans in {requests} requests ({errors} errors) over {} connections in {wall:.2} s: {rate:.0} spans/s",
            args.connections
        );
        println!(
            "request ({} spans) p50 {:.2} ms, p95 {:.2} ms; generator CPU {:.2} s ({:.2} µs/span)",
            args.spans_per_request,
            pct(0.5).unwrap_or(0) as f64 / 1000.0,
            pct(0.95).unwrap_or(0) as f64 / 1000.0,
            own_cpu.unwrap_or(0.0),
            per_span_us(own_cpu).unwrap_or(0.0)
        );
        if let Some(cpu) = server_cpu {
            println!("server CPU {cpu:.2} s ({:.2} µs/span)", per_span_us(Some(cpu)).unwrap_or(0.0));
        }
        println!("experiment {experiment_id}");
    }
    if let Some(error) = outcomes.iter().find_map(|o| o.first_error.clone()) {
        eprintln!("first error: {error}");
    }
    if errors > 0 || requests == 0 {
        std::process::exit(1);
    }
}
