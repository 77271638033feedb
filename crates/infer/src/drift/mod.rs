//! Drift: whether the exams a site sends still look like the ones the model was trained on.
//!
//! A run keeps a [`DriftReference`] (`drift.json`): the [`ExamSignals`] of its validation
//! exams. The service keeps the same numbers for every exam it analyses and compares the last
//! exams of each site and scanner with the reference, signal by signal, by the two-sample
//! Kolmogorov-Smirnov test ([`DriftReference::compare`]): a new scanner, a changed protocol or
//! a gain set differently shows as a signal whose window no longer matches. This is the study's
//! "two devices" problem made visible.
//!
//! The test is written here rather than taken from a crate: it is a walk over two sorted lists
//! and the Kolmogorov series, and the statistics crates of the ecosystem do not offer the
//! two-sample form with its p-value. A population stability index was the other choice; over a
//! window of 30 exams in 10 bins its expected value without any drift is about 0.3, above the
//! usual alarm level of 0.25, where the KS test's p-value keeps its meaning at any size.

mod signals;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use signals::{ExamSignals, Signal};

use crate::InferError;

/// The file in a run folder that holds its drift reference.
pub const DRIFT_FILE: &str = "drift.json";

/// Reference exams needed at least.
pub const MIN_REFERENCE: usize = 20;

/// How a window of exams is compared with the reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftSettings {
    /// The last exams of a site and scanner compared.
    pub window: usize,
    /// Fewest exams in a window before it is compared.
    pub min_exams: usize,
    /// The chance of a false alarm per window checked, shared among the signals (Bonferroni).
    pub alpha: f64,
}

impl Default for DriftSettings {
    fn default() -> Self {
        Self {
            window: 30,
            min_exams: 20,
            alpha: 0.001,
        }
    }
}

/// The held-out (calib or valid) exams' signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// Reference exams.
    pub exams: usize,
    /// Per signal, the values of the exams that have it, ascending.
    pub values: BTreeMap<Signal, Vec<f64>>,
    /// The share of them the gate abstained on.
    pub abstention_rate: f64,
}

/// One signal of a window against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalDrift {
    /// The signal.
    pub signal: Signal,
    /// Window exams that have it.
    pub exams: usize,
    /// Their median.
    pub window_median: f64,
    /// The reference's median.
    pub reference_median: f64,
    /// The Kolmogorov-Smirnov statistic (largest gap between the two distributions).
    pub ks: f64,
    /// Its p-value.
    pub p_value: f64,
    /// Whether it is below the settings' alpha shared among the signals compared.
    pub drifting: bool,
}

/// A window of exams against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftCheck {
    /// Exams in the window.
    pub exams: usize,
    /// The share of them the gate abstained on.
    pub abstention_rate: f64,
    /// The reference's.
    pub reference_abstention_rate: f64,
    /// Every signal both have (empty while the window is shorter than the settings' minimum).
    pub signals: Vec<SignalDrift>,
    /// Whether any signal drifts.
    pub drifting: bool,
}

impl DriftCheck {
    /// The drifting signals in words ("intensity_median 3010 against 1003 (p 2e-12)").
    pub fn summary(&self) -> String {
        self.signals
            .iter()
            .filter(|s| s.drifting)
            .map(|s| {
                format!(
                    "{} {:.4} against {:.4} (p {:.1e})",
                    s.signal.as_str(),
                    s.window_median,
                    s.reference_median,
                    s.p_value
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl DriftReference {
    /// The reference of the held-out exams' `signals`.
    pub fn fit(signals: &[ExamSignals]) -> Result<Self, InferError> {
        if signals.len() < MIN_REFERENCE {
            return Err(InferError::Request(format!(
                "a drift reference needs at least {MIN_REFERENCE} held-out exams (got {})",
                signals.len()
            )));
        }
        let values = Signal::ALL
            .iter()
            .filter_map(|&signal| {
                let mut v: Vec<f64> = signals.iter().filter_map(|s| signal.of(s)).collect();
                v.sort_by(f64::total_cmp);
                (v.len() >= MIN_REFERENCE).then_some((signal, v))
            })
            .collect();
        Ok(Self {
            exams: signals.len(),
            values,
            abstention_rate: abstention_rate(signals),
        })
    }

    /// `window` (a site's last exams) against the reference.
    pub fn compare(&self, window: &[ExamSignals], settings: &DriftSettings) -> DriftCheck {
        let mut signals = Vec::new();
        if window.len() >= settings.min_exams {
            for (&signal, reference) in &self.values {
                let mut own: Vec<f64> = window.iter().filter_map(|s| signal.of(s)).collect();
                if own.len() < settings.min_exams {
                    continue;
                }
                own.sort_by(f64::total_cmp);
                let ks = ks_statistic(&own, reference);
                signals.push(SignalDrift {
                    signal,
                    exams: own.len(),
                    window_median: median(&own),
                    reference_median: median(reference),
                    ks,
                    p_value: ks_p_value(ks, own.len(), reference.len()),
                    drifting: false,
                });
            }
        }
        let level = settings.alpha / signals.len().max(1) as f64;
        for s in &mut signals {
            s.drifting = s.p_value < level;
        }
        DriftCheck {
            exams: window.len(),
            abstention_rate: abstention_rate(window),
            reference_abstention_rate: self.abstention_rate,
            drifting: signals.iter().any(|s| s.drifting),
            signals,
        }
    }

    /// The drift reference of run folder `run`, or `None` when it has none.
    pub fn read(run: &Path) -> Result<Option<Self>, InferError> {
        let path = run.join(DRIFT_FILE);
        let Some(text) = crate::json_file::read_if_present(&path)? else {
            return Ok(None);
        };
        let reference: Self =
            serde_json::from_str(&text).map_err(|e| InferError::run(&path, e.to_string()))?;
        if reference
            .values
            .values()
            .any(|v| v.is_empty() || v.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(InferError::run(&path, "holds values that are not sorted"));
        }
        Ok(Some(reference))
    }

    /// Writes the reference into run folder `run` (atomically).
    pub fn write(&self, run: &Path) -> Result<(), InferError> {
        crate::json_file::write(&run.join(DRIFT_FILE), self, false)
    }
}

fn abstention_rate(signals: &[ExamSignals]) -> f64 {
    signals.iter().filter(|s| s.abstained).count() as f64 / signals.len().max(1) as f64
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The largest gap between the empirical distribution functions of sorted `a` and `b`.
fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// The asymptotic p-value of KS statistic `d` for samples of `n` and `m` (Stephens's
/// correction of the effective size, as Numerical Recipes' `kstwo`).
fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    let ne = (n * m) as f64 / (n + m) as f64;
    let root = ne.sqrt();
    let lambda = (root + 0.12 + 0.11 / root) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let j = f64::from(j);
        let term = 2.0 * (-1f64).powf(j - 1.0) * (-2.0 * j * j * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
    }
    sum.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exams(n: usize, seed: u64, gain: f64, noise: f64) -> Vec<ExamSignals> {
        let draws = cruciate_testkit::noise(n * 2, seed);
        draws
            .chunks_exact(2)
            .map(|d| {
                let unit = |x: f32| f64::from(x) / f64::from(1u32 << 24);
                ExamSignals {
                    slices: 30,
                    spacing_mm: None,
                    intensity_median: gain * (100.0 + 20.0 * unit(d[0])),
                    intensity_p99: gain * (400.0 + 50.0 * unit(d[1])),
                    normalised_p99: 2.5,
                    structure: Some(0.95 - noise - 0.02 * unit(d[0])),
                    domain_score: Some(4.0 + 2.0 * unit(d[1]) + 20.0 * noise),
                    injured_probability: Some(unit(d[0])),
                    confidence: Some(0.5 + 0.5 * unit(d[1])),
                    abstained: false,
                }
            })
            .collect()
    }

    #[test]
    fn a_window_like_the_reference_does_not_drift_and_another_gain_with_noise_does() {
        let reference = DriftReference::fit(&exams(200, 1, 1.0, 0.0)).unwrap();
        let settings = DriftSettings::default();
        let same = reference.compare(&exams(30, 2, 1.0, 0.0), &settings);
        assert!(!same.drifting, "{same:?}");
        assert_eq!(
            same.signals.len(),
            8,
            "every signal but the unknown spacing"
        );
        let shifted = reference.compare(&exams(30, 3, 3.0, 0.3), &settings);
        assert!(shifted.drifting);
        let drifting: Vec<Signal> = shifted
            .signals
            .iter()
            .filter(|s| s.drifting)
            .map(|s| s.signal)
            .collect();
        assert!(drifting.contains(&Signal::IntensityMedian), "{drifting:?}");
        assert!(drifting.contains(&Signal::Structure), "{drifting:?}");
        assert!(!drifting.contains(&Signal::Confidence), "{drifting:?}");
        assert!(
            shifted.summary().contains("intensity_median"),
            "{}",
            shifted.summary()
        );
        // Too short a window is not compared.
        let short = reference.compare(&exams(10, 4, 3.0, 0.3), &settings);
        assert!(short.signals.is_empty() && !short.drifting);
    }

    #[test]
    fn the_ks_test_matches_its_textbook_values() {
        let a: Vec<f64> = (0..50).map(f64::from).collect();
        assert_eq!(ks_statistic(&a, &a), 0.0);
        let b: Vec<f64> = (25..75).map(f64::from).collect();
        assert!((ks_statistic(&a, &b) - 0.5).abs() < 1e-12);
        // scipy.stats.kstwobign.sf(1.36) = 0.0494 (the 5 % critical value).
        let ne: f64 = 2500.0 / 100.0;
        let d = 1.36 / (ne.sqrt() + 0.12 + 0.11 / ne.sqrt());
        assert!((ks_p_value(d, 50, 50) - 0.0494).abs() < 1e-3);
        assert_eq!(ks_p_value(0.0, 50, 50), 1.0);
    }

    #[test]
    fn a_reference_needs_enough_exams_and_round_trips() {
        assert!(DriftReference::fit(&exams(5, 1, 1.0, 0.0)).is_err());
        let reference = DriftReference::fit(&exams(40, 1, 1.0, 0.0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(DriftReference::read(dir.path()).unwrap(), None);
        reference.write(dir.path()).unwrap();
        assert_eq!(DriftReference::read(dir.path()).unwrap(), Some(reference));
    }
}
