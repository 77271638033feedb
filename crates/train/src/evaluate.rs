//! A run scored on one split of a manifest: every metric of the study, where the explanations
//! look relative to the ACL box, and the report that shows it (`report.json`, `report.html`).

use std::io::Write as _;
use std::path::Path;

use cruciate_data::{Manifest, Split};
use cruciate_eval::charts::{Series, line_chart, pr_curve, reliability};
use cruciate_eval::metrics::{Cumulative, PerClass, Summary, roc_curve};
use cruciate_eval::report::{Page, png_bytes};
use cruciate_eval::visualize::overlay;
use serde::Serialize;

use crate::TrainError;
use crate::logger::EpochRecord;
use crate::predict::{Explanation, LoadedRun};
use crate::run::{exam_error, read_exam};

/// CAM energy inside the ACL box and pointing-game hits, for the exams of one true class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoiFigures {
    /// Class name.
    pub class: String,
    /// Exams with a box that the input covers.
    pub exams: usize,
    /// Mean share of the heat inside the box.
    pub energy_share: Option<f64>,
    /// Fraction of exams whose hottest voxel lies in the box.
    pub pointing_hit_rate: Option<f64>,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationReport {
    /// The run folder.
    pub run: String,
    /// Model name and task.
    pub model: String,
    /// Split evaluated.
    pub split: Split,
    /// Exams scored.
    pub exams: usize,
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
    /// CAM (or Grad-CAM) inside the ACL box, per true class.
    pub cam_in_roi: Vec<RoiFigures>,
}

/// An AUC and its interval.
#[derive(Debug, Clone, Serialize)]
pub struct AucWithInterval {
    /// The AUC.
    pub value: Option<f64>,
    /// Bootstrap 95 % interval.
    pub ci: Option<[f64; 2]>,
}

/// Scores `run` on `split` of `manifest` and writes `report.json` and `report.html` in `out`.
/// Sensitivity and specificity are reported at `threshold` on the injured probability (and at
/// Youden's J).
pub fn evaluate(
    run: &Path,
    manifest: &Manifest,
    split: Split,
    threshold: f64,
    out: &Path,
) -> Result<EvaluationReport, TrainError> {
    let model = LoadedRun::open(run)?;
    let task = model.config.model.task;
    let names: Vec<String> = task.class_names().iter().map(|s| s.to_string()).collect();
    let rows: Vec<_> = manifest.split(split).collect();
    if rows.is_empty() {
        return Err(TrainError::Data(format!(
            "the manifest has no {split:?} exams"
        )));
    }
    let mut cumulative = Cumulative::new(names.len());
    let mut roi: Vec<(Vec<f64>, usize, usize)> = vec![(Vec::new(), 0, 0); names.len()];
    let mut errors: Vec<(f64, String, Explanation)> = Vec::new();
    for row in &rows {
        let volume = read_exam(manifest, row)?;
        let e = model
            .explain(&volume, row.roi, None, None)
            .map_err(|e| exam_error(manifest, row, e.to_string()))?;
        let actual = task.class_of(row.label);
        cumulative.push(e.prediction.probabilities.clone(), actual);
        // The manifest's box, else the reader's (KneeMRI's metadata.csv).
        if let Some((share, hit)) = row.roi.or(volume.roi).and_then(|b| e.roi_figures(b)) {
            roi[actual].0.push(share);
            roi[actual].1 += usize::from(hit);
            roi[actual].2 += 1;
        }
        if e.prediction.class != actual {
            let confidence = e.prediction.probabilities[e.prediction.class];
            errors.push((
                confidence,
                format!(
                    "{} (true {}, called {} at {confidence:.2})",
                    row.exam_id, names[actual], e.prediction.label
                ),
                e,
            ));
        }
    }
    errors.sort_by(|a, b| b.0.total_cmp(&a.0));
    errors.truncate(6);
    let metrics = cumulative.summary(threshold, 1000, 0);
    let report = EvaluationReport {
        run: run.display().to_string(),
        model: format!("{} ({:?})", model.config.model.name, task),
        split,
        exams: rows.len(),
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
        cam_in_roi: roi
            .iter()
            .zip(&names)
            .map(|((shares, hits, n), class)| RoiFigures {
                class: class.clone(),
                exams: *n,
                energy_share: (*n > 0).then(|| shares.iter().sum::<f64>() / *n as f64),
                pointing_hit_rate: (*n > 0).then(|| *hits as f64 / *n as f64),
            })
            .collect(),
        metrics,
    };
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let write = |name: &str, body: String| {
        let path = out.join(name);
        cruciate_volume::atomic::write_atomically(&path, |w| w.write_all(body.as_bytes()))
            .map_err(|e| TrainError::io(&path, e))
    };
    write(
        "report.json",
        serde_json::to_string_pretty(&report).expect("report serialises"),
    )?;
    let history = read_history(&run.join("metrics.jsonl"));
    write(
        "report.html",
        page(&report, &cumulative, &history, &errors).to_html(),
    )?;
    Ok(report)
}

fn read_history(path: &Path) -> Vec<EpochRecord> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn page(
    report: &EvaluationReport,
    points: &Cumulative,
    history: &[EpochRecord],
    errors: &[(f64, String, Explanation)],
) -> Page {
    let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
    let mut tables = Vec::new();
    let mut rows: Vec<Vec<String>> = report
        .classes
        .iter()
        .zip(&report.per_class)
        .map(|(n, c)| {
            vec![
                n.clone(),
                format!("{:.3}", c.precision),
                format!("{:.3}", c.recall),
                format!("{:.3}", c.f1),
                c.support.to_string(),
            ]
        })
        .collect();
    for (name, avg) in [
        ("macro avg", &report.macro_avg),
        ("weighted avg", &report.weighted_avg),
    ] {
        if let Some(c) = avg {
            rows.push(vec![
                name.into(),
                format!("{:.3}", c.precision),
                format!("{:.3}", c.recall),
                format!("{:.3}", c.f1),
                c.support.to_string(),
            ]);
        }
    }
    tables.push((
        "Per class".into(),
        ["class", "precision", "recall", "F1", "support"]
            .map(String::from)
            .to_vec(),
        rows,
    ));
    let m = &report.metrics;
    let ci = report
        .auc
        .ci
        .map_or("n/a".into(), |[a, b]| format!("{a:.3} - {b:.3}"));
    tables.push((
        "Summary".into(),
        vec!["metric".into(), "value".into()],
        vec![
            vec!["exams".into(), report.exams.to_string()],
            vec!["accuracy".into(), f(report.accuracy)],
            vec!["balanced accuracy".into(), f(m.balanced_accuracy)],
            vec![
                "AUC injured vs healthy (95 % CI)".into(),
                format!("{} ({ci})", f(report.auc.value)),
            ],
            vec!["AUC one-vs-rest macro".into(), f(m.auc_ovr_macro)],
            vec!["PR AUC".into(), f(m.pr_auc)],
            vec![
                "sensitivity / specificity at 0.5".into(),
                m.at_threshold.map_or("n/a".into(), |p| {
                    format!("{:.3} / {:.3}", p.sensitivity, p.specificity)
                }),
            ],
            vec![
                "Youden threshold (sens / spec)".into(),
                m.at_youden.map_or("n/a".into(), |p| {
                    format!(
                        "{:.3} ({:.3} / {:.3})",
                        p.threshold, p.sensitivity, p.specificity
                    )
                }),
            ],
            vec!["log loss".into(), f(m.log_loss)],
            vec!["Brier score".into(), f(m.brier)],
            vec!["expected calibration error".into(), f(m.ece)],
        ],
    ));
    let mut header = vec!["actual \\ called".to_string()];
    header.extend(report.classes.iter().cloned());
    tables.push((
        "Confusion matrix".into(),
        header,
        report
            .confusion_matrix
            .iter()
            .zip(&report.classes)
            .map(|(row, n)| {
                std::iter::once(n.clone())
                    .chain(row.iter().map(|v| v.to_string()))
                    .collect()
            })
            .collect(),
    ));
    tables.push((
        "Where the explanations look (ACL box)".into(),
        [
            "true class",
            "exams with a box",
            "heat inside the box",
            "pointing-game hits",
        ]
        .map(String::from)
        .to_vec(),
        report
            .cam_in_roi
            .iter()
            .map(|r| {
                vec![
                    r.class.clone(),
                    r.exams.to_string(),
                    f(r.energy_share),
                    f(r.pointing_hit_rate),
                ]
            })
            .collect(),
    ));
    let (probs, actual) = (points.probabilities(), points.actual());
    let injured: Vec<bool> = actual.iter().map(|&a| a > 0).collect();
    let score: Vec<f64> = probs.iter().map(|p| 1.0 - p[0]).collect();
    let roc: Vec<(f64, f64)> = roc_curve(&score, &injured)
        .iter()
        .map(|&(x, y, _)| (x, y))
        .collect();
    let epochs = history.len().max(1) as f64;
    let curve = |name: &str, get: &dyn Fn(&EpochRecord) -> f64| -> Series {
        (
            name.into(),
            history.iter().map(|r| (r.epoch as f64, get(r))).collect(),
        )
    };
    let top_loss = history
        .iter()
        .flat_map(|r| [r.train_loss, r.valid_loss])
        .fold(0.1, f64::max);
    let figures = vec![
        (
            "ROC, injured vs healthy".into(),
            line_chart(
                "ROC",
                "false positive rate",
                "true positive rate",
                &[("model".into(), roc)],
                (0.0, 1.0),
                (0.0, 1.0),
                true,
            ),
        ),
        (
            "Precision-recall, injured".into(),
            line_chart(
                "Precision-recall",
                "recall",
                "precision",
                &[("model".into(), pr_curve(&score, &injured))],
                (0.0, 1.0),
                (0.0, 1.0),
                false,
            ),
        ),
        (
            "Calibration (top class, 10 bins)".into(),
            line_chart(
                "Calibration",
                "confidence",
                "accuracy",
                &[("model".into(), reliability(probs, actual, 10))],
                (0.0, 1.0),
                (0.0, 1.0),
                true,
            ),
        ),
        (
            "Loss per epoch".into(),
            line_chart(
                "Loss",
                "epoch",
                "loss",
                &[
                    curve("train", &|r| r.train_loss),
                    curve("valid", &|r| r.valid_loss),
                ],
                (1.0, epochs.max(2.0)),
                (0.0, top_loss * 1.05),
                false,
            ),
        ),
        (
            "Validation accuracy and AUC per epoch".into(),
            line_chart(
                "Validation",
                "epoch",
                "",
                &[
                    curve("accuracy", &|r| r.valid_accuracy),
                    curve("AUC", &|r| r.valid_auc.unwrap_or(f64::NAN)),
                ],
                (1.0, epochs.max(2.0)),
                (0.0, 1.0),
                false,
            ),
        ),
    ];
    let images = errors
        .iter()
        .map(|(_, caption, e)| {
            let [_, h, w] = e.shape;
            let k = cruciate_eval::metrics::argmax(&e.slice_importance);
            let at = k * h * w..(k + 1) * h * w;
            (
                format!("{caption}, slice {}", e.prediction.slices[0] + k),
                png_bytes(&overlay(&e.grey[at.clone()], &e.heat[at], w, h)),
            )
        })
        .collect();
    Page {
        title: format!(
            "Cruciate evaluation: {} on {:?}",
            report.model, report.split
        ),
        notes: vec![format!(
            "Run {}. Figures on synthetic phantoms are synthetic and say nothing about clinical performance.",
            report.run
        )],
        tables,
        figures,
        images,
    }
}
