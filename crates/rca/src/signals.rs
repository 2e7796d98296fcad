//! Evidence from metrics: when the alert's own expression changed, and which of the service's
//! standard signals (CPU, memory, restarts, errors, latency, saturation) moved first and most
//! around it. The worker queries Prometheus; this module only reads the series, so it is tested
//! on plain values.

use chrono::{DateTime, Utc};

/// One series: `(time, value)` in time order.
pub type Series = [(DateTime<Utc>, f64)];

/// Share of the window, from its start, taken as the baseline before anything moved.
const BASELINE_SHARE: f64 = 0.25;
/// A change smaller than this share of the baseline is noise.
const MIN_RELATIVE_CHANGE: f64 = 0.2;
/// … and smaller than this many standard deviations of the baseline.
const MIN_DEVIATIONS: f64 = 3.0;
/// A relative change reported when the baseline was zero.
const FROM_ZERO: f64 = 100.0;

/// When and how much a series first moved away from its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Movement {
    /// The first of two consecutive points away from the baseline (one point is a blip).
    pub at: DateTime<Utc>,
    /// The largest change over the window, relative to the baseline (1.5 is +150 %).
    pub change: f64,
}

/// When `series` first moved away from its baseline (its first quarter), if it did.
pub fn first_movement(series: &Series) -> Option<Movement> {
    if series.len() < 4 {
        return None;
    }
    let (first, last) = (series[0].0, series[series.len() - 1].0);
    let baseline_end = first + (last - first) * ((BASELINE_SHARE * 1000.0) as i32) / 1000;
    let baseline: Vec<f64> = series
        .iter()
        .take_while(|(at, _)| *at <= baseline_end)
        .map(|(_, value)| *value)
        .collect();
    if baseline.is_empty() || baseline.len() == series.len() {
        return None;
    }
    let mean = baseline.iter().sum::<f64>() / baseline.len() as f64;
    let deviation =
        (baseline.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / baseline.len() as f64).sqrt();
    let threshold = (mean.abs() * MIN_RELATIVE_CHANGE)
        .max(deviation * MIN_DEVIATIONS)
        .max(f64::EPSILON);
    let away = |value: f64| (value - mean).abs() > threshold;
    let rest = &series[baseline.len()..];
    let at = rest
        .windows(2)
        .find(|pair| away(pair[0].1) && away(pair[1].1))
        .map(|pair| pair[0].0)?;
    let largest = rest
        .iter()
        .map(|(_, value)| (value - mean).abs())
        .fold(0.0, f64::max);
    let change = if mean.abs() > f64::EPSILON {
        largest / mean.abs()
    } else {
        FROM_ZERO
    };
    Some(Movement { at, change })
}

/// A standard signal, as queried around the alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Its name in the settings (`memory`, `errors` …), which patterns refer to.
    pub name: String,
    /// The PromQL that was run, for citation.
    pub query: String,
    /// When and how much it moved; `None` when it stayed put.
    pub movement: Option<Movement>,
}

/// What the metrics say about an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricEvidence {
    /// The Prometheus queried, for citation.
    pub prometheus: String,
    /// The alert's own expression.
    pub expression: String,
    /// When the expression's value changed, if it did within the window.
    pub expression_moved: Option<Movement>,
    /// The signals, those that moved first (earliest, then largest), then those that did not.
    pub signals: Vec<Signal>,
}

impl MetricEvidence {
    /// Orders the signals: moved first and most, then the rest by name.
    pub fn rank(&mut self) {
        self.signals
            .sort_by(|a, b| match (&a.movement, &b.movement) {
                (Some(x), Some(y)) => x.at.cmp(&y.at).then(y.change.total_cmp(&x.change)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.name.cmp(&b.name),
            });
    }

    /// The signal that moved first, if any did.
    pub fn first_mover(&self) -> Option<&Signal> {
        self.signals.first().filter(|s| s.movement.is_some())
    }

    /// How much a pattern that names `signals` is believed more (above 1) or less (below 1):
    /// more when one of its signals moved first, a little more when one moved later, less when
    /// none of those queried moved.
    pub fn weight_for(&self, signals: &[String]) -> f64 {
        let queried: Vec<&Signal> = self
            .signals
            .iter()
            .filter(|s| signals.contains(&s.name))
            .collect();
        if queried.is_empty() {
            return 1.0;
        }
        if self
            .first_mover()
            .is_some_and(|s| signals.contains(&s.name))
        {
            1.3
        } else if queried.iter().any(|s| s.movement.is_some()) {
            1.1
        } else {
            0.8
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn series(values: &[f64]) -> Vec<(DateTime<Utc>, f64)> {
        let start = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (start + TimeDelta::seconds(15 * i as i64), *v))
            .collect()
    }

    #[test]
    fn a_climb_is_found_where_it_starts_and_a_blip_is_not() {
        let climbing = series(&[100., 101., 99., 100., 100., 100., 150., 200., 300., 400.]);
        let moved = first_movement(&climbing).unwrap();
        assert_eq!(moved.at, climbing[6].0);
        assert!((moved.change - 3.0).abs() < 0.01, "{moved:?}");
        let blip = series(&[100., 101., 99., 100., 100., 300., 100., 100., 101., 100.]);
        assert_eq!(first_movement(&blip), None);
        let flat = series(&[5.; 10]);
        assert_eq!(first_movement(&flat), None);
    }

    #[test]
    fn a_rise_from_zero_counts() {
        let errors = series(&[0., 0., 0., 0., 0., 0., 0., 3., 5., 8.]);
        let moved = first_movement(&errors).unwrap();
        assert_eq!(moved.at, errors[7].0);
        assert_eq!(moved.change, FROM_ZERO);
    }

    #[test]
    fn signals_rank_by_who_moved_first_and_weigh_patterns() {
        let at = |i: usize| series(&[0.; 10])[i].0;
        let signal = |name: &str, moved: Option<(usize, f64)>| Signal {
            name: name.into(),
            query: format!("q_{name}"),
            movement: moved.map(|(i, change)| Movement { at: at(i), change }),
        };
        let mut evidence = MetricEvidence {
            prometheus: "http://prometheus".into(),
            expression: "errors > 1".into(),
            expression_moved: None,
            signals: vec![
                signal("errors", Some((7, 100.0))),
                signal("cpu", None),
                signal("memory", Some((4, 3.0))),
            ],
        };
        evidence.rank();
        let names: Vec<&str> = evidence.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["memory", "errors", "cpu"]);
        assert_eq!(evidence.weight_for(&["memory".into()]), 1.3);
        assert_eq!(evidence.weight_for(&["errors".into()]), 1.1);
        assert_eq!(evidence.weight_for(&["cpu".into()]), 0.8);
        assert_eq!(evidence.weight_for(&["latency".into()]), 1.0);
    }
}
