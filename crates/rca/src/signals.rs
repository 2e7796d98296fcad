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
/// A series whose last point is older than this share of the window, before its end, stopped
/// reporting.
const VANISHED_SHARE: f64 = 0.1;
/// A relative change reported when the baseline was zero.
pub const FROM_ZERO: f64 = 100.0;

/// When and how much a series first moved away from its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Movement {
    /// The first of two consecutive points away from the baseline (one point is a blip), or
    /// the first point of a series that only appeared after the baseline.
    pub at: DateTime<Utc>,
    /// The largest change over the window, relative to the baseline (1.5 is +150 %);
    /// [`FROM_ZERO`] when the baseline was zero or absent.
    pub change: f64,
}

/// What a series showed over the window.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// It moved away from its baseline.
    Moved(Movement),
    /// It held its baseline.
    Still,
    /// Prometheus had no samples for it (a template that does not fit this service, say): it
    /// says nothing either way.
    NoData,
    /// The query failed; it says nothing either way.
    Failed(String),
}

impl Reading {
    /// The movement, when it moved.
    pub fn movement(&self) -> Option<Movement> {
        match self {
            Reading::Moved(movement) => Some(*movement),
            _ => None,
        }
    }
}

/// How `series` behaved over `window` (start, and the end or now, whichever is earlier): the
/// first quarter of the window is its baseline.
pub fn read(series: &Series, window: (DateTime<Utc>, DateTime<Utc>)) -> Reading {
    let (Some(&(first_at, _)), Some(&(last_at, _))) = (series.first(), series.last()) else {
        return Reading::NoData;
    };
    let (start, end) = window;
    let share = |part: f64| (end - start) * ((part * 1000.0) as i32) / 1000;
    let baseline_end = start + share(BASELINE_SHARE);
    if last_at < end - share(VANISHED_SHARE) {
        // It stopped reporting (a crashed target's series goes stale): what it did after
        // cannot be read, which says nothing either way.
        return Reading::NoData;
    }
    // Absent before the baseline's end, a series that only exists while something is wrong
    // (5xx responses, say) is read against zero.
    let baseline: Vec<f64> = if first_at > baseline_end {
        vec![0.0]
    } else {
        series
            .iter()
            .take_while(|(at, _)| *at <= baseline_end)
            .map(|(_, value)| *value)
            .collect()
    };
    let rest = &series[series.partition_point(|(at, _)| *at <= baseline_end)..];
    if rest.len() < 2 {
        return Reading::NoData;
    }
    let mean = baseline.iter().sum::<f64>() / baseline.len() as f64;
    let deviation =
        (baseline.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / baseline.len() as f64).sqrt();
    let threshold = (mean.abs() * MIN_RELATIVE_CHANGE)
        .max(deviation * MIN_DEVIATIONS)
        .max(f64::EPSILON);
    let away = |value: f64| (value - mean).abs() > threshold;
    let Some(at) = rest
        .windows(2)
        .find(|pair| away(pair[0].1) && away(pair[1].1))
        .map(|pair| pair[0].0)
    else {
        return Reading::Still;
    };
    let largest = rest
        .iter()
        .map(|(_, value)| (value - mean).abs())
        .fold(0.0, f64::max);
    let change = if mean.abs() > f64::EPSILON {
        largest / mean.abs()
    } else {
        FROM_ZERO
    };
    Reading::Moved(Movement { at, change })
}

/// A standard signal, as queried around the alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Its name in the settings (`memory`, `errors` …), which patterns refer to.
    pub name: String,
    /// The PromQL that was run, for citation.
    pub query: String,
    /// What it showed.
    pub reading: Reading,
}

/// What the metrics say of a pattern, by the signals it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// One of its signals moved first of all.
    MovedFirst,
    /// One of its signals moved, after another.
    MovedLater,
    /// Its signals were read and none moved.
    Still,
    /// None of its signals was read (no data, failed, or none named).
    Silent,
}

impl Support {
    /// What the pattern's likelihood is multiplied by.
    pub fn weight(self) -> f64 {
        match self {
            Support::MovedFirst => 1.3,
            Support::MovedLater => 1.1,
            Support::Still => 0.8,
            Support::Silent => 1.0,
        }
    }
}

/// What the metrics say about an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricEvidence {
    /// The Prometheus queried, for citation (without credentials).
    pub prometheus: String,
    /// The alert's own expression, as queried.
    pub expression: String,
    /// What it showed.
    pub expression_reading: Reading,
    /// The signals, those that moved first (earliest, then largest), then the others.
    pub signals: Vec<Signal>,
}

impl MetricEvidence {
    /// Orders the signals: moved first and most, then the rest by name.
    pub fn rank(&mut self) {
        self.signals
            .sort_by(|a, b| match (a.reading.movement(), b.reading.movement()) {
                (Some(x), Some(y)) => x.at.cmp(&y.at).then(y.change.total_cmp(&x.change)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.name.cmp(&b.name),
            });
    }

    /// The signal that moved first, if any did.
    pub fn first_mover(&self) -> Option<&Signal> {
        self.signals
            .first()
            .filter(|s| s.reading.movement().is_some())
    }

    /// What the metrics say of a pattern naming `signals`.
    pub fn support(&self, signals: &[String]) -> Support {
        let read: Vec<&Signal> = self
            .signals
            .iter()
            .filter(|s| signals.contains(&s.name))
            .filter(|s| matches!(s.reading, Reading::Moved(_) | Reading::Still))
            .collect();
        if read.is_empty() {
            Support::Silent
        } else if self
            .first_mover()
            .is_some_and(|s| signals.contains(&s.name))
        {
            Support::MovedFirst
        } else if read.iter().any(|s| s.reading.movement().is_some()) {
            Support::MovedLater
        } else {
            Support::Still
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn at(i: usize) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::seconds(15 * i as i64)
    }

    fn series(values: &[f64]) -> Vec<(DateTime<Utc>, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (at(i), *v))
            .collect()
    }

    fn window() -> (DateTime<Utc>, DateTime<Utc>) {
        (at(0), at(9))
    }

    #[test]
    fn a_climb_is_found_where_it_starts_and_a_blip_is_not() {
        let climbing = series(&[100., 101., 99., 100., 100., 100., 150., 200., 300., 400.]);
        let moved = read(&climbing, window()).movement().unwrap();
        assert_eq!(moved.at, climbing[6].0);
        assert!((moved.change - 3.0).abs() < 0.01, "{moved:?}");
        let blip = series(&[100., 101., 99., 100., 100., 300., 100., 100., 101., 100.]);
        assert_eq!(read(&blip, window()), Reading::Still);
        assert_eq!(read(&series(&[5.; 10]), window()), Reading::Still);
    }

    #[test]
    fn a_rise_from_zero_and_a_series_that_appears_late_count_and_no_samples_say_nothing() {
        let errors = series(&[0., 0., 0., 0., 0., 0., 0., 3., 5., 8.]);
        let moved = read(&errors, window()).movement().unwrap();
        assert_eq!((moved.at, moved.change), (errors[7].0, FROM_ZERO));
        let late: Vec<_> = errors[7..].to_vec();
        assert_eq!(
            read(&late, window()),
            Reading::Moved(Movement {
                at: at(7),
                change: FROM_ZERO
            })
        );
        let late_zeros: Vec<_> = series(&[0.; 10])[6..].to_vec();
        assert_eq!(read(&late_zeros, window()), Reading::Still);
        assert_eq!(read(&[], window()), Reading::NoData);
        assert_eq!(
            read(&errors[9..], window()),
            Reading::NoData,
            "one point is no reading"
        );
        let stopped: Vec<_> = series(&[100., 100., 100., 100., 100., 100.]);
        assert_eq!(
            read(&stopped, window()),
            Reading::NoData,
            "a series that stopped"
        );
    }

    #[test]
    fn signals_rank_by_who_moved_first_and_support_patterns() {
        let signal = |name: &str, reading: Reading| Signal {
            name: name.into(),
            query: format!("q_{name}"),
            reading,
        };
        let moved = |i: usize, change: f64| Reading::Moved(Movement { at: at(i), change });
        let mut evidence = MetricEvidence {
            prometheus: "http://prometheus".into(),
            expression: "errors".into(),
            expression_reading: Reading::Still,
            signals: vec![
                signal("errors", moved(7, 100.0)),
                signal("cpu", Reading::Still),
                signal("memory", moved(4, 3.0)),
                signal("restarts", Reading::NoData),
                signal("latency", Reading::Failed("timeout".into())),
            ],
        };
        evidence.rank();
        let names: Vec<&str> = evidence.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["memory", "errors", "cpu", "latency", "restarts"]);
        assert_eq!(evidence.support(&["memory".into()]), Support::MovedFirst);
        assert_eq!(evidence.support(&["errors".into()]), Support::MovedLater);
        assert_eq!(evidence.support(&["cpu".into()]), Support::Still);
        assert_eq!(
            evidence.support(&["restarts".into(), "latency".into()]),
            Support::Silent
        );
        assert_eq!(evidence.support(&["saturation".into()]), Support::Silent);
    }
}
