//! The evaluation as a self-contained HTML page: tables of every figure, the ROC, precision-
//! recall, calibration and learning curves, and the most confident errors with their heat maps.

use std::io::Write as _;
use std::path::Path;

use crate::EvalError;
use crate::charts::{Axes, Series, line_chart, pr_curve, reliability};
use crate::evaluate::Evaluation;
use crate::metrics::{PerClass, roc_curve};
use crate::report::{Figure, Image, Page, Table};
use cruciate_infer::EpochRecord;

mod trust;

pub(crate) fn number(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// What the AUC separates: "injured vs healthy" for the ACL, the two classes of a binary
/// finding ("meniscal tear vs no meniscal tear").
fn positive_vs_negative(classes: &[String]) -> String {
    match classes {
        [negative, positive] => format!("{positive} vs {negative}"),
        _ => "injured vs healthy".into(),
    }
}

fn class_row(name: &str, c: &PerClass) -> Vec<String> {
    vec![
        name.to_string(),
        format!("{:.3}", c.precision),
        format!("{:.3}", c.recall),
        format!("{:.3}", c.f1),
        c.support.to_string(),
    ]
}

fn tables(e: &Evaluation) -> Vec<Table> {
    let r = &e.report;
    let m = &r.metrics;
    let mut per_class: Vec<Vec<String>> = r
        .classes
        .iter()
        .zip(&r.per_class)
        .map(|(n, c)| class_row(n, c))
        .collect();
    for (name, avg) in [
        ("macro avg", &r.macro_avg),
        ("weighted avg", &r.weighted_avg),
    ] {
        if let Some(c) = avg {
            per_class.push(class_row(name, c));
        }
    }
    let ci = r
        .auc
        .ci
        .map_or("n/a".into(), |[a, b]| format!("{a:.3} - {b:.3}"));
    let mut confusion_header = vec!["actual \\ called".to_string()];
    confusion_header.extend(r.classes.iter().cloned());
    let mut out = vec![
        Table {
            heading: "Per class".into(),
            header: ["class", "precision", "recall", "F1", "support"]
                .map(String::from)
                .to_vec(),
            rows: per_class,
        },
        Table {
            heading: "Summary".into(),
            header: vec!["metric".into(), "value".into()],
            rows: vec![
                vec!["exams".into(), r.exams.to_string()],
                vec!["accuracy".into(), number(r.accuracy)],
                vec!["balanced accuracy".into(), number(m.balanced_accuracy)],
                vec![
                    format!("AUC {} (95 % CI)", positive_vs_negative(&r.classes)),
                    format!("{} ({ci})", number(r.auc.value)),
                ],
                vec!["AUC one-vs-rest macro".into(), number(m.auc_ovr_macro)],
                vec!["PR AUC".into(), number(m.pr_auc)],
                vec![
                    format!("sensitivity / specificity at {}", r.threshold),
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
                vec!["log loss".into(), number(m.log_loss)],
                vec!["Brier score".into(), number(m.brier)],
                vec!["expected calibration error".into(), number(m.ece)],
            ],
        },
        Table {
            heading: "Confusion matrix".into(),
            header: confusion_header,
            rows: r
                .confusion_matrix
                .iter()
                .zip(&r.classes)
                .map(|(row, n)| {
                    std::iter::once(n.clone())
                        .chain(row.iter().map(|v| v.to_string()))
                        .collect()
                })
                .collect(),
        },
    ];
    if let Some(method) = &r.explanation_method {
        out.push(Table {
            heading: format!("Where the explanations ({method}) look: the ACL box"),
            header: [
                "true class",
                "exams with a box",
                "heat inside the box",
                "pointing-game hits",
            ]
            .map(String::from)
            .to_vec(),
            rows: r
                .cam_in_roi
                .iter()
                .map(|f| {
                    vec![
                        f.class.clone(),
                        f.exams.to_string(),
                        number(f.energy_share),
                        number(f.pointing_hit_rate),
                    ]
                })
                .collect(),
        });
    }
    out.extend(trust::tables(r));
    out
}

fn figures(e: &Evaluation) -> Result<Vec<Figure>, EvalError> {
    let (probs, actual) = (e.points.probabilities(), e.points.actual());
    let injured: Vec<bool> = actual.iter().map(|&a| a > 0).collect();
    let score: Vec<f64> = probs.iter().map(|p| 1.0 - p[0]).collect();
    let roc: Vec<(f64, f64)> = roc_curve(&score, &injured)
        .iter()
        .map(|&(x, y, _)| (x, y))
        .collect();
    // Without both healthy and injured exams there are no curves (the notes say why).
    let mut out = Vec::new();
    if injured.contains(&true) && injured.contains(&false) {
        out.push(Figure {
            caption: format!("ROC, {}", positive_vs_negative(&e.report.classes)),
            svg: line_chart(
                "ROC",
                &Axes::unit("false positive rate", "true positive rate"),
                &[Series::new("model", roc)],
                true,
            )?,
        });
        out.push(Figure {
            caption: "Precision-recall, injured".into(),
            svg: line_chart(
                "Precision-recall",
                &Axes::unit("recall", "precision"),
                &[Series::new("model", pr_curve(&score, &injured))],
                false,
            )?,
        });
    }
    out.extend([Figure {
        caption: "Calibration (top class, 10 bins)".into(),
        svg: line_chart(
            "Calibration",
            &Axes::unit("confidence", "accuracy"),
            &trust::reliability_series(e, reliability(probs, actual, 10)),
            true,
        )?,
    }]);
    if !e.history.is_empty() {
        out.extend(learning_curves(&e.history)?);
    }
    Ok(out)
}

fn learning_curves(history: &[EpochRecord]) -> Result<Vec<Figure>, EvalError> {
    let epochs = (history.len().max(2)) as f64;
    let curve = |name: &str, get: &dyn Fn(&EpochRecord) -> Option<f64>| {
        Series::new(
            name,
            history
                .iter()
                .filter_map(|r| Some((r.epoch as f64, get(r)?)))
                .collect(),
        )
    };
    let top_loss = history
        .iter()
        .flat_map(|r| [r.train_loss, r.valid_loss])
        .filter(|v| v.is_finite())
        .fold(0.1, f64::max);
    Ok(vec![
        Figure {
            caption: "Loss per epoch".into(),
            svg: line_chart(
                "Loss",
                &Axes {
                    x_label: "epoch".into(),
                    y_label: "loss".into(),
                    x_range: (1.0, epochs),
                    y_range: (0.0, top_loss * 1.05),
                },
                &[
                    curve("train", &|r| Some(r.train_loss)),
                    curve("valid", &|r| Some(r.valid_loss)),
                ],
                false,
            )?,
        },
        Figure {
            caption: "Accuracy and validation AUC per epoch".into(),
            svg: line_chart(
                "Accuracy and AUC",
                &Axes {
                    x_label: "epoch".into(),
                    y_label: String::new(),
                    x_range: (1.0, epochs),
                    y_range: (0.0, 1.0),
                },
                &[
                    curve("train accuracy", &|r| r.train_accuracy),
                    curve("valid accuracy", &|r| Some(r.valid_accuracy)),
                    curve("valid AUC", &|r| r.valid_auc),
                ],
                false,
            )?,
        },
    ])
}

/// The page of an evaluation.
pub fn page(e: &Evaluation) -> Result<Page, EvalError> {
    let r = &e.report;
    let mut notes = vec![
        format!("Run {}.", r.run),
        cruciate_infer::run::model_notice(r.synthetic_model).to_string(),
    ];
    notes.push(if r.synthetic_data {
        "Figures on synthetic phantoms are synthetic and say nothing about clinical performance."
            .into()
    } else {
        "Figures on the exams of this manifest, for research: they say how the model did on \
         these exams, not how it would do on another site's."
            .into()
    });
    notes.extend(r.warnings.iter().cloned());
    let images = e
        .errors
        .iter()
        .map(|err| {
            let png = match &err.picture {
                Some(p) => p.to_png().map_err(|source| EvalError::Io {
                    path: "report.html".into(),
                    source,
                })?,
                None => Vec::new(),
            };
            Ok(Image {
                caption: err.caption.clone(),
                png,
            })
        })
        .filter(|i: &Result<Image, EvalError>| i.as_ref().map_or(true, |i| !i.png.is_empty()))
        .collect::<Result<Vec<_>, EvalError>>()?;
    Ok(Page {
        title: format!("Cruciate evaluation: {} on the {} split", r.model, r.split),
        notes,
        tables: tables(e),
        figures: figures(e)?,
        images_heading: "Most confident errors".into(),
        images,
    })
}

impl Evaluation {
    /// Writes `report.json`, `report.html` and `predictions.csv` (one row per exam: its id, true
    /// class, call, and the probability of each class) into `out`.
    pub fn write(&self, out: &Path) -> Result<(), EvalError> {
        std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
        let html = page(self)?.to_html();
        let json = serde_json::to_string_pretty(&self.report).expect("report serialises");
        for (name, body) in [("report.json", json), ("report.html", html)] {
            let path = out.join(name);
            cruciate_volume::atomic::write_atomically(&path, |w| w.write_all(body.as_bytes()))
                .map_err(|e| EvalError::io(&path, e))?;
        }
        let path = out.join("predictions.csv");
        cruciate_volume::atomic::write_atomically(&path, |w| {
            let mut csv = csv::Writer::from_writer(w);
            let mut header = vec!["exam_id".to_string(), "class".into(), "predicted".into()];
            header.extend(self.report.classes.iter().map(|c| format!("p_{c}")));
            csv.write_record(&header).map_err(std::io::Error::other)?;
            for s in &self.scored {
                let mut row = vec![
                    s.exam_id.clone(),
                    s.class.to_string(),
                    s.prediction.class.to_string(),
                ];
                row.extend(s.prediction.probabilities.iter().map(|p| p.to_string()));
                csv.write_record(&row).map_err(std::io::Error::other)?;
            }
            csv.flush()
        })
        .map_err(|e| EvalError::io(&path, e))
    }
}
