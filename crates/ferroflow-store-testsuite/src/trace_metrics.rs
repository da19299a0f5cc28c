//! The trace-metrics checks: counts, sums, averages and interpolated percentiles of the traces
//! view, grouped by time bucket, name and status, filtered by status, tags and metadata (run
//! links included), and the correlation counts of two trace filters.

use crate::{new_experiment, new_run};
use ferroflow_core::entities::*;
use ferroflow_core::search;
use ferroflow_core::store::Store;

struct Trace {
    id: &'static str,
    time: i64,
    duration: Option<i64>,
    state: TraceState,
    name: Option<&'static str>,
    session: Option<&'static str>,
    tokens: Option<&'static str>,
}

const TRACES: &[Trace] = &[
    Trace {
        id: "tr-000000000000000000000000000000e1",
        time: 1_000,
        duration: Some(10),
        state: TraceState::Ok,
        name: Some("a"),
        session: Some("s1"),
        tokens: Some(r#"{"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}"#),
    },
    Trace {
        id: "tr-000000000000000000000000000000e2",
        time: 2_000,
        duration: Some(20),
        state: TraceState::Ok,
        name: Some("a"),
        session: Some("s1"),
        tokens: Some(r#"{"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}"#),
    },
    Trace {
        id: "tr-000000000000000000000000000000e3",
        time: 61_000,
        duration: Some(30),
        state: TraceState::Error,
        name: Some("b"),
        session: Some("s2"),
        // A client may write anything here: it counts as no usage.
        tokens: Some("not json"),
    },
    Trace {
        id: "tr-000000000000000000000000000000e4",
        time: 62_000,
        duration: Some(40),
        state: TraceState::Ok,
        name: Some("b"),
        session: None,
        tokens: Some(r#"{"input_tokens": 5, "total_tokens": 5}"#),
    },
    Trace {
        id: "tr-000000000000000000000000000000e5",
        time: 130_000,
        duration: None,
        state: TraceState::InProgress,
        name: None,
        session: None,
        tokens: None,
    },
];

async fn start(store: &dyn Store, experiment_id: ExperimentId, trace: &Trace) {
    let mut metadata = Vec::new();
    if let Some(session) = trace.session {
        metadata.push((META_TRACE_SESSION.to_string(), session.to_string()));
    }
    if let Some(tokens) = trace.tokens {
        metadata.push((META_TOKEN_USAGE.to_string(), tokens.to_string()));
    }
    let info = TraceInfo {
        trace_id: TraceId::from_stored(trace.id),
        experiment_id,
        client_request_id: None,
        request_time: trace.time,
        execution_duration: trace.duration,
        state: trace.state,
        request_preview: None,
        response_preview: None,
        metadata,
        tags: trace.name.map(|name| vec![(TAG_TRACE_NAME.to_string(), name.to_string())]).unwrap_or_default(),
        assessments: Vec::new(),
    };
    store.start_trace(&info).await.expect("start trace");
}

fn query(experiment_id: ExperimentId, metric: TraceMetric, aggregations: &[Aggregation]) -> TraceMetricsQuery {
    TraceMetricsQuery {
        experiment_ids: vec![experiment_id],
        metric,
        aggregations: aggregations.to_vec(),
        dimensions: Vec::new(),
        filters: Vec::new(),
        time_interval_ms: None,
        start_time_ms: None,
        end_time_ms: None,
        max_results: 1000,
    }
}

async fn values(store: &dyn Store, query: &TraceMetricsQuery) -> Vec<Option<f64>> {
    let rows = store.query_trace_metrics(query).await.expect("query trace metrics");
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].values.clone()
}

pub async fn check_trace_metrics(store: &dyn Store) {
    let experiment = new_experiment(store, "metrics").await;
    let elsewhere = new_experiment(store, "metrics elsewhere").await;
    for trace in TRACES {
        start(store, experiment, trace).await;
    }
    let stray = Trace { id: "tr-000000000000000000000000000000e9", ..TRACES[0] };
    start(store, elsewhere, &stray).await;
    store.set_trace_tag(&TraceId::from_stored(TRACES[0].id), "env", "prod").await.expect("tag");
    let run = new_run(store, experiment, vec![]).await;
    store.link_traces_to_run(&[TraceId::from_stored(TRACES[3].id)], &run.info.run_id).await.expect("link");

    let count = query(experiment, TraceMetric::TraceCount, &[Aggregation::Count]);
    assert_eq!(values(store, &count).await, [Some(5.0)]);
    let by_status = TraceMetricsQuery { dimensions: vec![TraceDimension::TraceStatus], ..count.clone() };
    let rows = store.query_trace_metrics(&by_status).await.expect("by status");
    let found: Vec<(Vec<String>, Vec<Option<f64>>)> = rows.into_iter().map(|r| (r.dimensions, r.values)).collect();
    let expected =
        [("ERROR", 1.0), ("IN_PROGRESS", 1.0), ("OK", 3.0)].map(|(state, n)| (vec![state.to_string()], vec![Some(n)]));
    assert_eq!(found, expected);
    let one = TraceMetricsQuery { max_results: 1, ..by_status };
    assert_eq!(store.query_trace_metrics(&one).await.expect("limited").len(), 1);
    let sessions = query(experiment, TraceMetric::SessionCount, &[Aggregation::Count]);
    assert_eq!(values(store, &sessions).await, [Some(2.0)]);

    let latency = query(
        experiment,
        TraceMetric::Latency,
        &[
            Aggregation::Percentile(50.0),
            Aggregation::Percentile(90.0),
            Aggregation::Avg,
            Aggregation::Min,
            Aggregation::Max,
            Aggregation::Sum,
        ],
    );
    let found = values(store, &latency).await;
    let expected = [25.0, 37.0, 25.0, 10.0, 40.0, 100.0];
    for (value, expected) in found.iter().zip(expected) {
        let value = value.expect("a value");
        assert!((value - expected).abs() < 1e-9, "{found:?}");
    }

    let bucketed = TraceMetricsQuery {
        aggregations: vec![Aggregation::Percentile(50.0)],
        dimensions: vec![TraceDimension::TraceName],
        time_interval_ms: Some(60_000),
        ..latency.clone()
    };
    let rows = store.query_trace_metrics(&bucketed).await.expect("bucketed");
    let expected = vec![
        MetricRow { bucket_ms: Some(0), dimensions: vec!["a".into()], values: vec![Some(15.0)] },
        MetricRow { bucket_ms: Some(60_000), dimensions: vec!["b".into()], values: vec![Some(35.0)] },
    ];
    assert_eq!(rows, expected);

    let input = query(experiment, TraceMetric::InputTokens, &[Aggregation::Sum, Aggregation::Count]);
    assert_eq!(values(store, &input).await, [Some(9.0), Some(3.0)]);
    let total = query(experiment, TraceMetric::TotalTokens, &[Aggregation::Avg]);
    assert_eq!(values(store, &total).await, [Some(5.0)]);
    let output = query(experiment, TraceMetric::OutputTokens, &[Aggregation::Max]);
    assert_eq!(values(store, &output).await, [Some(4.0)]);

    let sum = query(experiment, TraceMetric::Latency, &[Aggregation::Sum]);
    for (filter, expected) in [
        (TraceMetricFilter::Status("OK".into()), 70.0),
        (TraceMetricFilter::Tag(TAG_TRACE_NAME.into(), "b".into()), 70.0),
        (TraceMetricFilter::Tag("env".into(), "prod".into()), 10.0),
        (TraceMetricFilter::Metadata(META_TRACE_SESSION.into(), "s1".into()), 30.0),
        (TraceMetricFilter::Metadata(META_SOURCE_RUN.into(), run.info.run_id.to_string()), 40.0),
    ] {
        let filtered = TraceMetricsQuery { filters: vec![filter.clone()], ..sum.clone() };
        assert_eq!(values(store, &filtered).await, [Some(expected)], "{filter:?}");
    }
    let nothing = TraceMetricsQuery { filters: vec![TraceMetricFilter::Status("NONE".into())], ..sum.clone() };
    assert_eq!(values(store, &nothing).await, [None]);
    let window = TraceMetricsQuery { start_time_ms: Some(2_000), end_time_ms: Some(61_000), ..count.clone() };
    assert_eq!(values(store, &window).await, [Some(2.0)]);
    let none = TraceMetricsQuery { experiment_ids: Vec::new(), ..count };
    assert!(store.query_trace_metrics(&none).await.expect("no experiments").is_empty());

    let filter = |text: &str| search::traces::parse_filter(text).expect("filter");
    let correlation = CorrelationQuery {
        experiment_ids: vec![experiment],
        base: Vec::new(),
        filter1: filter("trace.status = 'OK'"),
        filter2: filter("tags.`mlflow.traceName` = 'b'"),
    };
    let counts = store.trace_filter_correlation(&correlation).await.expect("correlation");
    assert_eq!(counts, CorrelationCounts { total: 5, filter1: 3, filter2: 2, joint: 1 });
    let based = CorrelationQuery { base: filter("trace.timestamp_ms > 1500"), ..correlation };
    let counts = store.trace_filter_correlation(&based).await.expect("correlation");
    assert_eq!(counts, CorrelationCounts { total: 4, filter1: 2, filter2: 2, joint: 1 });
}
