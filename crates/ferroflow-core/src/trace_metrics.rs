//! Trace-metric rules that need no storage: MLflow's metric, aggregation and dimension tables
//! of the traces, spans and assessments views and their messages, the `filters` grammar, the
//! names of values and time buckets in an answer, what a span's attributes tell the spans view
//! (model, provider, costs), and the NPMI of two filters' counts.

use crate::entities::{
    Aggregation, CorrelationCounts, MetricView, SpanAnalytics, TraceDimension, TraceMetric, TraceMetricFilter,
};
use crate::search::filter::{self, ParseOptions};
use crate::search::{Comparator, Literal};
use crate::{Error, Result};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const DEFAULT_MAX_RESULTS: i64 = 1000;

/// `TRACES`, `SPANS`, `ASSESSMENTS` (or their enum numbers).
pub fn view(text: &str) -> Result<MetricView> {
    match text {
        "TRACES" | "1" => Ok(MetricView::Traces),
        "SPANS" | "2" => Ok(MetricView::Spans),
        "ASSESSMENTS" | "3" => Ok(MetricView::Assessments),
        _ => Err(Error::invalid(format!("Invalid value for parameter 'view_type': {text}"))),
    }
}

impl MetricView {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricView::Traces => "TRACES",
            MetricView::Spans => "SPANS",
            MetricView::Assessments => "ASSESSMENTS",
        }
    }
}

const TRACE_METRICS: &[(&str, TraceMetric)] = &[
    ("trace_count", TraceMetric::TraceCount),
    ("session_count", TraceMetric::SessionCount),
    ("latency", TraceMetric::Latency),
    ("input_tokens", TraceMetric::InputTokens),
    ("output_tokens", TraceMetric::OutputTokens),
    ("total_tokens", TraceMetric::TotalTokens),
    ("cache_read_input_tokens", TraceMetric::CacheReadInputTokens),
    ("cache_creation_input_tokens", TraceMetric::CacheCreationInputTokens),
];

fn python_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("'{item}'")).collect();
    format!("[{}]", quoted.join(", "))
}

const SPAN_METRICS: &[(&str, TraceMetric)] = &[
    ("span_count", TraceMetric::SpanCount),
    ("latency", TraceMetric::SpanLatency),
    ("input_cost", TraceMetric::SpanInputCost),
    ("output_cost", TraceMetric::SpanOutputCost),
    ("total_cost", TraceMetric::SpanTotalCost),
];

const ASSESSMENT_METRICS: &[(&str, TraceMetric)] =
    &[("assessment_count", TraceMetric::AssessmentCount), ("assessment_value", TraceMetric::AssessmentValue)];

fn metrics_of(view: MetricView) -> &'static [(&'static str, TraceMetric)] {
    match view {
        MetricView::Traces => TRACE_METRICS,
        MetricView::Spans => SPAN_METRICS,
        MetricView::Assessments => ASSESSMENT_METRICS,
    }
}

/// A metric of `view`, by its name.
pub fn metric(view: MetricView, name: &str) -> Result<TraceMetric> {
    let table = metrics_of(view);
    table.iter().find(|(n, _)| *n == name).map(|(_, metric)| *metric).ok_or_else(|| {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        Error::invalid(format!("metric_name must be one of {}, got '{name}'", python_list(&names)))
    })
}

/// The view a metric belongs to.
pub fn view_of(metric: TraceMetric) -> MetricView {
    use TraceMetric::*;
    match metric {
        TraceCount
        | SessionCount
        | Latency
        | InputTokens
        | OutputTokens
        | TotalTokens
        | CacheReadInputTokens
        | CacheCreationInputTokens => MetricView::Traces,
        SpanCount | SpanLatency | SpanInputCost | SpanOutputCost | SpanTotalCost => MetricView::Spans,
        AssessmentCount | AssessmentValue => MetricView::Assessments,
    }
}

impl Aggregation {
    fn type_name(self) -> &'static str {
        match self {
            Aggregation::Count => "COUNT",
            Aggregation::Sum => "SUM",
            Aggregation::Avg => "AVG",
            Aggregation::Min => "MIN",
            Aggregation::Max => "MAX",
            Aggregation::Percentile(_) => "PERCENTILE",
        }
    }

    /// The key of its value in an answer: `COUNT`, `AVG`, …, `P50.0` (Python's float text).
    pub fn label(self) -> String {
        match self {
            Aggregation::Percentile(p) if p.fract() == 0.0 && p.abs() < 1e16 => format!("P{p:.1}"),
            Aggregation::Percentile(p) => format!("P{p}"),
            other => other.type_name().to_string(),
        }
    }
}

/// An aggregation as the wire names it (`aggregation_type`, `percentile_value`).
pub fn aggregation(type_name: &str, percentile: Option<f64>) -> Result<Aggregation> {
    let parsed = match type_name {
        "COUNT" | "1" => Aggregation::Count,
        "SUM" | "2" => Aggregation::Sum,
        "AVG" | "3" => Aggregation::Avg,
        "PERCENTILE" | "4" => {
            let value =
                percentile.ok_or_else(|| Error::invalid("Percentile value is required for PERCENTILE aggregation"))?;
            if !(0.0..=100.0).contains(&value) {
                return Err(Error::invalid(format!("Percentile value must be between 0 and 100, got {value}")));
            }
            return Ok(Aggregation::Percentile(value));
        }
        "MIN" | "5" => Aggregation::Min,
        "MAX" | "6" => Aggregation::Max,
        other => return Err(Error::invalid(format!("Invalid value for parameter 'aggregation_type': {other}"))),
    };
    if percentile.is_some() {
        return Err(Error::invalid(format!(
            "Percentile value is only allowed for PERCENTILE aggregation type, got {}",
            parsed.type_name()
        )));
    }
    Ok(parsed)
}

// Both tables are sorted by name: MLflow's messages list them sorted.
fn allowed_aggregations(metric: TraceMetric) -> &'static [&'static str] {
    use TraceMetric::*;
    match metric {
        TraceCount | SessionCount | SpanCount | AssessmentCount => &["COUNT"],
        Latency | SpanLatency | AssessmentValue => &["AVG", "MAX", "MIN", "PERCENTILE"],
        InputTokens
        | OutputTokens
        | TotalTokens
        | CacheReadInputTokens
        | CacheCreationInputTokens
        | SpanInputCost
        | SpanOutputCost
        | SpanTotalCost => &["AVG", "MAX", "MIN", "PERCENTILE", "SUM"],
    }
}

fn allowed_dimensions(metric: TraceMetric) -> &'static [&'static str] {
    use TraceMetric::*;
    match metric {
        TraceCount => &["trace_name", "trace_status"],
        SessionCount => &[],
        Latency | InputTokens | OutputTokens | TotalTokens | CacheReadInputTokens | CacheCreationInputTokens => {
            &["trace_name"]
        }
        SpanCount => &["span_model_name", "span_model_provider", "span_name", "span_status", "span_type"],
        SpanLatency => &["span_name", "span_status"],
        SpanInputCost | SpanOutputCost | SpanTotalCost => &["span_model_name", "span_model_provider"],
        AssessmentCount => &["assessment_name", "assessment_value"],
        AssessmentValue => &["assessment_name"],
    }
}

const DIMENSIONS: &[(&str, TraceDimension)] = &[
    ("trace_name", TraceDimension::TraceName),
    ("trace_status", TraceDimension::TraceStatus),
    ("span_name", TraceDimension::SpanName),
    ("span_type", TraceDimension::SpanType),
    ("span_status", TraceDimension::SpanStatus),
    ("span_model_name", TraceDimension::SpanModelName),
    ("span_model_provider", TraceDimension::SpanModelProvider),
    ("assessment_name", TraceDimension::AssessmentName),
    ("assessment_value", TraceDimension::AssessmentValue),
];

impl TraceDimension {
    pub fn as_str(self) -> &'static str {
        DIMENSIONS.iter().find(|(_, d)| *d == self).map_or("", |(name, _)| name)
    }
}

/// MLflow's check of a metric's aggregations and dimensions, with its messages.
pub fn check_query(
    metric: TraceMetric,
    aggregations: &[Aggregation],
    dimensions: &[String],
) -> Result<Vec<TraceDimension>> {
    let allowed = allowed_aggregations(metric);
    let mut invalid: Vec<&str> =
        aggregations.iter().map(|a| a.type_name()).filter(|name| !allowed.contains(name)).collect();
    invalid.sort_unstable();
    invalid.dedup();
    if !invalid.is_empty() {
        return Err(Error::invalid(format!(
            "Found invalid aggregation_type(s): {}. Supported aggregation types: {}",
            python_list(&invalid),
            python_list(allowed)
        )));
    }
    let allowed = allowed_dimensions(metric);
    let mut invalid: Vec<&str> = dimensions.iter().map(String::as_str).filter(|name| !allowed.contains(name)).collect();
    invalid.sort_unstable();
    invalid.dedup();
    if !invalid.is_empty() {
        return Err(Error::invalid(format!(
            "Found invalid dimension(s): {}. Supported dimensions: {}",
            python_list(&invalid),
            python_list(allowed)
        )));
    }
    // Every name passed the metric's table, which only holds names of `DIMENSIONS`.
    Ok(dimensions.iter().filter_map(|name| DIMENSIONS.iter().find(|(n, _)| n == name).map(|(_, d)| *d)).collect())
}

/// One `filters` entry of `view`: a single `=` comparison with a quoted value; `span.` filters
/// only in the spans view, `assessment.` filters only in the assessments view.
pub fn parse_filter(text: &str, view: MetricView) -> Result<TraceMetricFilter> {
    let clauses = filter::parse(text, ParseOptions { allow_double_quoted_values: true })?;
    let clause = match clauses.as_slice() {
        [clause] => clause,
        [] => return Err(Error::invalid(format!("Invalid filter: '{text}'. Expected one filter clause."))),
        // The reference's parser takes each `AND` for a stray token.
        more => {
            let ands = vec!["AND"; more.len() - 1].join(", ");
            return Err(Error::invalid(format!("Invalid clause(s) in filter string: {ands}")));
        }
    };
    let identifier = clause.identifier();
    let mut parts = identifier.splitn(3, '.');
    let (view_type, entity, key) = (parts.next().unwrap_or(""), parts.next(), parts.next());
    let Some(entity) = entity else {
        return Err(Error::invalid(format!(
            "Invalid identifier '{identifier}'. Columns should be specified as 'trace.<key>', 'span.<key>', \
             'assessment.<key>'."
        )));
    };
    let entities: &[(&str, bool)] = match view_type {
        "trace" => &[("status", false), ("tag", true), ("metadata", true)],
        "span" => &[("name", false), ("status", false), ("type", false)],
        "assessment" => &[("name", false), ("type", false)],
        other => {
            return Err(Error::invalid(format!(
                "Invalid view type '{other}'. Valid values are dict_keys(['trace', 'span', 'assessment'])"
            )))
        }
    };
    let Some((_, needs_key)) = entities.iter().find(|(name, _)| *name == entity) else {
        let names: Vec<&str> = entities.iter().map(|(name, _)| *name).collect();
        return Err(Error::invalid(format!(
            "Invalid entity '{entity}' specified for view type '{view_type}'. Valid entities are {}",
            python_list(&names)
        )));
    };
    if *needs_key && key.is_none() {
        return Err(Error::invalid(format!(
            "Filtering by {entity} requires a key, e.g. '{view_type}.{entity}.<key> = <value>'"
        )));
    }
    if !*needs_key && key.is_some() {
        return Err(Error::invalid(format!(
            "Filtering by {entity} does not require a key, use '{view_type}.{entity}' instead"
        )));
    }
    if clause.comparator != Comparator::Eq {
        return Err(Error::invalid(format!(
            "Invalid comparator: '{}', only '=' operator is supported",
            clause.comparator.as_str()
        )));
    }
    let Literal::Str(value) = &clause.value else {
        return Err(Error::invalid(format!(
            "Expected a quoted string value for {entity} value (e.g. 'my-value'). Got value {}",
            clause.value.as_text().unwrap_or_default()
        )));
    };
    let own_view = match view_type {
        "span" => Some(MetricView::Spans),
        "assessment" => Some(MetricView::Assessments),
        _ => None,
    };
    if let Some(own) = own_view.filter(|own| *own != view) {
        return Err(Error::invalid(format!(
            "Filtering by {view_type} is only supported for {} view type, got {}",
            own.as_str(),
            view.as_str()
        )));
    }
    let key = key.unwrap_or("").trim_matches('`').to_string();
    let value = value.clone();
    Ok(match (view_type, entity) {
        ("span", "name") => TraceMetricFilter::SpanName(value),
        ("span", "status") => TraceMetricFilter::SpanStatus(value),
        ("span", _) => TraceMetricFilter::SpanType(value),
        ("assessment", "name") => TraceMetricFilter::AssessmentName(value),
        ("assessment", _) => TraceMetricFilter::AssessmentType(value),
        (_, "status") => TraceMetricFilter::Status(value),
        (_, "tag") => TraceMetricFilter::Tag(key, value),
        _ => TraceMetricFilter::Metadata(key, value),
    })
}

/// Model names and providers are cut to this many characters, as MLflow stores them.
const MODEL_DIMENSION_MAX_CHARS: usize = 500;

/// What the spans view reads from a span's attributes (MLflow's canonical form): the model
/// (`mlflow.llm.model`) and provider (`mlflow.llm.provider`), a string as it is and any other
/// value as its JSON text, cut to 500 characters; the costs (`mlflow.llm.cost`, an object
/// with `input_cost`, `output_cost`, `total_cost`), each a finite number or a string that reads
/// as one (booleans and anything else count as no cost).
pub fn span_analytics(attributes: &Map<String, Value>) -> SpanAnalytics {
    let dimension = |key: &str| {
        let text = match attributes.get(key)? {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(match text.char_indices().nth(MODEL_DIMENSION_MAX_CHARS) {
            Some((cut, _)) => text[..cut].to_string(),
            None => text,
        })
    };
    let cost = attributes.get("mlflow.llm.cost").and_then(Value::as_object);
    let amount = |key: &str| {
        let number = match cost?.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        number.filter(|n| n.is_finite())
    };
    SpanAnalytics {
        model_name: dimension("mlflow.llm.model"),
        model_provider: dimension("mlflow.llm.provider"),
        input_cost: amount("input_cost"),
        output_cost: amount("output_cost"),
        total_cost: amount("total_cost"),
    }
}

/// A bucket's start as Python's `datetime.isoformat()` writes it in UTC: `2026-01-02T03:00:00+00:00`.
pub fn bucket_label(ms: i64) -> String {
    let dt =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let text = dt.replace_nanosecond(0).unwrap_or(dt).format(&Rfc3339).unwrap_or_default();
    let stem = text.trim_end_matches('Z');
    let micros = ms.rem_euclid(1000) * 1000;
    if micros == 0 {
        format!("{stem}+00:00")
    } else {
        format!("{stem}.{micros:06}+00:00")
    }
}

/// The NPMI of two filters over the same traces, plain and with Jeffreys smoothing (0.5 added to
/// each cell): NaN when either filter matches nothing, -1 (plain) when they never meet.
pub fn npmi(counts: CorrelationCounts) -> (f64, f64) {
    let CorrelationCounts { total, filter1, filter2, joint } = counts;
    if total <= 0 || filter1 == 0 || filter2 == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (n11, n10, n01) = (joint, filter1 - joint, filter2 - joint);
    let n00 = total - filter1 - filter2 + joint;
    if n11.min(n10).min(n01).min(n00) < 0 {
        return (f64::NAN, f64::NAN);
    }
    let cells = [n11 as f64, n10 as f64, n01 as f64, n00 as f64];
    let plain = if joint == 0 { -1.0 } else { npmi_core(cells, 0.0) };
    (plain, npmi_core(cells, 0.5))
}

fn npmi_core([n11, n10, n01, n00]: [f64; 4], smoothing: f64) -> f64 {
    let (s11, s10, s01, s00) = (n11 + smoothing, n10 + smoothing, n01 + smoothing, n00 + smoothing);
    let total = s11 + s10 + s01 + s00;
    let (n1, n2) = (s11 + s10, s11 + s01);
    if n1 <= 0.0 || n2 <= 0.0 || s11 <= 0.0 {
        return f64::NAN;
    }
    if n10 == 0.0 && n01 == 0.0 && n00 == 0.0 {
        return 1.0;
    }
    let pmi = (s11.ln() + total.ln()) - (n1.ln() + n2.ln());
    let denominator = -(s11.ln() - total.ln());
    (pmi / denominator).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_buckets_read_as_mlflow_writes_them() {
        assert_eq!(Aggregation::Percentile(50.0).label(), "P50.0");
        assert_eq!(Aggregation::Percentile(99.9).label(), "P99.9");
        assert_eq!(Aggregation::Avg.label(), "AVG");
        assert_eq!(bucket_label(3_600_000), "1970-01-01T01:00:00+00:00");
    }

    #[test]
    fn checks_use_mlflows_messages() {
        assert!(metric(MetricView::Traces, "bogus")
            .unwrap_err()
            .message
            .starts_with("metric_name must be one of ['trace_count', "));
        let err = check_query(TraceMetric::TraceCount, &[Aggregation::Sum], &[]).unwrap_err();
        assert_eq!(err.message, "Found invalid aggregation_type(s): ['SUM']. Supported aggregation types: ['COUNT']");
        let err = check_query(TraceMetric::Latency, &[Aggregation::Avg], &["trace_status".into()]).unwrap_err();
        assert_eq!(err.message, "Found invalid dimension(s): ['trace_status']. Supported dimensions: ['trace_name']");
    }

    #[test]
    fn filters_take_trace_fields() {
        let traces = MetricView::Traces;
        assert_eq!(parse_filter("trace.status = 'OK'", traces).unwrap(), TraceMetricFilter::Status("OK".into()));
        assert_eq!(
            parse_filter("trace.tag.env = 'prod'", traces).unwrap(),
            TraceMetricFilter::Tag("env".into(), "prod".into())
        );
        assert!(parse_filter("trace.status != 'OK'", traces).unwrap_err().message.starts_with("Invalid comparator"));
        assert!(parse_filter("span.name = 'x'", traces).unwrap_err().message.contains("only supported for SPANS"));
        assert!(parse_filter("trace.tag = 'x'", traces).unwrap_err().message.contains("requires a key"));
        let two = parse_filter("trace.status = 'OK' AND trace.tag.a = 'b'", traces).unwrap_err();
        assert_eq!(two.message, "Invalid clause(s) in filter string: AND");
    }

    #[test]
    fn spans_and_assessments_views_have_their_own_tables() {
        assert_eq!(metric(MetricView::Spans, "latency").unwrap(), TraceMetric::SpanLatency);
        let err = metric(MetricView::Assessments, "latency").unwrap_err();
        assert_eq!(err.message, "metric_name must be one of ['assessment_count', 'assessment_value'], got 'latency'");
        let err = check_query(TraceMetric::SpanLatency, &[Aggregation::Avg], &["span_type".into()]).unwrap_err();
        assert_eq!(
            err.message,
            "Found invalid dimension(s): ['span_type']. Supported dimensions: ['span_name', 'span_status']"
        );
        let dims =
            check_query(TraceMetric::SpanCount, &[Aggregation::Count], &["span_model_name".into(), "span_type".into()]);
        assert_eq!(dims.unwrap(), vec![TraceDimension::SpanModelName, TraceDimension::SpanType]);
        assert_eq!(TraceDimension::AssessmentValue.as_str(), "assessment_value");
        let spans = MetricView::Spans;
        assert_eq!(parse_filter("span.type = 'LLM'", spans).unwrap(), TraceMetricFilter::SpanType("LLM".into()));
        assert_eq!(parse_filter("trace.status = 'OK'", spans).unwrap(), TraceMetricFilter::Status("OK".into()));
        let err = parse_filter("assessment.name = 'x'", spans).unwrap_err();
        assert_eq!(err.message, "Filtering by assessment is only supported for ASSESSMENTS view type, got SPANS");
        assert_eq!(
            parse_filter("assessment.type = 'feedback'", MetricView::Assessments).unwrap(),
            TraceMetricFilter::AssessmentType("feedback".into())
        );
    }

    #[test]
    fn span_analytics_read_model_and_cost_attributes() {
        let attributes = serde_json::json!({
            "mlflow.llm.model": "m".repeat(600), "mlflow.llm.provider": 7,
            "mlflow.llm.cost": {"input_cost": 0.5, "output_cost": "0.25", "total_cost": true},
        });
        let found = span_analytics(attributes.as_object().unwrap());
        assert_eq!(found.model_name.as_deref().map(str::len), Some(500));
        assert_eq!(found.model_provider.as_deref(), Some("7"));
        assert_eq!((found.input_cost, found.output_cost, found.total_cost), (Some(0.5), Some(0.25), None));
        assert_eq!(span_analytics(&Map::new()), SpanAnalytics::default());
    }

    #[test]
    fn npmi_follows_the_reference_policy() {
        let (plain, smoothed) = npmi(CorrelationCounts { total: 100, filter1: 20, filter2: 15, joint: 10 });
        assert!((plain - 0.522_878_745).abs() < 1e-6, "{plain}");
        assert!(smoothed > 0.0 && smoothed < plain);
        let (never, _) = npmi(CorrelationCounts { total: 10, filter1: 5, filter2: 5, joint: 0 });
        assert_eq!(never, -1.0);
        assert!(npmi(CorrelationCounts { total: 10, filter1: 0, filter2: 5, joint: 0 }).0.is_nan());
    }
}
