//! Models side by side: each scored on the same manifest split, one table (Markdown and HTML)
//! with the settings that tell them apart, sorted by a chosen figure.

use std::time::Instant;

use cruciate_data::{Manifest, Split, read_exam};
use cruciate_infer::{Classifier, ExplainRequest, Progress};
use serde::Serialize;

use crate::EvalError;
use crate::metrics::{Cumulative, heat_in_box};
use crate::report::Table;
use crate::scoring::score_split;

/// The figure models are sorted by (best first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Injured-vs-healthy ROC AUC.
    Auc,
    /// Accuracy.
    Accuracy,
    /// Support-weighted F1.
    WeightedF1,
}

impl std::str::FromStr for SortBy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auc" => Ok(SortBy::Auc),
            "accuracy" => Ok(SortBy::Accuracy),
            "f1" => Ok(SortBy::WeightedF1),
            other => Err(format!("unknown sort key {other:?} (auc, accuracy or f1)")),
        }
    }
}

/// One model in the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// The run folder (or another name for the model).
    pub run: String,
    /// Model name.
    pub model: String,
    /// Run kind.
    pub kind: String,
    /// Training mode, when the kind has one.
    pub mode: String,
    /// Task.
    pub task: String,
    /// The model's settings in one line.
    pub settings: String,
    /// Epoch whose weights were scored, for models trained by epochs.
    pub epoch: Option<usize>,
    /// True when the model was trained on synthetic data.
    pub synthetic_model: bool,
    /// Exams scored.
    pub exams: usize,
    /// Accuracy.
    pub accuracy: Option<f64>,
    /// Weighted F1.
    pub weighted_f1: Option<f64>,
    /// AUC.
    pub auc: Option<f64>,
    /// Its bootstrap 95 % interval.
    pub auc_ci: Option<[f64; 2]>,
    /// Seconds per exam, reading it included (the same reading for every model).
    pub seconds_per_exam: f64,
    /// The mean share of the explanation's heat inside the true ACL box, over the injured
    /// exams explained.
    pub heat_in_box: Option<f64>,
    /// Injured exams with a box that were explained.
    pub explained: usize,
}

/// The mean share of `classifier`'s explanation heat inside the true box over the first
/// `limit` injured exams of `split` that have one, and how many were explained. Whatever the
/// model saw nothing of (a cascade's region missing the box) counts as no heat in the box.
fn heat_share(
    classifier: &dyn Classifier,
    manifest: &Manifest,
    split: Split,
    limit: usize,
) -> Result<(Option<f64>, usize), EvalError> {
    let task = classifier.task();
    let mut shares = Vec::new();
    for row in manifest.split(split).filter(|r| task.class_of(r.label) > 0) {
        if shares.len() == limit {
            break;
        }
        let exam = read_exam(manifest, row)?;
        let Some(truth) = exam.roi else { continue };
        let e = classifier
            .explain(&exam, &ExplainRequest::default())
            .map_err(|source| EvalError::OnExam {
                exam_id: row.exam_id.clone(),
                source,
            })?;
        let share = heat_in_box(&e.heat.values, e.heat.shape, truth).map_or(0.0, |h| h.share);
        shares.push(share);
    }
    let n = shares.len();
    Ok(((n > 0).then(|| shares.iter().sum::<f64>() / n as f64), n))
}

/// Scores every named model on `split` of `manifest`, best first by `sort`; with `explain`
/// above 0, also where each model's explanations of up to that many injured exams lie.
pub fn compare(
    models: &[(String, &dyn Classifier)],
    manifest: &Manifest,
    (split, sort, explain): (Split, SortBy, usize),
    progress: &dyn Progress,
) -> Result<Vec<CompareRow>, EvalError> {
    let mut rows = Vec::with_capacity(models.len());
    for (name, classifier) in models {
        let info = classifier.info();
        let start = Instant::now();
        let scored = score_split(*classifier, manifest, split, progress)?;
        let seconds_per_exam = start.elapsed().as_secs_f64() / scored.len().max(1) as f64;
        let (heat_in_box, explained) = if explain > 0 {
            heat_share(*classifier, manifest, split, explain)?
        } else {
            (None, 0)
        };
        let mut cumulative = Cumulative::new(info.classes.len());
        for s in &scored {
            cumulative.push(s.prediction.probabilities.clone(), s.class);
        }
        let s = cumulative.summary(0.5, 1000, 0);
        rows.push(CompareRow {
            run: name.clone(),
            model: info.model.name.clone(),
            kind: info.kind.clone(),
            mode: info.model.mode.clone().unwrap_or_else(|| "-".into()),
            task: info.task.to_string(),
            settings: info.model.description.clone(),
            epoch: info.model.epoch,
            synthetic_model: info.synthetic(),
            exams: scored.len(),
            accuracy: s.accuracy,
            weighted_f1: s.report.as_ref().map(|r| r.weighted_avg.f1),
            auc: s.auc,
            auc_ci: s.auc_ci,
            seconds_per_exam,
            heat_in_box,
            explained,
        });
    }
    let key = |r: &CompareRow| {
        match sort {
            SortBy::Auc => r.auc,
            SortBy::Accuracy => r.accuracy,
            SortBy::WeightedF1 => r.weighted_f1,
        }
        .unwrap_or(f64::NEG_INFINITY)
    };
    // Stable: models with equal figures keep the order they were given in.
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    Ok(rows)
}

/// The comparison as a table.
pub fn table(rows: &[CompareRow]) -> Table {
    let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
    let header = [
        "run",
        "model",
        "mode",
        "task",
        "settings",
        "epoch",
        "exams",
        "accuracy",
        "weighted F1",
        "AUC (95% CI)",
        "heat in the ACL box (injured exams)",
        "s / exam",
    ]
    .map(String::from)
    .to_vec();
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.run.clone(),
                if r.synthetic_model {
                    format!("{} (synthetic data)", r.model)
                } else {
                    r.model.clone()
                },
                r.mode.clone(),
                r.task.clone(),
                r.settings.clone(),
                r.epoch.map_or("-".into(), |e| e.to_string()),
                r.exams.to_string(),
                f(r.accuracy),
                f(r.weighted_f1),
                format!(
                    "{}{}",
                    f(r.auc),
                    r.auc_ci
                        .map_or(String::new(), |[a, b]| format!(" ({a:.3}-{b:.3})"))
                ),
                r.heat_in_box
                    .map_or("-".into(), |h| format!("{h:.3} ({} exams)", r.explained)),
                format!("{:.3}", r.seconds_per_exam),
            ]
        })
        .collect();
    Table {
        heading: "Models".into(),
        header,
        rows: cells,
    }
}

/// The table as Markdown.
pub fn to_markdown(table: &Table) -> String {
    let line = |c: &[String]| {
        format!(
            "| {} |\n",
            c.iter()
                .map(|s| s.replace('|', "\\|"))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = line(&table.header);
    out += &format!("|{}\n", "---|".repeat(table.header.len()));
    for row in &table.rows {
        out += &line(row);
    }
    out
}
