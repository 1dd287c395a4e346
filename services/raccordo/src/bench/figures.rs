//! What a suite reports: named figures, one value per run, shown as min / median / max, and the
//! notes that say what was measured and how.

use std::time::Duration;

/// One measured quantity across runs.
#[derive(Debug, Clone)]
struct Figure {
    label: String,
    unit: String,
    values: Vec<f64>,
}

/// A suite's figures, in the order first reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct Figures {
    suite: String,
    runs: u32,
    figures: Vec<Figure>,
    notes: Vec<String>,
}

impl Figures {
    pub fn new(suite: &str, runs: u32) -> Self {
        Self {
            suite: suite.to_owned(),
            runs,
            ..Self::default()
        }
    }

    /// Adds one run's value of a figure.
    pub fn add(&mut self, label: impl Into<String>, unit: &str, value: f64) {
        let label = label.into();
        match self.figures.iter_mut().find(|f| f.label == label) {
            Some(f) => f.values.push(value),
            None => self.figures.push(Figure {
                label,
                unit: unit.to_owned(),
                values: vec![value],
            }),
        }
    }

    /// Adds the values and notes of another report (a run measured in a child process).
    pub fn merge(&mut self, report: &serde_json::Value) {
        for f in report["figures"].as_array().into_iter().flatten() {
            let label = f["label"].as_str().unwrap_or_default();
            let unit = f["unit"].as_str().unwrap_or_default();
            for value in f["values"].as_array().into_iter().flatten() {
                self.add(label, unit, value.as_f64().unwrap_or(f64::NAN));
            }
        }
        for note in report["notes"].as_array().into_iter().flatten() {
            if let Some(note) = note.as_str() {
                self.note(note);
            }
        }
    }

    /// Adds p50, p99 and p99.9 of one run's latencies, in milliseconds, under `label`.
    pub fn latencies(&mut self, label: &str, latencies: &mut Latencies) {
        for (name, q) in [("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999)] {
            self.add(format!("{label} {name}"), "ms", latencies.quantile_ms(q));
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The median of a figure so far (for figures a later measurement depends on).
    pub fn median(&self, label: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.label == label)
            .map(|f| summary(&f.values).1)
    }

    pub fn table(&self) -> String {
        let width = self
            .figures
            .iter()
            .map(|f| f.label.len())
            .max()
            .unwrap_or(10)
            .max(10);
        let mut out = format!(
            "\n{} — {} run(s): min / median / max\n",
            self.suite, self.runs
        );
        out.push_str(&format!(
            "{:<width$}  {:>12}  {:>12}  {:>12}  unit\n",
            "figure", "min", "median", "max"
        ));
        for f in &self.figures {
            let (min, median, max) = summary(&f.values);
            out.push_str(&format!(
                "{:<width$}  {:>12}  {:>12}  {:>12}  {}\n",
                f.label,
                show(min),
                show(median),
                show(max),
                f.unit
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("- {note}\n"));
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "suite": self.suite,
            "runs": self.runs,
            "figures": self.figures.iter().map(|f| {
                let (min, median, max) = summary(&f.values);
                serde_json::json!({
                    "label": f.label,
                    "unit": f.unit,
                    "values": f.values,
                    "min": min,
                    "median": median,
                    "max": max,
                })
            }).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

/// Minimum, median and maximum.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => (f64::NAN, f64::NAN, f64::NAN),
        n => {
            let median = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            };
            (sorted[0], median, sorted[n - 1])
        }
    }
}

fn show(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// Latencies of one measurement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latencies {
    samples: Vec<Duration>,
    sorted: bool,
}

impl Latencies {
    pub fn push(&mut self, latency: Duration) {
        self.samples.push(latency);
        self.sorted = false;
    }

    pub fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// The `q` quantile (nearest rank), in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
        let rank = ((q * self.samples.len() as f64).ceil() as usize).clamp(1, self.samples.len());
        self.samples[rank - 1].as_secs_f64() * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_and_summaries_take_the_middle() {
        let mut l = Latencies::default();
        for ms in (1..=1000).rev() {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile_ms(0.5), 500.0);
        assert_eq!(l.quantile_ms(0.99), 990.0);
        assert_eq!(l.quantile_ms(0.999), 999.0);
        assert_eq!(summary(&[3.0, 1.0, 2.0]), (1.0, 2.0, 3.0));
        assert_eq!(summary(&[4.0, 1.0, 2.0, 3.0]), (1.0, 2.5, 4.0));
        let mut f = Figures::new("s", 2);
        f.add("rate", "/s", 10.0);
        f.add("rate", "/s", 30.0);
        assert_eq!(f.median("rate"), Some(20.0));
        assert!(f.table().contains("rate"));
    }
}
