//! Models side by side: each scored on the same manifest split, one table (Markdown and HTML)
//! with the settings that tell them apart, sorted by a chosen figure.

use cruciate_data::{Manifest, Split};
use cruciate_infer::{Classifier, Progress};
use serde::Serialize;

use crate::EvalError;
use crate::metrics::Cumulative;
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
}

/// Scores every named model on `split` of `manifest`, best first by `sort`.
pub fn compare(
    models: &[(String, &dyn Classifier)],
    manifest: &Manifest,
    split: Split,
    sort: SortBy,
    progress: &dyn Progress,
) -> Result<Vec<CompareRow>, EvalError> {
    let mut rows = Vec::with_capacity(models.len());
    for (name, classifier) in models {
        let info = classifier.info();
        let scored = score_split(*classifier, manifest, split, progress)?;
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
