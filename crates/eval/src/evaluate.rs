//! A classifier scored on one split of a manifest: every metric of the study, where its
//! explanations look relative to the ACL box, and the report that shows it (`report.json`,
//! `report.html`, and every call in `predictions.csv`).

use std::path::PathBuf;

use cruciate_data::{Manifest, Split, read_exam};
use cruciate_infer::run::read_history;
use cruciate_infer::{Classifier, EpochRecord, ExplainRequest, Explanation, InferError, Progress};
use cruciate_volume::Volume;
use cruciate_volume::export::{Window, slice_image};
use serde::Serialize;

use crate::EvalError;
use crate::calibration::{CalibrationFigures, ConformalFigures};
use crate::metrics::{Cumulative, PerClass, Summary, heat_in_box};
use crate::scoring::ScoredExam;
use cruciate_volume::heat::{RgbImage, heat_figure};

/// The heat inside the ACL box and the pointing-game hit rate, for the exams of one true class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoiFigures {
    /// Class name.
    pub class: String,
    /// Exams with a box that the model's input covers.
    pub exams: usize,
    /// Mean share of the heat inside the box.
    pub energy_share: Option<f64>,
    /// Fraction of exams whose hottest voxel lies in the box.
    pub pointing_hit_rate: Option<f64>,
}

/// An AUC and its interval.
#[derive(Debug, Clone, Serialize)]
pub struct AucWithInterval {
    /// The AUC.
    pub value: Option<f64>,
    /// Bootstrap 95 % interval.
    pub ci: Option<[f64; 2]>,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationReport {
    /// The run folder (or the model's name when it has none).
    pub run: String,
    /// Model name and task.
    pub model: String,
    /// True when the model was trained on synthetic data.
    pub synthetic_model: bool,
    /// True when the exams scored are synthetic (their manifest's `dataset.json` says so).
    pub synthetic_data: bool,
    /// Figures the split cannot give, and why (a split of healthy exams only has no AUC).
    pub warnings: Vec<String>,
    /// Split evaluated.
    pub split: Split,
    /// Exams scored.
    pub exams: usize,
    /// Injured-probability threshold of the sensitivity and specificity figures.
    pub threshold: f64,
    /// Accuracy of the most probable class.
    pub accuracy: Option<f64>,
    /// Injured-vs-healthy ROC AUC with its bootstrap 95 % interval.
    pub auc: AucWithInterval,
    /// Class names, in order.
    pub classes: Vec<String>,
    /// Precision, recall, F1 and support per class.
    pub per_class: Vec<PerClass>,
    /// Support-weighted averages.
    pub weighted_avg: Option<PerClass>,
    /// Unweighted averages.
    pub macro_avg: Option<PerClass>,
    /// `[actual][predicted]`.
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Every metric.
    pub metrics: Summary,
    /// The explanation's method, when the model explains itself.
    pub explanation_method: Option<String>,
    /// Explanation heat inside the ACL box, per true class (empty without explanations).
    pub cam_in_roi: Vec<RoiFigures>,
    /// What the input gate made of the split's exams (the figures above score every exam,
    /// abstentions included).
    pub gate: GateFigures,
    /// How well the probabilities shown match how often the calls are right, before and after
    /// the run's calibration.
    pub calibration: CalibrationFigures,
    /// Coverage and size of the conformal grade sets, where the run has them.
    pub conformal: Option<ConformalFigures>,
}

/// What the input gate made of an evaluation's exams.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GateFigures {
    /// Exams the gate accepted.
    pub accepted: usize,
    /// Exams it abstained on.
    pub abstained: usize,
    /// How many exams each rule refused (an exam may fail several).
    pub by_rule: std::collections::BTreeMap<String, usize>,
    /// Up to ten abstentions: the exam and why.
    pub examples: Vec<(String, String)>,
}

impl GateFigures {
    /// Counts one exam's verdict.
    pub fn count(&mut self, exam_id: &str, verdict: &cruciate_infer::Verdict) {
        if verdict.is_accepted() {
            self.accepted += 1;
            return;
        }
        self.abstained += 1;
        for reason in verdict.reasons() {
            *self
                .by_rule
                .entry(reason.rule.as_str().to_string())
                .or_default() += 1;
        }
        if self.examples.len() < 10 {
            self.examples.push((exam_id.to_string(), verdict.summary()));
        }
    }

    /// The share of exams accepted (`None` without exams).
    pub fn accepted_share(&self) -> Option<f64> {
        let all = self.accepted + self.abstained;
        (all > 0).then(|| self.accepted as f64 / all as f64)
    }
}

/// One of the most confident errors, drawn.
#[derive(Debug, Clone)]
pub struct ConfidentError {
    /// How sure the model was of its wrong call.
    pub confidence: f64,
    /// What the picture shows.
    pub caption: String,
    /// The key slice with its heat map, when the model explains itself.
    pub picture: Option<RgbImage>,
}

/// What [`evaluate`] measured: the report and what the HTML page draws from.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// `report.json`.
    pub report: EvaluationReport,
    /// Every exam's call (`predictions.csv`).
    pub scored: Vec<ScoredExam>,
    /// Every call, for the curves.
    pub points: Cumulative,
    /// The run's learning curves (empty for models not trained by epochs).
    pub history: Vec<EpochRecord>,
    /// The most confident errors, most confident first.
    pub errors: Vec<ConfidentError>,
}

/// What to evaluate.
pub struct EvaluationRequest<'a> {
    /// The model.
    pub classifier: &'a dyn Classifier,
    /// Its run folder, for the learning curves and the report's name.
    pub run: Option<PathBuf>,
    /// The exams.
    pub manifest: &'a Manifest,
    /// The split scored.
    pub split: Split,
    /// Injured-probability threshold for sensitivity and specificity.
    pub threshold: f64,
}

/// The most confident errors kept for the report.
const ERRORS_SHOWN: usize = 6;

/// Sums of the heat-in-box figures of one class.
#[derive(Debug, Clone, Default)]
struct RoiSums {
    share: f64,
    hits: usize,
    exams: usize,
}

/// Scores the request's classifier on its split, explaining every call when the model can.
pub fn evaluate(
    request: &EvaluationRequest,
    progress: &dyn Progress,
) -> Result<Evaluation, EvalError> {
    if !(0.0..=1.0).contains(&request.threshold) {
        return Err(EvalError::Request(format!(
            "the threshold must be within 0..1, got {}",
            request.threshold
        )));
    }
    let classifier = request.classifier;
    let info = classifier.info();
    let names = info.classes.clone();
    let task = classifier.task();
    let rows: Vec<_> = request.manifest.split(request.split).collect();
    if rows.is_empty() {
        return Err(EvalError::EmptySplit(request.split));
    }
    let mut points = Cumulative::new(names.len());
    let mut roi = vec![RoiSums::default(); names.len()];
    let mut errors: Vec<ConfidentError> = Vec::new();
    let mut method = None;
    let mut scored = Vec::with_capacity(rows.len());
    let mut gate = GateFigures::default();
    progress.start(
        &format!("evaluating on {} {} exams", rows.len(), request.split),
        Some(rows.len() as u64),
    );
    for (i, row) in rows.iter().enumerate() {
        let on_exam = |source| EvalError::OnExam {
            exam_id: row.exam_id.clone(),
            source,
        };
        let volume = read_exam(request.manifest, row)?;
        let explanation = match classifier.explain(&volume, &ExplainRequest::default()) {
            Ok(e) => Some(e),
            Err(InferError::Request(_)) => None,
            Err(e) => return Err(on_exam(e)),
        };
        let prediction = match &explanation {
            Some(e) => e.prediction.clone(),
            None => classifier.predict(&volume).map_err(on_exam)?,
        };
        let actual = task.class_of(row.label);
        gate.count(&row.exam_id, &prediction.verdict);
        points.push(prediction.probabilities.clone(), actual);
        scored.push(ScoredExam {
            exam_id: row.exam_id.clone(),
            class: actual,
            prediction: prediction.clone(),
        });
        if let Some(e) = &explanation {
            method = Some(e.method.title().to_string());
            if let Some(figures) = volume
                .roi
                .filter(|b| overlaps(*b, e.heat.region))
                .and_then(|b| heat_in_box(&e.heat.values, e.heat.shape, b))
            {
                roi[actual].share += figures.share;
                roi[actual].hits += usize::from(figures.hit);
                roi[actual].exams += 1;
            }
        }
        if prediction.class != actual {
            let confidence = prediction.confidence();
            let caption = format!(
                "{} (true {}, called {} at {confidence:.2})",
                row.exam_id, names[actual], prediction.label
            );
            errors.push(ConfidentError {
                confidence,
                picture: explanation
                    .as_ref()
                    .and_then(|e| key_slice_figure(&volume, e, &caption)),
                caption,
            });
            errors.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
            errors.truncate(ERRORS_SHOWN);
        }
        progress.set(i as u64 + 1);
    }
    progress.finish();
    let metrics = points.summary(request.threshold, 1000, 0);
    let report = EvaluationReport {
        run: request
            .run
            .as_ref()
            .map_or_else(|| info.model.name.clone(), |r| r.display().to_string()),
        model: format!("{} ({})", info.model.name, task),
        synthetic_model: info.synthetic(),
        synthetic_data: cruciate_data::DatasetInfo::is_synthetic(&request.manifest.root),
        warnings: cruciate_data::splits::undefined_figures(
            request.split,
            &rows.iter().map(|r| r.label).collect::<Vec<_>>(),
            task,
        ),
        split: request.split,
        exams: rows.len(),
        threshold: request.threshold,
        accuracy: metrics.accuracy,
        auc: AucWithInterval {
            value: metrics.auc,
            ci: metrics.auc_ci,
        },
        classes: names.clone(),
        per_class: metrics
            .report
            .as_ref()
            .map(|r| r.classes.clone())
            .unwrap_or_default(),
        weighted_avg: metrics.report.as_ref().map(|r| r.weighted_avg.clone()),
        macro_avg: metrics.report.as_ref().map(|r| r.macro_avg.clone()),
        confusion_matrix: metrics.confusion_matrix.clone(),
        explanation_method: method.clone(),
        cam_in_roi: if method.is_some() {
            roi.iter()
                .zip(&names)
                .map(|(sums, class)| RoiFigures {
                    class: class.clone(),
                    exams: sums.exams,
                    energy_share: (sums.exams > 0).then(|| sums.share / sums.exams as f64),
                    pointing_hit_rate: (sums.exams > 0)
                        .then(|| sums.hits as f64 / sums.exams as f64),
                })
                .collect()
        } else {
            Vec::new()
        },
        metrics,
        gate,
        calibration: CalibrationFigures::of(classifier, &scored),
        conformal: ConformalFigures::of(classifier, &scored),
    };
    Ok(Evaluation {
        report,
        scored,
        points,
        history: request.run.as_deref().map(read_history).unwrap_or_default(),
        errors,
    })
}

/// Whether two boxes share a voxel.
fn overlaps(a: cruciate_volume::RoiBox, b: cruciate_volume::RoiBox) -> bool {
    a.s0 < b.s1 && b.s0 < a.s1 && a.r0 < b.r1 && b.r0 < a.r1 && a.c0 < b.c1 && b.c0 < a.c1
}

/// The explanation's key slice drawn on the exam at native resolution, with `caption`; `None`
/// when the explanation does not fit the exam.
pub fn key_slice_figure(
    volume: &Volume,
    explanation: &Explanation,
    caption: &str,
) -> Option<RgbImage> {
    let s = explanation.key_slice();
    if explanation.heat.shape != volume.shape {
        return None;
    }
    let window = Window::from_percentiles(&volume.data);
    let grey = slice_image(volume, s, window)?;
    Some(heat_figure(
        &grey,
        explanation.heat.slice(s),
        &[
            caption.to_string(),
            format!(
                "slice {} (key slice): {} for {}",
                s + 1,
                explanation.method.title(),
                explanation
                    .prediction
                    .classes
                    .get(explanation.target)
                    .map_or("?", String::as_str)
            ),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cruciate_infer::{ExplainMethod, HeatMap, Prediction};
    use cruciate_volume::RoiBox;

    fn cube(at: usize, size: usize) -> RoiBox {
        RoiBox {
            s0: at,
            s1: at + size,
            r0: at,
            r1: at + size,
            c0: at,
            c1: at + size,
        }
    }

    #[test]
    fn boxes_overlap_only_when_they_share_a_voxel_on_every_axis() {
        assert!(overlaps(cube(0, 4), cube(3, 4)));
        assert!(overlaps(cube(3, 4), cube(0, 4)));
        assert!(overlaps(cube(0, 4), cube(1, 1)), "one inside the other");
        assert!(
            !overlaps(cube(0, 4), cube(4, 4)),
            "touching faces share no voxel"
        );
        assert!(!overlaps(cube(4, 4), cube(0, 4)));
        // Along one axis only: touching (no shared voxel), sharing one layer, apart.
        for axis in 0..3 {
            let along = |lo: usize, hi: usize| {
                let mut b = cube(0, 4);
                match axis {
                    0 => (b.s0, b.s1) = (lo, hi),
                    1 => (b.r0, b.r1) = (lo, hi),
                    _ => (b.c0, b.c1) = (lo, hi),
                }
                b
            };
            for (lo, hi, shared) in [(4, 8, false), (3, 7, true), (6, 8, false)] {
                let b = along(lo, hi);
                assert_eq!(overlaps(cube(0, 4), b), shared, "axis {axis}, {lo}..{hi}");
                assert_eq!(overlaps(b, cube(0, 4)), shared, "axis {axis}, {lo}..{hi}");
            }
        }
    }

    #[test]
    fn the_key_slice_figure_needs_a_heat_map_on_the_exam_grid() {
        let shape = [3, 16, 20];
        let meta = cruciate_volume::SourceMetadata::new(cruciate_volume::Format::Npy, "test");
        let volume = Volume::new((0..960).map(|v| v as f32).collect(), shape, meta).unwrap();
        let region = RoiBox {
            s0: 0,
            s1: 3,
            r0: 0,
            r1: 16,
            c0: 0,
            c1: 20,
        };
        let explanation = |shape: [usize; 3]| Explanation {
            prediction: Prediction::new(
                vec!["healthy".into(), "injured".into()],
                vec![0.2, 0.8],
                [0, 3],
                Vec::new(),
            ),
            method: ExplainMethod::Cam,
            target: 1,
            slice_importance: vec![0.2, 0.5, 0.3],
            heat: HeatMap::normalised(shape, vec![0.5; shape.iter().product()], region),
        };
        let figure = key_slice_figure(&volume, &explanation(shape), "caption").unwrap();
        assert!(figure.width >= 20 && figure.height >= 16);
        assert_eq!(figure.pixels.len(), figure.width * figure.height * 3);
        assert!(key_slice_figure(&volume, &explanation([3, 16, 21]), "caption").is_none());
    }
}
