//! How values read on a page: times, durations, JSON with long strings folded, SVG charts.

use maud::{html, Markup, PreEscaped};
use serde_json::Value;

/// Epoch ms as `2026-12-05 03:00:00` (UTC).
pub fn when(ms: i64) -> String {
    let text = ferroflow_core::time::millis_to_rfc3339(ms);
    text.get(..19).map(|t| t.replace('T', " ")).unwrap_or(text)
}

/// A duration in ms, short: `850 ms`, `2.41 s`, `3.2 min`.
pub fn duration_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{:.1} min", ms / 60_000.0)
    }
}

/// Strings longer than this are folded behind a `<details>` with their head shown.
const FOLD_CHARS: usize = 240;

/// A JSON value as indented text; long strings fold. Strings that hold JSON are shown as
/// the JSON they hold (span attributes are stored JSON-encoded).
pub fn json(value: &Value) -> Markup {
    html! { pre.json { (json_node(value, 0)) } }
}

/// A stored attribute value: JSON text inside a string becomes that JSON.
pub fn decoded(value: &Value) -> Value {
    match value {
        Value::String(text) if text.starts_with(['{', '[', '"']) => {
            serde_json::from_str(text).unwrap_or_else(|_| value.clone())
        }
        other => other.clone(),
    }
}

fn json_node(value: &Value, depth: usize) -> Markup {
    let pad = "  ".repeat(depth + 1);
    let end_pad = "  ".repeat(depth);
    match value {
        Value::Object(map) if map.is_empty() => html! { "{}" },
        Value::Array(items) if items.is_empty() => html! { "[]" },
        Value::Object(map) => html! {
            "{\n"
            @for (i, (key, item)) in map.iter().enumerate() {
                (pad) span.k { (serde_json::to_string(key).unwrap_or_default()) } ": " (json_node(item, depth + 1))
                @if i + 1 < map.len() { "," } "\n"
            }
            (end_pad) "}"
        },
        Value::Array(items) => html! {
            "[\n"
            @for (i, item) in items.iter().enumerate() {
                (pad) (json_node(item, depth + 1))
                @if i + 1 < items.len() { "," } "\n"
            }
            (end_pad) "]"
        },
        Value::String(text) if text.chars().count() > FOLD_CHARS => {
            let head: String = text.chars().take(FOLD_CHARS).collect();
            let quoted = serde_json::to_string(text).unwrap_or_default();
            html! {
                details.fold {
                    summary { span.s { "\"" (head) "…\"" } " (" (text.chars().count()) " chars)" }
                    span.s { (quoted) }
                }
            }
        }
        Value::String(text) => html! { span.s { (serde_json::to_string(text).unwrap_or_default()) } },
        other => html! { span.n { (other.to_string()) } },
    }
}

/// A small SVG plot of `points` (x, y) as bars over time; `label` names the y axis.
pub fn bar_chart(label: &str, points: &[(i64, f64)], unit: impl Fn(f64) -> String) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 90.0;
    let (Some(x0), Some(x1)) = (points.iter().map(|p| p.0).min(), points.iter().map(|p| p.0).max()) else {
        return html! {};
    };
    let ymax = points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let span = (x1 - x0).max(1) as f64;
    let bar = (W / points.len().max(1) as f64).clamp(1.0, 8.0);
    html! {
        figure.chart {
            figcaption { (label) " · max " (unit(ymax)) }
            svg viewBox=(format!("0 0 {W} {H}")) preserveAspectRatio="none" role="img" aria-label=(label) {
                @for (x, y) in points {
                    @let px = (*x - x0) as f64 / span * (W - bar);
                    @let h = (y / ymax * (H - 2.0)).max(1.0);
                    rect x=(format!("{px:.1}")) y=(format!("{:.1}", H - h)) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) {
                        title { (when(*x)) ": " (unit(*y)) }
                    }
                }
            }
        }
    }
}

/// A line plot of `(step, value)` points in SVG, for a metric history.
pub fn line_chart(label: &str, points: &[(i64, f64)]) -> Markup {
    const W: f64 = 400.0;
    const H: f64 = 120.0;
    if points.is_empty() {
        return html! {};
    }
    let (x0, x1) = points.iter().fold((i64::MAX, i64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (y0, y1) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let xs = (x1 - x0).max(1) as f64;
    let ys = if y1 > y0 { y1 - y0 } else { 1.0 };
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| {
            format!("{:.1},{:.1}", (*x - x0) as f64 / xs * (W - 4.0) + 2.0, H - 2.0 - (y - y0) / ys * (H - 4.0))
        })
        .collect();
    let last = points.last().map(|p| p.1).unwrap_or_default();
    html! {
        figure.chart.metric {
            figcaption { strong { (label) } " · last " (format!("{last:.4}")) " · min " (format!("{y0:.4}")) " · max " (format!("{y1:.4}")) " · " (points.len()) " points" }
            svg viewBox=(format!("0 0 {W} {H}")) preserveAspectRatio="none" role="img" aria-label=(format!("{label} history")) {
                @if points.len() == 1 {
                    circle cx=(W / 2.0) cy=(H / 2.0) r="3" {}
                } @else {
                    polyline points=(path.join(" ")) {}
                }
            }
        }
    }
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` written as JSON
/// escapes, so no text inside can end the element or start markup.
pub fn json_data_block(value: &str) -> PreEscaped<String> {
    PreEscaped(value.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_block_cannot_close_its_script_element() {
        let text = serde_json::to_string(&serde_json::json!(["</script><script>alert(1)</script>&"])).unwrap();
        let block = json_data_block(&text).0;
        assert!(!block.contains('<') && !block.contains('>') && !block.contains('&'), "{block}");
        let back: Value = serde_json::from_str(&block).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>&");
    }

    #[test]
    fn json_escapes_markup_and_folds_long_strings() {
        let html = json(&serde_json::json!({"<b>": "<img src=x onerror=alert(1)>", "long": "y".repeat(500)})).0;
        assert!(!html.contains("<img") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("<details class=\"fold\">") && html.contains("(500 chars)"));
    }

    #[test]
    fn stored_attribute_json_is_decoded() {
        assert_eq!(decoded(&Value::String("{\"a\":1}".into())), serde_json::json!({"a": 1}));
        assert_eq!(decoded(&Value::String("plain".into())), Value::String("plain".into()));
        assert_eq!(decoded(&Value::String("{not json".into())), Value::String("{not json".into()));
    }
}
