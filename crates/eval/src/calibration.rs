//! A run's calibration fitted on its held-out exams (calib, else valid), and what it does on a
//! test split: calibration error before and after, and the conformal sets' coverage and size
//! (see `cruciate_infer::calibration`).

use cruciate_data::Manifest;
use cruciate_infer::calibration::{Calibration, CalibrationSettings};
use cruciate_infer::{Classifier, Progress};
use serde::Serialize;

use crate::EvalError;
use crate::metrics::{expected_calibration_error, log_loss};
use crate::scoring::{ScoredExam, score_split};

/// Confidence bins of the calibration error, as the reliability diagrams (the temperature's
/// check uses the same).
pub use cruciate_infer::calibration::ECE_BINS;

/// The coverages every evaluation reports besides the run's own.
pub const REPORTED_COVERAGES: [f64; 3] = [0.8, 0.9, 0.95];

/// The calibration of `classifier` (opened without its own: `Registry::open_model`) on the
/// calib exams of `manifest` (the valid ones where it has none), the grade sets shown at
/// `coverage`.
pub fn fit_calibration(
    classifier: &dyn Classifier,
    manifest: &Manifest,
    coverage: f64,
    progress: &dyn Progress,
) -> Result<Calibration, EvalError> {
    let held_out = score_split(classifier, manifest, manifest.calibration_split(), progress)?;
    calibration_from(classifier, &held_out, coverage)
}

/// The calibration of `classifier` from its calls on held-out exams `valid`: a temperature
/// unless the model is calibrated by its own method, then the conformal scores.
pub fn calibration_from(
    classifier: &dyn Classifier,
    valid: &[ScoredExam],
    coverage: f64,
) -> Result<Calibration, EvalError> {
    let (probabilities, actual) = own_probabilities(valid);
    Ok(Calibration::fit(
        &probabilities,
        &actual,
        CalibrationSettings {
            temperature: classifier.own_calibration().is_none(),
            coverage,
        },
    )?)
}

/// The model's own probabilities of each call (before any temperature) and the true classes.
fn own_probabilities(scored: &[ScoredExam]) -> (Vec<Vec<f64>>, Vec<usize>) {
    scored
        .iter()
        .map(|s| {
            let p = &s.prediction;
            (
                p.uncalibrated
                    .clone()
                    .unwrap_or_else(|| p.probabilities.clone()),
                s.class,
            )
        })
        .unzip()
}

/// How well a split's probabilities match how often the calls are right.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationFigures {
    /// How the probabilities shown are calibrated, in words.
    pub method: String,
    /// The temperature, where one is applied.
    pub temperature: Option<f64>,
    /// Expected calibration error of the model's own probabilities.
    pub ece_before: Option<f64>,
    /// And of the probabilities shown.
    pub ece_after: Option<f64>,
    /// Mean negative log likelihood of the model's own probabilities.
    pub nll_before: Option<f64>,
    /// And of the probabilities shown.
    pub nll_after: Option<f64>,
}

impl CalibrationFigures {
    /// The figures of `classifier`'s calls `scored`.
    pub fn of(classifier: &dyn Classifier, scored: &[ScoredExam]) -> Self {
        let (own, actual) = own_probabilities(scored);
        let shown: Vec<Vec<f64>> = scored
            .iter()
            .map(|s| s.prediction.probabilities.clone())
            .collect();
        let calibration = classifier.calibration();
        let temperature = calibration.and_then(|c| c.temperature);
        let method = match (temperature, classifier.own_calibration()) {
            (Some(t), _) => format!(
                "temperature {:.3}, fitted on {} held-out exams",
                t.value, t.exams
            ),
            (None, Some(own)) => format!("the model's own ({own})"),
            (None, None) => match calibration {
                Some(c) if !c.notes.is_empty() => format!("none ({})", c.notes.join("; ")),
                _ => "none (the run has no calibration.json: `cruciate calibrate` fits one)".into(),
            },
        };
        Self {
            method,
            temperature: temperature.map(|t| t.value),
            ece_before: expected_calibration_error(&own, &actual, ECE_BINS),
            ece_after: expected_calibration_error(&shown, &actual, ECE_BINS),
            nll_before: log_loss(&own, &actual),
            nll_after: log_loss(&shown, &actual),
        }
    }
}

/// Coverage and size of the grade sets at one level, over a split and per true class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageAtLevel {
    /// The coverage asked.
    pub target: f64,
    /// The share of exams whose set held their true grade.
    pub coverage: f64,
    /// Mean grades per set.
    pub mean_size: f64,
    /// Per true class: its name, exams, coverage and mean set size.
    pub per_class: Vec<ClassCoverage>,
}

/// The grade sets of one true class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCoverage {
    /// The class.
    pub class: String,
    /// Its exams.
    pub exams: usize,
    /// The share whose set held it (`None` without exams).
    pub coverage: Option<f64>,
    /// Their mean set size.
    pub mean_size: Option<f64>,
}

/// The conformal sets of a split at the run's level and the reported ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConformalFigures {
    /// The run's shown coverage.
    pub shown: f64,
    /// Held-out exams the threshold was set on.
    pub calibrated_on: usize,
    /// Per level, ascending.
    pub levels: Vec<CoverageAtLevel>,
}

impl ConformalFigures {
    /// The figures of `classifier`'s calls `scored` (`None` when its run has no grade sets).
    pub fn of(classifier: &dyn Classifier, scored: &[ScoredExam]) -> Option<Self> {
        let conformal = classifier.calibration()?.conformal.as_ref()?;
        let names = &classifier.info().classes;
        let mut targets: Vec<f64> = REPORTED_COVERAGES.to_vec();
        targets.push(conformal.coverage);
        targets.sort_by(f64::total_cmp);
        targets.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        let levels = targets
            .into_iter()
            .map(|target| {
                // Per class: exams, sets holding it, grades in the sets.
                let mut sums = vec![(0usize, 0usize, 0usize); names.len()];
                for s in scored {
                    let set = conformal.classes(&s.prediction.probabilities, target);
                    let sum = &mut sums[s.class.min(names.len() - 1)];
                    sum.0 += 1;
                    sum.1 += usize::from(set.contains(&s.class));
                    sum.2 += set.len();
                }
                let ratio = |a: usize, n: usize| (n > 0).then(|| a as f64 / n as f64);
                let total = sums
                    .iter()
                    .fold((0, 0, 0), |t, s| (t.0 + s.0, t.1 + s.1, t.2 + s.2));
                CoverageAtLevel {
                    target,
                    coverage: ratio(total.1, total.0).unwrap_or(0.0),
                    mean_size: ratio(total.2, total.0).unwrap_or(0.0),
                    per_class: sums
                        .iter()
                        .zip(names)
                        .map(|(&(exams, held, size), class)| ClassCoverage {
                            class: class.clone(),
                            exams,
                            coverage: ratio(held, exams),
                            mean_size: ratio(size, exams),
                        })
                        .collect(),
                }
            })
            .collect();
        Some(Self {
            shown: conformal.coverage,
            calibrated_on: conformal.scores.len(),
            levels,
        })
    }
}
