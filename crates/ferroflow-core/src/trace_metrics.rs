//! Trace-metric rules that need no storage: MLflow's metric, aggregation and dimension tables
//! of the traces view and their messages, the `filters` grammar, the names of values and time
//! buckets in an answer, and the NPMI of two filters' counts.

use crate::entities::{Aggregation, CorrelationCounts, MetricView, TraceDimension, TraceMetric, TraceMetricFilter};
use crate::search::filter::{self, ParseOptions};
use crate::search::{Comparator, Literal};
use crate::{Error, Result};
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

/// A metric of the traces view, by its name.
pub fn trace_metric(name: &str) -> Result<TraceMetric> {
    TRACE_METRICS.iter().find(|(n, _)| *n == name).map(|(_, metric)| *metric).ok_or_else(|| {
        let names: Vec<&str> = TRACE_METRICS.iter().map(|(n, _)| *n).collect();
        Error::invalid(format!("metric_name must be one of {}, got '{name}'", python_list(&names)))
    })
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

fn allowed_aggregations(metric: TraceMetric) -> &'static [&'static str] {
    match metric {
        TraceMetric::TraceCount | TraceMetric::SessionCount => &["COUNT"],
        TraceMetric::Latency => &["AVG", "MAX", "MIN", "PERCENTILE"],
        _ => &["AVG", "MAX", "MIN", "PERCENTILE", "SUM"],
    }
}

fn allowed_dimensions(metric: TraceMetric) -> &'static [&'static str] {
    match metric {
        TraceMetric::TraceCount => &["trace_name", "trace_status"],
        TraceMetric::SessionCount => &[],
        _ => &["trace_name"],
    }
}

impl TraceDimension {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceDimension::TraceName => "trace_name",
            TraceDimension::TraceStatus => "trace_status",
        }
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
    Ok(dimensions
        .iter()
        .map(|name| if name == "trace_name" { TraceDimension::TraceName } else { TraceDimension::TraceStatus })
        .collect())
}

/// One `filters` entry of the traces view: a single `=` comparison with a quoted value.
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
    if view_type != "trace" {
        let plural = if view_type == "span" { MetricView::Spans } else { MetricView::Assessments };
        return Err(Error::invalid(format!(
            "Filtering by {view_type} is only supported for {} view type, got {}",
            plural.as_str(),
            view.as_str()
        )));
    }
    let key = key.unwrap_or("").trim_matches('`').to_string();
    Ok(match entity {
        "status" => TraceMetricFilter::Status(value.clone()),
        "tag" => TraceMetricFilter::Tag(key, value.clone()),
        _ => TraceMetricFilter::Metadata(key, value.clone()),
    })
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
        assert!(trace_metric("bogus").unwrap_err().message.starts_with("metric_name must be one of ['trace_count', "));
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
    fn npmi_follows_the_reference_policy() {
        let (plain, smoothed) = npmi(CorrelationCounts { total: 100, filter1: 20, filter2: 15, joint: 10 });
        assert!((plain - 0.522_878_745).abs() < 1e-6, "{plain}");
        assert!(smoothed > 0.0 && smoothed < plain);
        let (never, _) = npmi(CorrelationCounts { total: 10, filter1: 5, filter2: 5, joint: 0 });
        assert_eq!(never, -1.0);
        assert!(npmi(CorrelationCounts { total: 10, filter1: 0, filter2: 5, joint: 0 }).0.is_nan());
    }
}
